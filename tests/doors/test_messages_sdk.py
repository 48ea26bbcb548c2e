"""The Messages door through the official `anthropic` SDK, over HTTP, on an OpenAI-compatible
upstream (the fake): text, system, images, tools, streams, usage, errors and count_tokens."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import orjson
import pytest

from tests.doors.harness import MODEL, DoorServer
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
CALL = {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris", "days": [1, 2]}'}


@pytest.fixture
def client(door: DoorServer, fake: FakeOpenAI) -> anthropic.Anthropic:
    fake.queue.clear()
    return anthropic.Anthropic(base_url=door.url, api_key="gw-key", max_retries=0)


def upstream(fake: FakeOpenAI) -> dict[str, Any]:
    return fake.requests[-1]


def test_text_with_system_blocks(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Bonjour.", prompt_tokens=30, completion_tokens=4))
    message = client.messages.create(
        model="auto", max_tokens=50, stop_sequences=["END"], metadata={"user_id": "u-1"},
        extra_body={"temperature": 0.2, "top_p": 0.9, "top_k": 5},
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Answer in French."}],
        messages=[{"role": "user", "content": "Hello"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == MODEL and message.id.startswith("msg_")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.output_tokens) == (30, 4)
    sent = upstream(fake)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief.\n\nAnswer in French."},
        {"role": "user", "content": "Hello"},
    ]
    assert (sent["max_tokens"], sent["temperature"], sent["top_p"]) == (50, 0.2, 0.9)
    assert sent["stop"] == ["END"] and sent["user"] == "u-1"
    assert "top_k" not in sent and "metadata" not in sent and sent["model"] == "fake-model"


def test_images_base64_and_url(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    client.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]}])
    assert upstream(fake)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
        {"type": "text", "text": "What is this?"},
    ]


def test_tool_loop(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[CALL]))
    first = client.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        messages=[{"role": "user", "content": "Weather in Paris?"}])
    assert first.stop_reason == "tool_use"
    (use,) = first.content
    assert use.type == "tool_use" and use.id == "call_w1" and use.name == "get_weather"
    assert use.input == {"city": "Paris", "days": [1, 2]}
    sent = upstream(fake)
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER["input_schema"],
        "description": "Weather for a city"}}]
    assert sent["tool_choice"] == "required" and sent["parallel_tool_calls"] is False

    fake.enqueue(Reply(content="Sunny."))
    second = client.messages.create(model=MODEL, max_tokens=100, tools=[WEATHER],  # type: ignore[list-item]
                                    messages=[
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": use.id, "content": [
                {"type": "text", "text": "18C, sunny"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}}]},
            {"type": "text", "text": "Summarise."}]},
    ])
    assert second.content[0].text == "Sunny."  # type: ignore[union-attr]
    messages = upstream(fake)["messages"]
    assert messages[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_w1", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city":"Paris","days":[1,2]}'}}]}
    assert messages[2] == {"role": "tool", "tool_call_id": "call_w1", "content": "18C, sunny"}
    assert messages[3]["role"] == "user"
    assert [p["type"] for p in messages[3]["content"]] == ["text", "image_url", "text"]


def test_stream_text_event_sequence(door: DoorServer, fake: FakeOpenAI) -> None:
    """The exact event order Anthropic documents, each `event:` line naming its data's type."""
    fake.enqueue(Reply(content="one two three", prompt_tokens=40, completion_tokens=3,
                       cached_tokens=10))
    body = {"model": MODEL, "max_tokens": 20, "stream": True,
            "messages": [{"role": "user", "content": "count"}]}
    with httpx.stream("POST", door.url + "/v1/messages", json=body, timeout=10) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = r.read()
    events = []
    for frame in raw.split(b"\n\n"):
        if not frame:
            continue
        name, data = frame.split(b"\n")
        event = orjson.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        events.append(event)
    assert [e["type"] for e in events] == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_delta", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop"]
    assert events[0]["message"]["usage"]["input_tokens"] > 0  # the estimate
    assert "".join(e["delta"]["text"] for e in events[3:6]) == "one two three"
    assert events[7]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[7]["usage"] == {"input_tokens": 30, "cache_creation_input_tokens": 0,
                                  "cache_read_input_tokens": 10, "output_tokens": 3}


def test_stream_through_the_sdk_accumulator(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello there", prompt_tokens=25, completion_tokens=2))
    with client.messages.stream(model=MODEL, max_tokens=20,
                                messages=[{"role": "user", "content": "hi"}]) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Hello there" == final.content[0].text  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn" and final.model == MODEL
    # message_delta's counts replace message_start's estimate
    assert (final.usage.input_tokens, final.usage.output_tokens) == (25, 2)


def test_streamed_tool_calls(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    second = {"id": "call_w2", "name": "get_weather", "arguments": '{"city": "Lyon"}'}
    fake.enqueue(Reply(tool_calls=[CALL, second]))
    with client.messages.stream(model=MODEL, max_tokens=50, tools=[WEATHER],  # type: ignore[list-item]
                                messages=[{"role": "user", "content": "both"}]) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, b.id, b.input) for b in final.content] == [  # type: ignore[union-attr]
        ("tool_use", "call_w1", {"city": "Paris", "days": [1, 2]}),
        ("tool_use", "call_w2", {"city": "Lyon"})]


@pytest.mark.parametrize(("finish", "stop"), [("length", "max_tokens"),
                                              ("content_filter", "refusal")])
def test_stop_reasons(client: anthropic.Anthropic, fake: FakeOpenAI, finish: str,
                      stop: str) -> None:
    fake.enqueue(Reply(content="cut", finish_reason=finish))
    message = client.messages.create(model=MODEL, max_tokens=5,
                                     messages=[{"role": "user", "content": "go"}])
    assert message.stop_reason == stop


def test_bad_request_names_the_field(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    hits = fake.hits
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.create(model=MODEL, max_tokens=5, messages=[
            {"role": "user", "content": [{"type": "text", "text": 3}]}])  # type: ignore[list-item]
    assert info.value.status_code == 400
    assert info.value.body == {"type": "error", "error": {
        "type": "invalid_request_error", "message": "messages.0.content.0.text: must be a string"}}
    assert fake.hits == hits  # nothing went upstream


def test_upstream_failure_is_an_anthropic_error(client: anthropic.Anthropic,
                                                fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=503))
    with pytest.raises(anthropic.APIStatusError) as info:
        client.messages.create(model=MODEL, max_tokens=5,
                               messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "api_error"
    assert "fake failure 503" in body["error"]["message"]


def test_failure_mid_stream_is_an_error_event(client: anthropic.Anthropic,
                                              fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="a b c d e f", cut_after=3))
    with pytest.raises(anthropic.APIStatusError) as info:
        with client.messages.stream(model=MODEL, max_tokens=20,
                                    messages=[{"role": "user", "content": "x"}]) as stream:
            stream.get_final_message()
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]


def test_count_tokens(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    hits = fake.hits
    small = client.messages.count_tokens(model=MODEL, messages=[
        {"role": "user", "content": "hi"}])
    big = client.messages.count_tokens(
        model=MODEL, system="You are terse.", tools=[WEATHER],  # type: ignore[list-item]
        messages=[{"role": "user", "content": "Tell me about Paris. " * 50}])
    assert 0 < small.input_tokens < big.input_tokens
    assert fake.hits == hits  # an estimate: no upstream call
    with pytest.raises(anthropic.BadRequestError):
        client.messages.count_tokens(model=MODEL, messages=[])
