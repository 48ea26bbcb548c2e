"""The Messages door across kinds of upstream, through the real gateway: an Anthropic-kind model
that fails falls back to an OpenAI-kind one (the body translated, the answer rendered back)
and the other way round (the client's own body, relayed as Anthropic wrote the answer); a
stream falls back while nothing has reached the client; after that, a native stream is continued
in Anthropic's own events or ends with Anthropic's error event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.doors.conftest import KEY_A, cost, openai_model, start
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged

SYSTEM = [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}]
ASK = [{"role": "user", "content": [{"type": "text", "text": "Name a colour.",
                                     "cache_control": {"type": "ephemeral"}}]}]
CLAUDE_PRICE = {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, fake_anthropic: FakeAnthropic,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """`claude` (Anthropic-kind) falls back to `gpt` (OpenAI-kind), and `gpt` to `claude`."""
    gw = start(tmp_path_factory.mktemp("failover"), {
        "oa": {"kind": "openai", "base_url": fake.url, "api_key": "sk-oa"},
        "an": {"kind": "anthropic", "base_url": fake_anthropic.base_url, "api_key": "sk-an"},
    }, [
        {"id": "claude", "provider": "an", "upstream": "claude-sonnet-4-5", **CLAUDE_PRICE,
         "capabilities": ["tools", "vision", "json", "streaming"], "fallbacks": ["gpt"]},
        openai_model("gpt", "oa", fallbacks=["claude"]),
    ])
    yield gw
    gw.__exit__(None, None, None)


@pytest.fixture
def client(server: GatewayServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=KEY_A, max_retries=0)


def attempts(row: dict[str, Any]) -> list[tuple[str, str, int | None]]:
    return [(a["model"], a["status"], a["http_status"]) for a in row["attempts_rows"]]


def test_anthropic_kind_falls_back_to_openai_kind(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(status=529), Reply(status=529))
    fake.enqueue(Reply(content="Blue.", prompt_tokens=20, completion_tokens=2))
    raw = client.messages.with_raw_response.create(model="claude", max_tokens=30, system=SYSTEM,
                                                   messages=ASK)  # type: ignore[arg-type]
    message = raw.parse()
    assert message.model == "gpt" and message.content[0].text == "Blue."  # type: ignore[union-attr]
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (20, 2)
    assert fake_anthropic.requests[-1]["system"] == SYSTEM  # the native body, twice
    assert fake.requests[-1]["messages"] == [{"role": "system", "content": "You are terse."},
                                             {"role": "user", "content": "Name a colour."}]
    assert (raw.headers["x-gateway-model"], raw.headers["x-gateway-attempts"]) == ("gpt", "3")
    row = logged(server, raw.headers["x-request-id"])
    assert attempts(row) == [("claude", "error", 529), ("claude", "error", 529),
                             ("gpt", "success", 200)]
    assert (row["model"], row["provider"], row["cost_usd"]) == ("gpt", "oa", cost(20, 2))


def test_openai_kind_falls_back_to_anthropic_kind(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    fake.enqueue(Reply(status=503), Reply(status=503))
    fake_anthropic.enqueue(Reply(content="Green.", prompt_tokens=18, completion_tokens=2))
    raw = client.messages.with_raw_response.create(
        model="gpt", max_tokens=30, system=SYSTEM, messages=ASK,  # type: ignore[arg-type]
        extra_headers={"anthropic-beta": "prompt-caching-2024-07-31"})
    message = raw.parse()
    assert message.model == "claude" and message.id == "msg_fake01"  # as Anthropic wrote it
    assert message.content[0].text == "Green."  # type: ignore[union-attr]
    sent = fake_anthropic.requests[-1]
    assert sent["system"] == SYSTEM and sent["messages"] == ASK  # cache_control kept
    assert fake_anthropic.headers[-1]["anthropic-beta"] == "prompt-caching-2024-07-31"
    row = logged(server, raw.headers["x-request-id"])
    assert attempts(row) == [("gpt", "error", 503), ("gpt", "error", 503),
                             ("claude", "success", 200)]
    assert row["cost_usd"] == cost(18, 2, price=CLAUDE_PRICE)


def test_stream_falls_back_before_its_first_byte(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(status=529), Reply(status=500))
    fake.enqueue(Reply(content="Red and gold", prompt_tokens=21, completion_tokens=3))
    with client.messages.stream(model="claude", max_tokens=30, system=SYSTEM,  # type: ignore[arg-type]
                                messages=ASK) as stream:
        request_id = stream.response.headers["x-request-id"]
        assert stream.response.headers["x-gateway-model"] == "gpt"
        final = stream.get_final_message()
    assert final.model == "gpt" and final.content[0].text == "Red and gold"  # type: ignore[union-attr]
    assert (final.usage.input_tokens, final.usage.output_tokens) == (21, 3)
    row = logged(server, request_id)
    assert attempts(row) == [("claude", "error", 529), ("claude", "error", 500),
                             ("gpt", "success", 200)]
    assert (row["status"], row["cost_usd"]) == ("success", cost(21, 3))

    fake.enqueue(Reply(status=503), Reply(status=503))
    fake_anthropic.enqueue(Reply(content="Violet", prompt_tokens=30, completion_tokens=1))
    with client.messages.stream(model="gpt", max_tokens=30, messages=ASK) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.model == "claude" and final.content[0].text == "Violet"  # type: ignore[union-attr]
    assert final.usage.input_tokens == 30


def test_a_cut_native_stream_is_continued_in_its_own_events_only(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    """Anthropic's own events are continued by an Anthropic-kind call (here the same model,
    retried), never by the OpenAI-kind fallback, whose chat chunks could not be spliced in."""
    fake_anthropic.enqueue(Reply(content="Red and then", cut_after=5),
                           Reply(content=" green, then blue."))
    hits = fake.hits
    with client.messages.stream(model="claude", max_tokens=30, messages=ASK  # type: ignore[arg-type]
                                ) as stream:
        request_id = stream.response.headers["x-request-id"]
        final = stream.get_final_message()
    assert final.content[0].text == "Red and green, then blue."  # type: ignore[union-attr]
    row = logged(server, request_id)
    assert (row["status"], row["resumed"], attempts(row)) == (
        "success", 1, [("claude", "error", None), ("claude", "success", 200)])
    assert fake.hits == hits


def test_stream_failing_after_its_first_byte_ends_with_an_error_event(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    """When no Anthropic-kind call can give the rest, the cut is the end."""
    fake_anthropic.enqueue(Reply(content="a b c d e", cut_after=4), Reply(status=529),
                           Reply(status=529))
    hits = fake.hits
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model="claude", max_tokens=30, messages=ASK  # type: ignore[arg-type]
                                    ) as stream:
            request_id = stream.response.headers["x-request-id"]
            stream.get_final_message()
    assert info.value.body["type"] == "error"  # type: ignore[index]
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert fake.hits == hits
    row = logged(server, request_id)
    assert (row["status"], row["model"]) == ("error", "claude")


def test_a_cut_openai_stream_is_not_continued_by_anthropic_events(
        client: anthropic.Anthropic, server: GatewayServer, fake: FakeOpenAI,
        fake_anthropic: FakeAnthropic) -> None:
    """A translated stream cut halfway is continued by a model that answers in chat chunks;
    the Anthropic-kind fallback, which would answer the native body in its own events, is
    not one, so the stream ends with Anthropic's error event and stays parseable."""
    fake.enqueue(Reply(content="one two three four", cut_after=3), Reply(status=503),
                 Reply(status=503))
    hits = fake_anthropic.hits
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model="gpt", max_tokens=30, messages=ASK  # type: ignore[arg-type]
                                    ) as stream:
            stream.get_final_message()
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert fake_anthropic.hits == hits


