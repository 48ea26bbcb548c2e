"""Property-based fuzzing of the doors: whatever a client sends, a door's parser returns a request
whose chat body OpenAI's schema accepts, or raises InvalidRequest (a 400 in the door's own error
shape); whatever chat chunks arrive, its stream encoder writes events the client's SDK reads;
and through the real gateway, whatever a client sends, the answer is never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.doors.embeddings import DOOR as EMBEDDINGS
from gateway.doors.messages import DOOR as MESSAGES
from gateway.doors.messages_stream import MessagesEncoder
from gateway.doors.responses import DOOR as RESPONSES
from gateway.doors.responses_request import parse_responses
from gateway.doors.responses_stream import ResponsesEncoder
from gateway.errors import InvalidRequest
from providers.base import Usage
from tests import strategies
from tests.doors.conftest import CHAT, KEY_A, openai_model, start
from tests.doors.streams import anthropic_message, openai_response, run
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer
from tests.spec import validate

json_values = strategies.json_values(12)
text = st.text(max_size=30)


def mostly(good: Any, noise: Any = json_values) -> Any:
    """`good` nine times in ten, else `noise`: deep bodies must be valid often enough to get
    past the parser and reach the translation (a uniform mix would almost never be)."""
    return st.integers(0, 9).flatmap(lambda n: noise if n == 7 else good)  # 0 and 9 come often


def obj(required: dict[str, Any], optional: dict[str, Any] | None = None) -> Any:
    """A fixed-shape object, or now and then anything at all in its place."""
    return mostly(st.fixed_dictionaries(required, optional=optional or {}))


# -- Messages -----------------------------------------------------------------------------------

source = mostly(st.one_of(
    st.fixed_dictionaries({"type": st.just("base64"), "media_type": st.just("image/png"),
                           "data": text}),
    st.fixed_dictionaries({"type": st.just("url"), "url": text}),
    st.fixed_dictionaries({"type": st.just("file"), "file_id": text}),
))
inner_block = st.one_of(
    obj({"type": st.just("text"), "text": text},
        {"cache_control": mostly(st.just({"type": "ephemeral"}))}),
    obj({"type": st.just("image"), "source": source}),
)
document = obj({"type": st.just("document"), "source": obj(
    {"type": st.sampled_from(["base64", "text", "url", "content"])},
    {"data": text, "media_type": text, "content": st.lists(inner_block, max_size=2)})})
user_block = st.one_of(
    inner_block, document,
    obj({"type": st.just("tool_result"), "tool_use_id": text},
        {"content": text | st.lists(inner_block, max_size=2), "is_error": st.booleans()}),
)
assistant_block = st.one_of(
    obj({"type": st.just("text"), "text": text}),
    obj({"type": st.just("tool_use"), "id": text, "name": text,
         "input": st.dictionaries(text, json_values, max_size=2)}),
    obj({"type": st.sampled_from(["thinking", "redacted_thinking", "server_tool_use", "x"])},
        {"thinking": text, "data": text}),
)
turns = st.lists(mostly(st.one_of(
    obj({"role": st.just("user"), "content": text | st.lists(user_block, max_size=4)}),
    obj({"role": st.just("assistant"), "content": text | st.lists(assistant_block, max_size=3)}),
), obj({"role": st.sampled_from(["system", "tool"]), "content": text})), min_size=1, max_size=4)
tools = st.lists(obj({"name": text}, {"input_schema": json_values, "type": json_values,
                                      "description": json_values}), max_size=2)
messages_bodies = st.fixed_dictionaries(
    {"model": mostly(st.sampled_from(["auto", "m", "c"])), "messages": mostly(turns),
     "max_tokens": mostly(st.integers(1, 5000), st.integers(-1, 0) | json_values)},
    optional={
        "system": text | st.lists(obj({"type": st.just("text"), "text": text}), max_size=2),
        "tools": mostly(tools),
        "tool_choice": obj({"type": st.sampled_from(["auto", "any", "tool", "none", "x"])},
                           {"name": text, "disable_parallel_tool_use": json_values}),
        **{k: mostly(st.floats(-0.1, 1.1), json_values) for k in ("temperature", "top_p")},
        "top_k": mostly(st.integers(-1, 50)),
        "stop_sequences": mostly(st.lists(text, max_size=2)),
        "metadata": mostly(st.fixed_dictionaries({}, optional={"user_id": text})),
        "thinking": mostly(st.just({"type": "enabled", "budget_tokens": 1024})),
        "stream": mostly(st.booleans()),
        "routing": mostly(st.just({"task": "code"})),
        "output_config": mostly(st.just({"format": {"type": "json_schema", "schema": {}}})),
    },
)

# -- Responses ----------------------------------------------------------------------------------

part = obj({"type": st.sampled_from(["input_text", "input_image", "input_file", "output_text",
                                     "refusal"])},
           {"text": text, "image_url": text, "file_data": text, "refusal": text,
            "detail": json_values})
item = st.one_of(
    obj({"role": st.sampled_from(["user", "assistant", "system", "developer", "user", "x"]),
         "content": text | st.lists(part, max_size=3)}, {"type": st.just("message")}),
    obj({"type": st.just("function_call"), "call_id": text, "name": text, "arguments": text}),
    obj({"type": st.just("function_call_output"), "call_id": text,
         "output": text | st.lists(part, max_size=2)}),
    obj({"type": st.sampled_from(["reasoning", "item_reference", "web_search_call"])}),
)
responses_bodies = st.fixed_dictionaries(
    {"model": mostly(st.sampled_from(["auto", "m"])),
     "input": mostly(text | st.lists(item, min_size=1, max_size=4))},
    optional={
        "tools": st.lists(obj({"type": st.sampled_from(["function", "web_search"]),
                               "name": text}, {"parameters": json_values}), max_size=2),
        "tool_choice": st.sampled_from(["auto", "none", "required", "any"]) | json_values,
        "text": obj({"format": obj({"type": st.sampled_from(["text", "json_object",
                                                             "json_schema"])},
                                   {"name": text, "schema": json_values})}),
        **{k: mostly(st.floats(-0.1, 2.1)) for k in ("temperature", "top_p")},
        "instructions": mostly(text), "max_output_tokens": mostly(st.integers(0, 99)),
        "user": mostly(text), "metadata": mostly(st.dictionaries(text, text, max_size=2)),
        **{k: mostly(st.booleans()) for k in ("stream", "store", "background")},
        **{k: json_values for k in ("previous_response_id", "reasoning", "routing")},
    },
)
embeddings_bodies = st.fixed_dictionaries(
    {"model": mostly(st.sampled_from(["auto", "auto:cheap", "m", "m"])),
     "input": mostly(text | st.lists(text, max_size=3)
                     | st.lists(st.integers(-2, 2**33), max_size=3)
                     | st.lists(st.lists(st.integers(0, 9), max_size=3), max_size=3))},
    optional={"encoding_format": mostly(st.sampled_from(["float", "base64", "x"])),
              "dimensions": mostly(st.integers(0, 9)), "user": mostly(text),
              "routing": json_values},
)


def raws(bodies: Any) -> Any:
    return st.binary(max_size=100) | json_values.map(orjson.dumps) | bodies.map(orjson.dumps)


def rejected(door: Any, exc: InvalidRequest, anthropic: bool) -> None:
    status, body, _ = door.error_body(exc)
    error = orjson.loads(body)
    assert status == 400 and exc.message
    if anthropic:
        assert error == {"type": "error", "error": {"type": "invalid_request_error",
                                                    "message": exc.message}}
    else:
        assert error["error"]["type"] == "invalid_request_error" and error["error"]["message"]


@given(raws(messages_bodies))
@settings(max_examples=500, deadline=None)
def test_messages_parser(raw: bytes) -> None:
    try:
        req = MESSAGES.parse(raw, {})
    except InvalidRequest as exc:
        rejected(MESSAGES, exc, anthropic=True)
        return
    if req.body["messages"]:
        validate("CreateChatCompletionRequest", req.body)
    else:  # everything in it is for Anthropic alone (search results, ...): the native path's
        assert req.dropped
    assert req.native is not None and "routing" not in req.native
    orjson.loads(MESSAGES.count_tokens(raw, {})[1])  # a valid body can always be counted


@given(raws(responses_bodies))
@settings(max_examples=500, deadline=None)
def test_responses_parser(raw: bytes) -> None:
    try:
        req = RESPONSES.parse(raw, {})
    except InvalidRequest as exc:
        rejected(RESPONSES, exc, anthropic=False)
        return
    if req.body["messages"]:  # an empty input is valid with a previous_response_id
        validate("CreateChatCompletionRequest", req.body)


@given(raws(embeddings_bodies))
@example(b'{"model":"m","input":["0"],"encoding_format":null}')  # null sent on, once
@settings(max_examples=300, deadline=None)
def test_embeddings_parser(raw: bytes) -> None:
    try:
        req = EMBEDDINGS.parse(raw, {})
    except InvalidRequest as exc:
        rejected(EMBEDDINGS, exc, anthropic=False)
        return
    known = ("model", "input", "encoding_format", "dimensions", "user")  # others pass through
    validate("CreateEmbeddingRequest", {k: v for k, v in req.body.items() if k in known})


# -- stream encoders ---------------------------------------------------------------------------

fragment = st.fixed_dictionaries(
    {"index": st.integers(0, 2)},
    optional={"id": st.text(max_size=5), "type": st.just("function"),
              "function": st.fixed_dictionaries({}, optional={
                  "name": st.text(max_size=5),
                  "arguments": st.sampled_from(["", "{", '"a": 1', "}", "{}"])})})
delta = st.fixed_dictionaries({}, optional={
    "role": st.just("assistant"), "content": st.none() | st.text(max_size=8),
    "refusal": st.none() | st.text(max_size=4), "tool_calls": st.lists(fragment, max_size=2)})
chunks = st.lists(st.fixed_dictionaries({"choices": st.lists(st.fixed_dictionaries({
    "index": st.sampled_from([0, 0, 0, 1]), "delta": delta,
    "finish_reason": st.none() | st.sampled_from(["stop", "length", "tool_calls",
                                                  "content_filter"])}), max_size=1)},
    optional={"usage": st.fixed_dictionaries({"prompt_tokens": st.integers(0, 99),
                                              "completion_tokens": st.integers(0, 99)})}),
    max_size=12)
usages = st.none() | st.builds(Usage, prompt_tokens=st.integers(0, 99),
                               completion_tokens=st.integers(0, 99))


def whole_json(chunks: list[dict[str, Any]]) -> bool:
    """Whether every tool call's arguments, joined, are JSON (what an SDK then parses). Only
    the first choice counts: the doors ask for one, and the encoders read no other."""
    args: dict[int, str] = {}
    for c in chunks:
        for choice in c["choices"]:
            if choice.get("index", 0) != 0:
                continue
            for f in choice["delta"].get("tool_calls") or ():
                args[f["index"]] = args.get(f["index"], "") + (f.get("function") or {}).get(
                    "arguments", "")
    try:
        return all(a == "" or isinstance(orjson.loads(a), dict) for a in args.values())
    except orjson.JSONDecodeError:
        return False


@given(chunks, usages)
@example([  # a second choice's fragment is not part of the answer the encoder streams
    {"choices": [{"index": 1, "delta": {"tool_calls": [
        {"index": 2, "function": {"name": "", "arguments": "{"}}]}}]},
    {"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 2, "id": "", "function": {"name": "", "arguments": "}"}}]}}]},
], None)
@settings(max_examples=300, deadline=None)
def test_messages_encoder(chunks: list[dict[str, Any]], usage: Usage | None) -> None:
    events = run(MessagesEncoder("msg_f", "m", 5), chunks, usage)
    assert events[0][0] == "message_start" and [n for n, _ in events[-2:]] == [
        "message_delta", "message_stop"]
    if whole_json(chunks):  # Anthropic's SDK parses tool input as it streams
        message = anthropic_message(events)
        assert message.stop_reason in ("end_turn", "max_tokens", "tool_use", "refusal")


@given(chunks, usages)
@settings(max_examples=200, deadline=None)
def test_responses_encoder(chunks: list[dict[str, Any]], usage: Usage | None) -> None:
    req = parse_responses(b'{"model": "m", "input": "x"}', {})
    events = run(ResponsesEncoder(req, "m"), chunks, usage)
    openai_response(events)
    assert events[-1][0] in ("response.completed", "response.incomplete")


# -- over HTTP, through the real gateway ------------------------------------------------------


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, fake_anthropic: FakeAnthropic,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """`m` on the OpenAI-compatible fake (chat and embeddings), `c` on the Anthropic one, so a
    body the parser takes goes the whole way: routing, the native or translated call, the
    answer rendered."""
    gw = start(tmp_path_factory.mktemp("fuzz"), {
        "up": {"kind": "openai", "base_url": fake.url, "api_key": "k"},
        "an": {"kind": "anthropic", "base_url": fake_anthropic.base_url, "api_key": "k"},
    }, [openai_model("m", capabilities=[*CHAT, "embeddings"]),
        {"id": "c", "provider": "an", "upstream": "claude-sonnet-4-5", "capabilities": CHAT}])
    yield gw
    gw.__exit__(None, None, None)


@given(st.one_of(st.tuples(st.just("/v1/messages"), messages_bodies),
                 st.tuples(st.just("/v1/messages/count_tokens"), messages_bodies),
                 st.tuples(st.just("/v1/responses"), responses_bodies),
                 st.tuples(st.just("/v1/embeddings"), embeddings_bodies)))
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_doors_never_answer_5xx_to_bad_input(server: GatewayServer, case: tuple[str, Any]) -> None:
    path, body = case
    messages = path.startswith("/v1/messages")
    key = {"x-api-key": KEY_A} if messages else {"authorization": f"Bearer {KEY_A}"}
    r = httpx.post(server.url + path, content=orjson.dumps(body), timeout=10, headers=key)
    assert r.status_code < 500, (path, body, r.text)
    if r.headers["content-type"].startswith("text/event-stream"):
        assert r.status_code == 200
        last = [f for f in r.content.split(b"\n\n") if f][-1]
        event = orjson.loads(last.split(b"\n")[1].removeprefix(b"data: "))
        ends = ("message_stop",) if messages else ("response.completed", "response.incomplete")
        assert event["type"] in ends, (path, body, r.text)
    elif r.status_code >= 400:
        error = r.json()
        if messages:
            assert error["type"] == "error" and error["error"]["message"]
            assert error["error"]["type"] in ("invalid_request_error", "not_found_error")
        else:
            assert error["error"]["message"] and error["error"]["type"]
