"""The Messages door on an Anthropic-kind upstream, through the real gateway: the client's body
goes up as it was sent (unknown fields, cache_control, thinking, betas kept) and the answer
comes back as Anthropic wrote it, through the `anthropic` SDK; usage and cost, cache reads and
writes included, are logged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.doors.conftest import KEY_A, start
from tests.doors.conftest import cost as priced
from tests.fakes.anthropic_server import FakeAnthropic, error_body, sse
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged

MODEL = "claude"
UPSTREAM = "claude-sonnet-4-5"
# litellm's prices for UPSTREAM (none configured): cache reads and writes have their own
CLAUDE = {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0,
          "cached_input_usd_per_mtok": 0.3, "cache_write_usd_per_mtok": 3.75}
SYSTEM = [{"type": "text", "text": "You are a careful coder.",
           "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "Plan it.",
                                  "cache_control": {"type": "ephemeral"}}]},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig-abc"},
        {"type": "text", "text": "Step one."}]},
    {"role": "user", "content": "Go on."},
]
X = [{"role": "user", "content": "x"}]


@pytest.fixture(scope="module")
def server(fake_anthropic: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[GatewayServer]:
    provider = {"kind": "anthropic", "base_url": fake_anthropic.base_url, "api_key": "sk-ant-up",
                "headers": {"anthropic-beta": "configured-beta"}}
    gw = start(tmp_path_factory.mktemp("native"), {"anthropic": provider},
               [{"id": MODEL, "provider": "anthropic", "upstream": UPSTREAM, "aliases": ["sonnet"],
                 "capabilities": ["tools", "vision", "json", "streaming"]}])
    yield gw
    gw.__exit__(None, None, None)


@pytest.fixture
def client(server: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=KEY_A, max_retries=0)


def cost(prompt: int, completion: int, cached: int = 0, written: int = 0) -> float:
    return priced(prompt, completion, cached, written, price=CLAUDE)


def frames(server: GatewayServer, body: dict[str, Any], **headers: str
           ) -> tuple[httpx.Headers, bytes]:
    with httpx.stream("POST", server.url + "/v1/messages", json=body, timeout=10,
                      headers={"x-api-key": KEY_A, **headers}) as r:
        assert r.status_code == 200
        return r.headers, r.read()


def test_body_and_betas_go_up_as_sent(client: anthropic.Anthropic, server: GatewayServer,
                                      fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(content="Step two.", prompt_tokens=1000, cached_tokens=600,
                                 cache_write_tokens=300, completion_tokens=9))
    raw = client.messages.with_raw_response.create(
        model="auto", max_tokens=2048, system=SYSTEM, messages=HISTORY,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
        extra_body={"context_management": {"edits": []}, "routing": {"task": "code"}},
    )
    message = raw.parse()
    sent, headers = fake_anthropic.requests[-1], fake_anthropic.headers[-1]
    assert sent["model"] == UPSTREAM and "routing" not in sent
    assert sent["system"] == SYSTEM and sent["messages"] == HISTORY
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["context_management"] == {"edits": []} and "stream" not in sent
    assert headers["anthropic-beta"] == "configured-beta,interleaved-thinking-2025-05-14"
    assert headers["x-api-key"] == "sk-ant-up" and headers["anthropic-version"]
    # the answer as Anthropic wrote it, but for the model, which is the gateway's id
    assert message.model == MODEL and message.id == "msg_fake01"
    assert message.content[0].text == "Step two."  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.cache_creation_input_tokens) == (100, 600, 300)
    # what the log prices: the whole prompt, cache reads and writes at their own rates
    row = logged(server, raw.headers["x-request-id"])
    assert (row["endpoint"], row["task"], row["model"], row["provider"]) == (
        "messages", "code", MODEL, "anthropic")  # the routing option reached the router
    assert (row["prompt_tokens"], row["completion_tokens"]) == (1000, 9)
    assert row["cost_usd"] == cost(1000, 9, cached=600, written=300)
    assert float(raw.headers["x-gateway-cost-usd"]) == row["cost_usd"]
    usage = orjson.loads(row["usage_json"])
    assert usage["prompt_tokens_details"] == {"cached_tokens": 600, "cache_write_tokens": 300}


def test_stream_is_relayed_unchanged(server: GatewayServer, fake_anthropic: FakeAnthropic) -> None:
    reply = Reply(content="alpha beta", prompt_tokens=50, cached_tokens=20, cache_write_tokens=5,
                  completion_tokens=2)
    fake_anthropic.enqueue(reply)
    body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": HISTORY}
    headers, raw = frames(server, body, **{"anthropic-version": "2023-06-01"})
    expected = fake_anthropic.events({"model": UPSTREAM}, reply)
    expected[0]["message"]["model"] = MODEL
    assert raw == b"".join(sse(e) for e in expected)
    assert fake_anthropic.requests[-1]["stream"] is True
    row = logged(server, headers["x-request-id"])
    assert (row["prompt_tokens"], row["completion_tokens"], row["stream"]) == (50, 2, 1)
    assert row["cost_usd"] == cost(50, 2, cached=20, written=5)


def test_stream_through_the_sdk(client: anthropic.Anthropic,
                                fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(tool_calls=[{"id": "toolu_1", "name": "run",
                                              "arguments": '{"cmd": "ls"}'}]))
    tool = {"name": "run", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    with client.messages.stream(model="sonnet", max_tokens=64, tools=[tool],  # type: ignore[list-item]
                                messages=[{"role": "user", "content": "list"}]) as stream:
        final = stream.get_final_message()
    assert final.model == MODEL and final.stop_reason == "tool_use"  # an alias names it
    assert final.content[0].input == {"cmd": "ls"}  # type: ignore[union-attr]
    assert fake_anthropic.requests[-1]["tools"] == [tool]


def test_thinking_streams_through(client: anthropic.Anthropic, server: GatewayServer,
                                  fake_anthropic: FakeAnthropic) -> None:
    """Extended thinking, as Claude Code asks for it: the thinking block and its signature reach
    the SDK as Anthropic sent them, before the text."""
    start_message = {"id": "msg_t", "type": "message", "role": "assistant", "model": UPSTREAM,
                     "content": [], "stop_reason": None, "stop_sequence": None,
                     "usage": {"input_tokens": 40, "output_tokens": 1}}
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": start_message},
        {"type": "content_block_start", "index": 0,
         "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "The user wants "}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": "a haiku."}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1,
         "delta": {"type": "text_delta", "text": "Autumn moon."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]
    fake_anthropic.enqueue(Reply(raw=b"".join(sse(e) for e in events)))
    with client.messages.stream(
            model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "a haiku"}]) as stream:
        request_id = stream.response.headers["x-request-id"]
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking == "The user wants a haiku."
    assert thinking.signature == "EqQBCgIYAhIM"
    assert text.type == "text" and text.text == "Autumn moon."
    assert fake_anthropic.requests[-1]["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    row = logged(server, request_id)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (40, 30)
    assert row["cost_usd"] == cost(40, 30)


def test_error_event_mid_stream(client: anthropic.Anthropic, server: GatewayServer,
                                fake_anthropic: FakeAnthropic) -> None:
    events = fake_anthropic.events({"model": UPSTREAM}, Reply(content="a b"))[:3]
    raw = b"".join(sse(e) for e in events) + sse(error_body(529, "Overloaded"))
    fake_anthropic.enqueue(Reply(raw=raw), Reply(status=529), Reply(status=529))  # nor the rest
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=8, messages=X) as stream:
            request_id = stream.response.headers["x-request-id"]
            stream.get_final_message()
    body: Any = info.value.body
    assert body["type"] == "error" and "Overloaded" in body["error"]["message"]
    row = logged(server, request_id)
    assert row["status"] == "error" and "Overloaded" in row["error"]


def test_a_dated_snapshot_name_is_the_model_it_dates(client: anthropic.Anthropic,
                                                     server: GatewayServer,
                                                     fake_anthropic: FakeAnthropic) -> None:
    # as Claude Code asks: claude-sonnet-4-5-20250929 for a configured claude-sonnet-4-5
    fake_anthropic.enqueue(Reply(content="Dated."))
    raw = client.messages.with_raw_response.create(model="sonnet-20250929", max_tokens=8,
                                                   messages=X)
    assert raw.parse().model == MODEL
    assert fake_anthropic.requests[-1]["model"] == UPSTREAM
    row = logged(server, raw.headers["x-request-id"])
    assert (row["requested_model"], row["model"]) == ("sonnet-20250929", MODEL)
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="opus-20250929", max_tokens=8, messages=X)


def test_cut_stream_is_resumed_as_one_message(client: anthropic.Anthropic, server: GatewayServer,
                                              fake_anthropic: FakeAnthropic) -> None:
    # message_start, block start, ping, then "The quick brown fox jumps" and the cut
    fake_anthropic.enqueue(Reply(content="The quick brown fox jumps high", cut_after=8),
                           Reply(content=" over the lazy dog, who never even looked up.",
                                 prompt_tokens=40, completion_tokens=11))
    with client.messages.stream(model=MODEL, max_tokens=300, messages=X) as stream:
        request_id = stream.response.headers["x-request-id"]
        kinds = [e.type for e in stream]
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text"]
    assert final.content[0].text == (  # type: ignore[union-attr]
        "The quick brown fox jumps over the lazy dog, who never even looked up.")
    assert final.id == "msg_fake01" and final.stop_reason == "end_turn"
    assert kinds.count("message_start") == 1 and kinds.count("message_stop") == 1
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    continued = fake_anthropic.requests[-1]
    assert continued["messages"][-1] == {"role": "assistant", "content": "The quick brown fox jumps"}
    assert continued["messages"][:-1] == X and continued["max_tokens"] < 300
    row = logged(server, request_id)
    assert (row["status"], row["resumed"], row["attempts"]) == ("success", 1, 2)
    first, second = row["attempts_rows"]
    assert first["status"] == "error" and first["cost_usd"] > 0  # billed for what it delivered
    assert second["status"] == "success"
    assert final.usage.output_tokens == row["completion_tokens"] > 11  # the sum of both calls
    assert row["cost_usd"] == pytest.approx(first["cost_usd"] + second["cost_usd"])


def test_cut_stream_with_thinking_on_is_resumed_as_a_turn(
        client: anthropic.Anthropic, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(content="Paris is the capital of France and", cut_after=7),
                           Reply(content="Paris is the capital of France and its largest city."))
    with client.messages.stream(model=MODEL, max_tokens=2048, messages=X,
                                thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        final = stream.get_final_message()
    # the continuation repeated what was sent: only the rest reaches the client
    assert final.content[0].text == (  # type: ignore[union-attr]
        "Paris is the capital of France and its largest city.")
    continued = fake_anthropic.requests[-1]["messages"]
    assert continued[-2] == {"role": "assistant", "content": "Paris is the capital"}
    assert continued[-1]["role"] == "user" and "continue" in continued[-1]["content"].lower()


def test_cut_tool_call_ends_with_an_error_event(server: GatewayServer,
                                                fake_anthropic: FakeAnthropic) -> None:
    call = {"id": "toolu_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
    fake_anthropic.enqueue(Reply(tool_calls=[call], cut_after=4))
    hits = fake_anthropic.hits
    body = {"model": MODEL, "max_tokens": 8, "stream": True, "messages": X}
    _, raw = frames(server, body)
    last = [f for f in raw.split(b"\n\n") if f][-1]
    name, data = last.split(b"\n")
    assert name == b"event: error"  # a fragment of the call was sent: nothing to continue
    assert orjson.loads(data.removeprefix(b"data: "))["error"]["type"] == "api_error"
    assert fake_anthropic.hits == hits + 1


def test_upstream_refusal_keeps_anthropic_shape(client: anthropic.Anthropic, server: GatewayServer,
                                                fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(status=400, error=error_body(400, "prompt is too long")))
    hits = fake_anthropic.hits
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=8, messages=X)
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "prompt is too long" in body["error"]["message"]
    assert fake_anthropic.hits == hits + 1  # a refusal is not retried
    assert info.value.response.headers["x-should-retry"] == "false"
    assert logged(server, info.value.response.headers["x-request-id"])["http_status"] == 400


def test_overloaded_is_retried(client: anthropic.Anthropic, server: GatewayServer,
                               fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(status=529), Reply(content="second try"))
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=8, messages=X)
    assert raw.parse().content[0].text == "second try"  # type: ignore[union-attr]
    assert raw.headers["x-gateway-attempts"] == "2"
    row = logged(server, raw.headers["x-request-id"])
    assert [a["http_status"] for a in row["attempts_rows"]] == [529, 200]


def test_stream_without_message_stop_is_cut(server: GatewayServer,
                                            fake_anthropic: FakeAnthropic) -> None:
    events = fake_anthropic.events({"model": UPSTREAM}, Reply(content="a b"))[:-1]
    fake_anthropic.enqueue(Reply(raw=b"".join(sse(e) for e in events)), Reply(status=529),
                           Reply(status=529))
    body = {"model": MODEL, "max_tokens": 8, "stream": True, "messages": X}
    _, raw = frames(server, body)
    last = [f for f in raw.split(b"\n\n") if f][-1]
    assert last.startswith(b"event: error\n")
    assert b"before message_stop" in last


def test_count_tokens_asks_no_upstream(client: anthropic.Anthropic,
                                       fake_anthropic: FakeAnthropic) -> None:
    hits = fake_anthropic.hits
    counted = client.messages.count_tokens(model=MODEL, system=SYSTEM,  # type: ignore[arg-type]
                                           messages=HISTORY)
    assert counted.input_tokens > 0 and fake_anthropic.hits == hits