def test_a_tool_turn_the_fallback_answered_goes_back_to_claude_with_thinking(
        client: anthropic.Anthropic, fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    """Claude Code with thinking on: Claude is down, GPT answers the tool call, and the tool's
    result goes to Claude again. Anthropic refuses thinking on a tool turn that does not open
    with its thinking block, so that one request goes up without `thinking`; a turn Claude
    wrote itself keeps it."""
    bash = {"name": "Bash", "input_schema": {"type": "object",
                                             "properties": {"command": {"type": "string"}}}}
    think = {"type": "enabled", "budget_tokens": 1024}
    ask = {"role": "user", "content": "list the files"}
    fake_anthropic.enqueue(Reply(status=529), Reply(status=529))
    fake.enqueue(Reply(preamble="Listing.", tool_calls=[
        {"id": "call_1", "name": "Bash", "arguments": '{"command": "ls"}'}]))
    first = client.messages.create(model="claude", max_tokens=2048, thinking=think,  # type: ignore[arg-type]
                                   tools=[bash], messages=[ask])  # type: ignore[list-item]
    assert first.model == "gpt" and first.stop_reason == "tool_use"
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                           "content": "a.txt"}]}
    turn = {"role": "assistant", "content": [b.model_dump(exclude_none=True)
                                             for b in first.content]}
    fake_anthropic.enqueue(Reply(content="One file."))
    second = client.messages.create(model="claude", max_tokens=2048, thinking=think,  # type: ignore[arg-type]
                                    tools=[bash], messages=[ask, turn, result])  # type: ignore[list-item]
    assert second.model == "claude" and second.content[0].text == "One file."  # type: ignore[union-attr]
    assert "thinking" not in fake_anthropic.requests[-1]
    assert fake_anthropic.requests[-1]["messages"][1] == turn

    own = {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "ls will do.", "signature": "sig"},
        {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}}]}
    fake_anthropic.enqueue(Reply(content="Still one."))
    client.messages.create(model="claude", max_tokens=2048, thinking=think,  # type: ignore[arg-type]
                           tools=[bash], messages=[  # type: ignore[list-item]
                               ask, own, {"role": "user", "content": [
                                   {"type": "tool_result", "tool_use_id": "toolu_1",
                                    "content": "a.txt"}]}])
    assert fake_anthropic.requests[-1]["thinking"] == think
