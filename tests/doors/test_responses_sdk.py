"""The Responses door through the official `openai` SDK's `responses` resource, over HTTP, on an
OpenAI-compatible upstream (the fake). Every body and every stream event is also checked against
OpenAI's published spec."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.doors.harness import ADMIN_KEY, MODEL, DoorServer
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.spec import members, validate

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL = {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


def sdk(door: DoorServer, key: str = "key-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=door.url + "/v1", api_key=key, max_retries=0)


@pytest.fixture
def client(door: DoorServer, fake: FakeOpenAI) -> openai.OpenAI:
    fake.queue.clear()
    return sdk(door)


def raw_response(client: openai.OpenAI, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """The SDK's parsed Response and the JSON body it came from (checked against the spec)."""
    raw = client.responses.with_raw_response.create(**kwargs)
    body = orjson.loads(raw.content)
    validate("Response", body)
    for item in body["output"]:
        component = "OutputMessage" if item["type"] == "message" else "FunctionToolCall"
        validate(component, item, strict=True)
    if body["usage"] is not None:
        validate("ResponseUsage", body["usage"], strict=True)
    return raw.parse(), body


def events_of(door: DoorServer, body: dict[str, Any], key: str = "key-a") -> list[dict[str, Any]]:
    """A raw stream's events, each checked: `event:` line = type, numbered from 0, per the spec."""
    with httpx.stream("POST", door.url + "/v1/responses", json=body, timeout=10,
                      headers={"authorization": f"Bearer {key}"}) as r:
        assert r.status_code == 200
        raw = r.read()
    events = []
    for n, frame in enumerate(f for f in raw.split(b"\n\n") if f):
        name, data = frame.split(b"\n")
        event = orjson.loads(data.removeprefix(b"data: "))
        assert name == b"event: " + event["type"].encode()
        assert event["sequence_number"] == n
        validate(members("ResponseStreamEvent")[event["type"]], event)
        validate("ResponseStreamEvent", event)
        events.append(event)
    return events


def test_text(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello!", prompt_tokens=20, completion_tokens=3, cached_tokens=8))
    response, _ = raw_response(client, model="auto", input="Say hello",
                               instructions="Be brief.", temperature=0.3, max_output_tokens=50,
                               metadata={"team": "a"}, user="u-1")
    assert response.output_text == "Hello!" and response.status == "completed"
    assert response.model == MODEL and response.id.startswith("resp_")
    assert response.instructions == "Be brief." and response.metadata == {"team": "a"}
    assert response.usage.input_tokens == 20 and response.usage.output_tokens == 3
    assert response.usage.total_tokens == 23
    assert response.usage.input_tokens_details.cached_tokens == 8
    sent = fake.requests[-1]
    assert sent["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Say hello"}]
    assert (sent["temperature"], sent["max_tokens"], sent["user"]) == (0.3, 50, "u-1")


def test_function_call_round_trip(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[CALL]))
    first, _ = raw_response(client, model=MODEL, input="Weather in Paris?", tools=[WEATHER],
                            tool_choice={"type": "function", "name": "get_weather"},
                            parallel_tool_calls=False)
    (call,) = first.output
    assert call.type == "function_call" and call.call_id == "call_w1"
    assert call.name == "get_weather" and call.arguments == '{"city": "Paris"}'
    sent = fake.requests[-1]
    assert sent["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "parameters": WEATHER["parameters"],
        "description": "Weather for a city"}}]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["parallel_tool_calls"] is False

    fake.enqueue(Reply(content="Sunny, 18C."))
    second, _ = raw_response(client, model=MODEL, tools=[WEATHER], input=[
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": "call_w1", "name": "get_weather",
         "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_w1", "output": "18C, sunny"},
    ])
    assert second.output_text == "Sunny, 18C."
    assert fake.requests[-1]["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_w1", "type": "function",
         "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_w1", "content": "18C, sunny"},
    ]


