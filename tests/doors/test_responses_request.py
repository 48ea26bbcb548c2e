"""Responses door, parse and translate (pure): 400s name the field in OpenAI's shape, input items
become chat messages OpenAI's schema accepts, and a stored turn continues a conversation."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.doors.responses import DOOR, not_found
from gateway.doors.responses_request import ResponsesRequest, parse_responses
from gateway.errors import InvalidRequest
from gateway.usage.response_store import StoredResponse
from tests.spec import validate


def parse(value: dict[str, Any]) -> ResponsesRequest:
    req = parse_responses(orjson.dumps(value), {})
    validate("CreateChatCompletionRequest", req.body)
    return req


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "input": "hi", **fields}


@pytest.mark.parametrize(("value", "param"), [
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    (body(input=5), "input"),
    (body(input=[3]), "input[0]"),
    (body(input=[{"role": "robot", "content": "x"}]), "input[0].role"),
    (body(input=[{"role": "user", "content": [{"type": "output_text", "text": "x"}]}]),
     "input[0].content[0].type"),
    (body(input=[{"role": "assistant", "content": [{"type": "input_image"}]}]),
     "input[0].content[0].type"),
    (body(input=[{"role": "user", "content": [{"type": "input_text"}]}]),
     "input[0].content[0].text"),
    (body(input=[{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]),
     "input[0].content[0].image_url"),
    (body(input=[{"role": "user", "content": [{"type": "input_file"}]}]),
     "input[0].content[0].file_data"),
    (body(input=[{"type": "function_call", "call_id": "c", "name": "f"}]), "input[0].arguments"),
    (body(input=[{"type": "function_call_output", "output": "x"}]), "input[0].call_id"),
    (body(input=[{"type": "function_call_output", "call_id": "c", "output": 5}]),
     "input[0].output"),
    (body(input=[{"type": "item_reference", "id": "x"}]), "input[0].type"),
    (body(instructions=["x"]), "instructions"),
    (body(tools=[{"type": "file_search"}]), "tools[0].type"),
    (body(tools=[{"type": "function"}]), "tools[0].name"),
    (body(tools=[{"type": "function", "name": "f", "parameters": "{}"}]), "tools[0].parameters"),
    (body(tools=[{"type": "function", "name": "f", "strict": "yes"}]), "tools[0].strict"),
    (body(tool_choice="any"), "tool_choice"),
    (body(tool_choice={"type": "function"}), "tool_choice"),
    (body(text={"format": {"type": "xml"}}), "text.format.type"),
    (body(text={"format": {"type": "json_schema", "name": "n"}}), "text.format.schema"),
    (body(text=[]), "text"),
    (body(metadata={"k": 1}), "metadata"),
    (body(max_output_tokens=0), "max_output_tokens"),
    (body(top_p=2), "top_p"),
    (body(stream=1), "stream"),
    (body(store="no"), "store"),
    (body(previous_response_id=5), "previous_response_id"),
    (body(reasoning={"effort": 3}), "reasoning"),
    (body(background=True), "background"),
    (body(conversation="conv_1"), "conversation"),
    (body(prompt={"id": "p"}), "prompt"),
    (body(routing="cheap"), "routing"),
])
def test_bad_bodies_name_the_field(value: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_responses(orjson.dumps(value), {})
    assert info.value.param == param
    status, raw, _ = DOOR.error_body(info.value)
    error = orjson.loads(raw)["error"]
    assert status == 400 and error["param"] == param and error["type"] == "invalid_request_error"


def test_the_request_object() -> None:
    req = parse(body(stream=True, store=False, routing={"task": "code"}, user="u",
                     instructions="Sys.", reasoning={"effort": "low"}, max_output_tokens=99,
                     text={"format": {"type": "json_object"}}))
    assert (req.endpoint, req.model, req.stream, req.store) == ("responses", "auto", True, False)
    assert req.routing == {"task": "code"} and req.id.startswith("resp_")
    assert req.items == [{"type": "message", "role": "user", "content": "hi"}]
    assert req.body == {"model": "auto", "stream": True, "max_tokens": 99, "user": "u",
                        "reasoning_effort": "low", "response_format": {"type": "json_object"},
                        "messages": [{"role": "system", "content": "Sys."},
                                     {"role": "user", "content": "hi"}]}
    assert req.echo["instructions"] == "Sys." and req.echo["temperature"] == 1.0


def test_items_to_messages() -> None:
    req = parse(body(input=[
        {"role": "developer", "content": "Rules."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Read this"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,QQ=="}]},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed", "content": [
            {"type": "output_text", "text": "Calling.", "annotations": []}]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"a":1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [
            {"type": "input_text", "text": "two"}]},
    ]))
    assert req.body["messages"] == [
        {"role": "system", "content": "Rules."},
        {"role": "user", "content": [
            {"type": "text", "text": "Read this"},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,QQ==",
                                      "filename": "a.pdf"}}]},
        {"role": "assistant", "content": "Calling.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"a":1}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "one"},
        {"role": "tool", "tool_call_id": "c2", "content": "two"},
    ]


def test_continue_from_a_stored_response() -> None:
    first = parse(body(input="Name?", instructions="Old rules."))
    answer = DOOR.render(first, {"model": "gw", "created": 5, "choices": [{"index": 0,
        "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me see.",
        "tool_calls": [{"id": "c9", "type": "function",
                        "function": {"name": "f", "arguments": "{}"}}]}}]})
    stored = DOOR.keep(first, "team-a", answer)
    assert stored is not None and stored.api_key == "team-a" and stored.id == first.id
    second = parse(body(input=[{"type": "function_call_output", "call_id": "c9",
                                "output": "42"}], previous_response_id=first.id,
                        instructions="New rules."))
    resumed = DOOR.continue_from(second, stored)
    validate("CreateChatCompletionRequest", resumed.body)
    assert resumed.body["messages"] == [
        {"role": "system", "content": "New rules."},
        {"role": "user", "content": "Name?"},
        {"role": "assistant", "content": "Let me see.", "tool_calls": [
            {"id": "c9", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c9", "content": "42"},
    ]
    assert len(resumed.items) == 4 and resumed.id == second.id
    assert DOOR.render_stored(stored) == answer
    assert DOOR.keep(parse(body(store=False)), None, answer) is None


def test_not_found_reads_the_same_for_every_reason() -> None:
    exc = not_found("resp_x")
    assert exc.status == 404 and exc.param == "previous_response_id"


def test_stored_response_round_trip() -> None:
    stored = StoredResponse(id="resp_1", api_key=None, body=b'{"output": []}', items=[])
    assert stored.response() == {"output": []}
