"""The Responses door through the official `openai` SDK's `responses` resource and the real
gateway, on an OpenAI-compatible upstream (the fake). Every body and every stream event is
also checked against OpenAI's published spec, and each request's log row is read."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.doors.conftest import ADMIN_KEY, KEY_A, KEY_B, MODEL, cost
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged
from tests.spec import members, validate

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
CALL = {"id": "call_w1", "name": "get_weather", "arguments": '{"city": "Paris"}'}
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
          "additionalProperties": False}


def sdk(server: GatewayServer, key: str = KEY_A, **kwargs: Any) -> openai.OpenAI:
    return server.client(key, **kwargs)


@pytest.fixture
def client(server: GatewayServer) -> openai.OpenAI:
    return sdk(server)


def raw_response(client: openai.OpenAI, **kwargs: Any) -> tuple[Any, dict[str, Any], str]:
    """The SDK's parsed Response, the JSON body it came from (checked against the spec), and
    the request's id."""
    raw = client.responses.with_raw_response.create(**kwargs)
    body = orjson.loads(raw.content)
    check_response(body)
    return raw.parse(), body, raw.headers["x-request-id"]


def check_response(body: dict[str, Any]) -> None:
    validate("Response", body)
    for item in body["output"]:
        component = "OutputMessage" if item["type"] == "message" else "FunctionToolCall"
        validate(component, item, strict=True)
    if body.get("usage") is not None:
        validate("ResponseUsage", body["usage"], strict=True)


