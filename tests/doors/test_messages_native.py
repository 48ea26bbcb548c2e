"""The Messages door on an Anthropic-kind upstream: the client's body goes up as it was sent
(unknown fields, cache_control, thinking, betas kept) and the answer comes back as Anthropic
wrote it, through the `anthropic` SDK over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.doors.harness import MODEL, DoorServer
from tests.fakes.anthropic_server import FakeAnthropic, error_body, sse
from tests.fakes.server import Reply

UPSTREAM = "claude-sonnet-4-5"
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


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def door(fake: FakeAnthropic) -> Iterator[DoorServer]:
    provider = {"kind": "anthropic", "base_url": fake.base_url, "api_key": "sk-ant-up",
                "headers": {"anthropic-beta": "configured-beta"}}
    with DoorServer(provider, upstream=UPSTREAM) as server:
        yield server


@pytest.fixture
def client(door: DoorServer, fake: FakeAnthropic) -> anthropic.Anthropic:
    fake.queue.clear()
    return anthropic.Anthropic(base_url=door.url, api_key="gw-key", max_retries=0)


def test_body_and_betas_go_up_as_sent(client: anthropic.Anthropic, door: DoorServer,
                                      fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(content="Step two.", prompt_tokens=1000, cached_tokens=600,
                       cache_write_tokens=300, completion_tokens=9))
    message = client.messages.create(
        model="auto", max_tokens=2048, system=SYSTEM, messages=HISTORY,  # type: ignore[arg-type]
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
        extra_body={"context_management": {"edits": []}, "routing": {"task": "code"}},
    )
    sent, headers = fake.requests[-1], fake.headers[-1]
    assert sent["model"] == UPSTREAM and "routing" not in sent
    assert sent["system"] == SYSTEM and sent["messages"] == HISTORY
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert sent["context_management"] == {"edits": []} and "stream" not in sent
    assert headers["anthropic-beta"] == "configured-beta,interleaved-thinking-2025-05-14"
    assert headers["x-api-key"] == "sk-ant-up" and headers["anthropic-version"]
    assert door.requests[-1].routing == {"task": "code"}
    # the answer as Anthropic wrote it, but for the model, which is the gateway's id
    assert message.model == MODEL and message.id == "msg_fake01"
    assert message.content[0].text == "Step two."  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.cache_creation_input_tokens) == (100, 600, 300)
    usage = door.usages[-1]  # what the pipeline prices: the whole prompt, cache included
    assert (usage.prompt_tokens, usage.completion_tokens) == (1000, 9)
    assert usage.raw["prompt_tokens_details"] == {"cached_tokens": 600, "cache_write_tokens": 300}


def test_stream_is_relayed_unchanged(door: DoorServer, fake: FakeAnthropic) -> None:
    reply = Reply(content="alpha beta", prompt_tokens=50, cached_tokens=20, completion_tokens=2)
    fake.enqueue(reply)
    body = {"model": MODEL, "max_tokens": 64, "stream": True, "messages": HISTORY}
    with httpx.stream("POST", door.url + "/v1/messages", json=body,
                      headers={"anthropic-version": "2023-06-01"}, timeout=10) as r:
        raw = r.read()
    expected = fake.events({"model": UPSTREAM}, reply)
    expected[0]["message"]["model"] = MODEL
    assert raw == b"".join(sse(e) for e in expected)
    assert fake.requests[-1]["stream"] is True
    usage = door.usages[-1]
    assert (usage.prompt_tokens, usage.completion_tokens) == (50, 2)


def test_stream_through_the_sdk(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(tool_calls=[{"id": "toolu_1", "name": "run", "arguments": '{"cmd": "ls"}'}]))
    tool = {"name": "run", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    with client.messages.stream(model=MODEL, max_tokens=64, tools=[tool],  # type: ignore[list-item]
                                messages=[{"role": "user", "content": "list"}]) as stream:
        final = stream.get_final_message()
    assert final.model == MODEL and final.stop_reason == "tool_use"
    assert final.content[0].input == {"cmd": "ls"}  # type: ignore[union-attr]
    assert fake.requests[-1]["tools"] == [tool]


def test_error_event_mid_stream(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    events = fake.events({"model": UPSTREAM}, Reply(content="a b"))[:3]
    raw = b"".join(sse(e) for e in events) + sse(error_body(529, "Overloaded"))
    fake.enqueue(Reply(raw=raw))
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=8,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()
    body: Any = info.value.body
    assert body["type"] == "error" and "Overloaded" in body["error"]["message"]


def test_cut_stream_ends_with_an_error_event(door: DoorServer, fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(content="a b c d", cut_after=4))
    body = {"model": MODEL, "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", door.url + "/v1/messages", json=body, timeout=10) as r:
        frames = [f for f in r.read().split(b"\n\n") if f]
    name, data = frames[-1].split(b"\n")
    assert name == b"event: error"
    assert orjson.loads(data.removeprefix(b"data: "))["error"]["type"] == "api_error"


def test_upstream_refusal_keeps_anthropic_shape(client: anthropic.Anthropic,
                                                fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(status=400, error=error_body(400, "prompt is too long")))
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=MODEL, max_tokens=8,
                               messages=[{"role": "user", "content": "x"}])
    body: Any = info.value.body
    assert body["type"] == "error" and "prompt is too long" in body["error"]["message"]


def test_stream_without_message_stop_is_cut(door: DoorServer, fake: FakeAnthropic) -> None:
    events = fake.events({"model": UPSTREAM}, Reply(content="a b"))[:-1]  # no message_stop
    fake.enqueue(Reply(raw=b"".join(sse(e) for e in events)))
    body = {"model": MODEL, "max_tokens": 8, "stream": True,
            "messages": [{"role": "user", "content": "x"}]}
    with httpx.stream("POST", door.url + "/v1/messages", json=body, timeout=10) as r:
        frames = [f for f in r.read().split(b"\n\n") if f]
    assert frames[-1].startswith(b"event: error\n")
    assert b"before message_stop" in frames[-1]