def test_json_schema_format(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content='{"answer": "42"}'))
    response, _ = raw_response(client, model=MODEL, input="Answer?", text={"format": {
        "type": "json_schema", "name": "answer", "schema": SCHEMA, "strict": True}})
    assert orjson.loads(response.output_text) == {"answer": "42"}
    assert fake.requests[-1]["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "answer", "schema": SCHEMA, "strict": True}}


def test_image_input(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    raw_response(client, model=MODEL, input=[{"role": "user", "content": [
        {"type": "input_text", "text": "What is it?"},
        {"type": "input_image", "image_url": "https://example.com/a.png", "detail": "low"}]}])
    assert fake.requests[-1]["messages"][0]["content"] == [
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]


def test_incomplete_at_the_token_limit(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="cut sho", finish_reason="length"))
    response, _ = raw_response(client, model=MODEL, input="x", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_stream_events(door: DoorServer, fake: FakeOpenAI) -> None:
    fake.queue.clear()
    fake.enqueue(Reply(content="one two", prompt_tokens=11, completion_tokens=2))
    events = events_of(door, {"model": MODEL, "input": "count", "stream": True})
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[6]["text"] == "one two"
    done = events[-1]["response"]
    validate("Response", done)
    assert done["status"] == "completed" and done["usage"]["input_tokens"] == 11
    assert done["output"][0]["content"][0]["text"] == "one two"


def test_stream_with_the_sdk_accumulator(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[CALL, {"id": "call_w2", "name": "get_weather",
                                          "arguments": '{"city": "Lyon"}'}]))
    with client.responses.stream(model=MODEL, input="both cities", tools=[WEATHER]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.function_call_arguments.delta") >= 2
    assert [(o.type, o.call_id, o.arguments) for o in final.output] == [  # type: ignore[union-attr]
        ("function_call", "call_w1", '{"city": "Paris"}'),
        ("function_call", "call_w2", '{"city": "Lyon"}')]


def test_stream_text_with_the_sdk(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello there friend"))
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello there friend"


def test_failure_mid_stream(door: DoorServer, fake: FakeOpenAI) -> None:
    fake.queue.clear()
    fake.enqueue(Reply(content="a b c d e", cut_after=3))
    events = events_of(door, {"model": MODEL, "input": "x", "stream": True})
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"


def test_previous_response_id_and_retrieve(door: DoorServer, fake: FakeOpenAI) -> None:
    fake.queue.clear()
    a, b = sdk(door, "key-a"), sdk(door, "key-b")
    fake.enqueue(Reply(content="My name is Gate."))
    first = a.responses.create(model=MODEL, input="Your name?", instructions="Be Gate.")
    fake.enqueue(Reply(content="I said Gate."))
    second = a.responses.create(model=MODEL, input="Repeat it.", previous_response_id=first.id)
    assert fake.requests[-1]["messages"] == [  # the old instructions are not carried over
        {"role": "user", "content": "Your name?"},
        {"role": "assistant", "content": "My name is Gate."},
        {"role": "user", "content": "Repeat it."}]
    assert second.previous_response_id == first.id
    # a chain: a third turn sees both earlier ones, from one lookup (and a branch is possible)
    fake.enqueue(Reply(content="Done."))
    for _ in a.responses.create(model=MODEL, input="Thanks.", previous_response_id=second.id,
                                stream=True):
        pass
    fake.enqueue(Reply(content="ok"))
    a.responses.create(model=MODEL, input="And?", previous_response_id=second.id)
    assert [m["content"] for m in fake.requests[-1]["messages"]] == [
        "Your name?", "My name is Gate.", "Repeat it.", "I said Gate.", "And?"]
    assert a.responses.retrieve(second.id).output_text == "I said Gate."
    # another key's ids read as unknown; an admin key reads every one
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(first.id)
    with pytest.raises(openai.NotFoundError) as info:
        b.responses.create(model=MODEL, input="x", previous_response_id=first.id)
    assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
    assert sdk(door, ADMIN_KEY).responses.retrieve(first.id).id == first.id


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model=MODEL, input="secret", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_streamed_response_is_stored(door: DoorServer, client: openai.OpenAI,
                                     fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="streamed answer"))
    with client.responses.stream(model=MODEL, input="s") as stream:
        final = stream.get_final_response()
    assert client.responses.retrieve(final.id).output_text == "streamed answer"


@pytest.mark.parametrize(("body", "param"), [
    ({"model": MODEL}, "input"),
    ({"model": MODEL, "input": [{"type": "web_search_call"}]}, "input[0].type"),
    ({"model": MODEL, "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"model": MODEL, "input": "x", "background": True}, "background"),
    ({"model": MODEL, "input": "x", "temperature": 3}, "temperature"),
    ({"model": MODEL, "input": "x", "text": {"format": {"type": "json_schema"}}},
     "text.format.name"),
])
def test_bad_requests_name_the_field(client: openai.OpenAI, body: dict[str, Any],
                                     param: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.post("/responses", body=body, cast_to=object)
    error: Any = info.value.body
    assert error["param"] == param and error["type"] == "invalid_request_error"