def events_of(server: GatewayServer, body: dict[str, Any], key: str = KEY_A
              ) -> tuple[httpx.Headers, list[dict[str, Any]]]:
    """A raw stream's events, each checked: `event:` line = type, numbered from 0, per the spec."""
    with httpx.stream("POST", server.url + "/v1/responses", json=body, timeout=10,
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
    return r.headers, events


def test_text(client: openai.OpenAI, server: GatewayServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello!", prompt_tokens=20, completion_tokens=3, cached_tokens=8))
    response, _, request_id = raw_response(
        client, model="auto", input="Say hello", instructions="Be brief.", temperature=0.3,
        max_output_tokens=50, metadata={"team": "a"}, user="u-1")
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
    row = logged(server, request_id)
    assert (row["endpoint"], row["requested_model"], row["model"], row["api_key"]) == (
        "responses", "auto", MODEL, "team-a")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (20, 3)
    assert row["cost_usd"] == cost(20, 3, cached=8)


def test_profiles_route(client: openai.OpenAI, server: GatewayServer) -> None:
    raw = client.responses.with_raw_response.create(model="auto:best", input="hi")
    assert raw.parse().model == MODEL
    assert logged(server, raw.headers["x-request-id"])["profile"] == "best"


def test_function_call_round_trip(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[CALL]))
    first, _, _ = raw_response(client, model=MODEL, input="Weather in Paris?", tools=[WEATHER],
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
    second, _, _ = raw_response(client, model=MODEL, tools=[WEATHER], input=[
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
    response, _, _ = raw_response(client, model=MODEL, input="Answer?", text={"format": {
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
    response, _, _ = raw_response(client, model=MODEL, input="x", max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"


def test_stream_events(server: GatewayServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="one two", prompt_tokens=11, completion_tokens=2))
    headers, events = events_of(server, {"model": MODEL, "input": "count", "stream": True})
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[6]["text"] == "one two"
    done = events[-1]["response"]
    check_response(done)
    assert done["status"] == "completed" and done["usage"]["input_tokens"] == 11
    assert done["output"][0]["content"][0]["text"] == "one two"
    row = logged(server, headers["x-request-id"])
    assert (row["endpoint"], row["stream"], row["status"]) == ("responses", 1, "success")
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (
        11, 2, cost(11, 2))


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


def test_text_then_function_call(server: GatewayServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(preamble="Let me check.", tool_calls=[CALL]))
    _, events = events_of(server, {"model": MODEL, "input": "Paris?", "tools": [WEATHER],
                                   "stream": True})
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added == ["message", "function_call"]
    done = events[-1]["response"]
    check_response(done)
    assert [o["type"] for o in done["output"]] == ["message", "function_call"]
    assert done["output"][0]["content"][0]["text"] == "Let me check."
    assert done["output"][1]["arguments"] == CALL["arguments"]


def test_stream_text_with_the_sdk(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="Hello there friend"))
    stream = client.responses.create(model=MODEL, input="hi", stream=True)
    deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "Hello there friend"


def test_failure_mid_stream(server: GatewayServer, fake: FakeOpenAI) -> None:
    """Cut, and every try to continue fails: `error`, then `response.failed`, as OpenAI ends
    a stream; the row is an error."""
    fake.enqueue(Reply(content="a b c d e", cut_after=3), Reply(status=503), Reply(status=503))
    headers, events = events_of(server, {"model": MODEL, "input": "x", "stream": True})
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"]["code"] == "server_error"
    row = logged(server, headers["x-request-id"])
    assert row["status"] == "error" and "mid-stream" in row["error"]


def test_previous_response_id_and_retrieve(server: GatewayServer, fake: FakeOpenAI) -> None:
    a, b = sdk(server, KEY_A), sdk(server, KEY_B)
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
    got = a.responses.with_raw_response.retrieve(second.id)
    check_response(orjson.loads(got.content))
    assert got.parse().output_text == "I said Gate."
    # another client key's ids read exactly as unknown ones; an admin key reads every one
    hits = fake.hits
    unknown = "resp_" + "0" * 32
    for response_id in (first.id, unknown):
        with pytest.raises(openai.NotFoundError) as info:
            b.responses.retrieve(response_id)
        assert info.value.body == {  # type: ignore[comparison-overlap]
            "message": f"No response with id {response_id!r} found.",
            "type": "invalid_request_error", "param": "previous_response_id",
            "code": "not_found"}
        with pytest.raises(openai.NotFoundError) as info:
            b.responses.create(model=MODEL, input="x", previous_response_id=response_id)
        assert info.value.body["message"] == f"No response with id {response_id!r} found."  # type: ignore[index]
        assert info.value.body["param"] == "previous_response_id"  # type: ignore[index]
        row = logged(server, info.value.response.headers["x-request-id"])
        assert (row["endpoint"], row["http_status"], row["api_key"]) == (
            "responses", 404, "team-b")
    assert fake.hits == hits  # nothing went upstream for them
    admin = sdk(server, ADMIN_KEY)
    assert admin.responses.retrieve(first.id).id == first.id
    fake.enqueue(Reply(content="Gate, for the admin."))
    admin.responses.create(model=MODEL, input="Again?", previous_response_id=first.id)
    assert [m["content"] for m in fake.requests[-1]["messages"]] == [
        "Your name?", "My name is Gate.", "Again?"]


def test_a_response_is_deleted_by_its_key(server: GatewayServer, fake: FakeOpenAI) -> None:
    a, b = sdk(server, KEY_A), sdk(server, KEY_B)
    fake.enqueue(Reply(content="first"))
    first = a.responses.create(model=MODEL, input="one")
    fake.enqueue(Reply(content="second"))
    second = a.responses.create(model=MODEL, input="two", previous_response_id=first.id)
    with pytest.raises(openai.NotFoundError):  # another key's response reads as unknown
        b.responses.delete(first.id)
    with server.http() as http:
        gone = http.delete(f"/v1/responses/{first.id}", headers={"authorization": f"Bearer {KEY_A}"})
    assert gone.json() == {"id": first.id, "object": "response", "deleted": True}
    for call in (a.responses.retrieve, a.responses.delete):
        with pytest.raises(openai.NotFoundError):
            call(first.id)
    # the turn that continued it keeps its own copy of the conversation
    fake.enqueue(Reply(content="third"))
    a.responses.create(model=MODEL, input="three", previous_response_id=second.id)
    assert [m["content"] for m in fake.requests[-1]["messages"]] == [
        "one", "first", "two", "second", "three"]


def test_store_false_keeps_nothing(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    response = client.responses.create(model=MODEL, input="secret", store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model=MODEL, input="x", previous_response_id=response.id)
    with client.responses.stream(model=MODEL, input="s", store=False) as stream:
        streamed = stream.get_final_response()
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(streamed.id)


def test_streamed_response_is_stored(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(content="streamed answer"))
    with client.responses.stream(model=MODEL, input="s") as stream:
        final = stream.get_final_response()
    assert client.responses.retrieve(final.id).output_text == "streamed answer"


def test_keys(server: GatewayServer) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(server, "wrong-key").responses.create(model=MODEL, input="x")
    assert info.value.body["type"] == "authentication_error"  # type: ignore[index]
    assert info.value.body["code"] == "invalid_api_key"  # type: ignore[index]
    row = logged(server, info.value.response.headers["x-request-id"])
    assert (row["endpoint"], row["http_status"]) == ("responses", 401)
    with pytest.raises(openai.AuthenticationError):
        sdk(server, "wrong-key").responses.retrieve("resp_x")


def test_upstream_failure_is_final(server: GatewayServer, fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=500), Reply(status=500))
    hits = fake.hits
    with pytest.raises(openai.InternalServerError) as info:
        sdk(server, max_retries=3).responses.create(model=MODEL, input="x")
    assert info.value.status_code == 502
    assert info.value.response.headers["x-should-retry"] == "false"
    assert info.value.body["code"] == "upstream_unavailable"  # type: ignore[index]
    assert fake.hits == hits + 2  # the gateway's retry only: the SDK did not add its own


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
