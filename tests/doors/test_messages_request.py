"""Messages door, parse and translate (pure): 400s name the field as Anthropic does, and every
accepted body becomes a chat-completions body OpenAI's schema accepts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.doors.messages import DOOR
from gateway.doors.messages_request import MessagesRequest, parse_messages
from gateway.errors import InvalidRequest
from tests.spec import validate

USER = [{"role": "user", "content": "hi"}]
PDF = "JVBERi0xLjQK"


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "auto", "max_tokens": 100, "messages": USER, **fields}


def parse(value: dict[str, Any], headers: dict[str, str] | None = None) -> MessagesRequest:
    req = parse_messages(orjson.dumps(value), headers or {})
    validate("CreateChatCompletionRequest", req.body)
    return req


def msg(*blocks: dict[str, Any], role: str = "user") -> dict[str, Any]:
    return {"role": role, "content": list(blocks)}


@pytest.mark.parametrize(("value", "param"), [
    ({"max_tokens": 5, "messages": USER}, "model"),
    ({"model": "m", "messages": USER}, "max_tokens"),
    (body(max_tokens=0), "max_tokens"),
    (body(max_tokens=True), "max_tokens"),
    (body(messages=[]), "messages"),
    (body(messages=[{"role": "system", "content": "x"}]), "messages.0.role"),
    (body(messages=[{"role": "user", "content": 3}]), "messages.0.content"),
    (body(messages=[msg({"text": "x"})]), "messages.0.content.0"),
    (body(messages=[msg({"type": "text", "text": None})]), "messages.0.content.0.text"),
    (body(messages=[msg({"type": "image", "source": {"type": "ftp"}})]),
     "messages.0.content.0.source.type"),
    (body(messages=[msg({"type": "image", "source": {"type": "base64", "data": "x"}})]),
     "messages.0.content.0.source.media_type"),
    (body(messages=[msg({"type": "tool_use", "id": "t", "name": "n", "input": {}})]),
     "messages.0.content.0.type"),
    (body(messages=[msg({"type": "tool_use", "id": "t", "name": "n", "input": "{}"},
                        role="assistant")]), "messages.0.content.0.input"),
    (body(messages=[msg({"type": "tool_result", "tool_use_id": "t"}, role="assistant")]),
     "messages.0.content.0.type"),
    (body(messages=[msg({"type": "tool_result", "tool_use_id": "t", "content": [
        {"type": "tool_result", "tool_use_id": "u"}]})]), "messages.0.content.0.content.0.type"),
    (body(messages=[msg({"type": "tool_result", "tool_use_id": "t", "is_error": "yes"})]),
     "messages.0.content.0.is_error"),
    (body(messages=[msg({"type": "text", "text": "x", "cache_control": "ephemeral"})]),
     "messages.0.content.0.cache_control"),
    (body(system=[{"type": "image"}]), "system.0.type"),
    (body(system=5), "system"),
    (body(tools=[{"name": "t"}]), "tools.0.input_schema"),
    (body(tools=[{"name": "", "input_schema": {}}]), "tools.0.name"),
    (body(tools={"name": "t"}), "tools"),
    (body(tool_choice={"type": "function"}), "tool_choice.type"),
    (body(tool_choice={"type": "tool"}), "tool_choice.name"),
    (body(tool_choice={"type": "auto", "disable_parallel_tool_use": 1}),
     "tool_choice.disable_parallel_tool_use"),
    (body(temperature=1.5), "temperature"),
    (body(top_p=-0.1), "top_p"),
    (body(top_k=-1), "top_k"),
    (body(stop_sequences="END"), "stop_sequences"),
    (body(metadata={"user_id": 7}), "metadata.user_id"),
    (body(thinking=True), "thinking"),
    (body(stream="yes"), "stream"),
    (body(routing=[1]), "routing"),
    (body(output_config={"format": {"type": "json_schema"}}), "output_config.format"),
])
def test_bad_bodies_name_the_field(value: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_messages(orjson.dumps(value), {})
    assert info.value.param == param
    assert info.value.message.startswith(param.split(".")[0])


@pytest.mark.parametrize("raw", [b"", b"[1]", b"{", b'"x"'])
def test_not_an_object(raw: bytes) -> None:
    with pytest.raises(InvalidRequest):
        parse_messages(raw, {})


def test_the_request_object() -> None:
    value = body(stream=True, routing={"profile": "cheap"},
                 messages=[msg({"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}})])
    req = parse(value, {"anthropic-beta": "b1", "anthropic-version": "2023-06-01",
                        "x-api-key": "secret"})
    assert (req.endpoint, req.model, req.stream, req.include_usage) == ("messages", "auto", True,
                                                                        False)
    assert req.routing == {"profile": "cheap"} and req.id.startswith("msg_")
    assert req.native == {k: v for k, v in value.items() if k != "routing"}
    assert req.native_headers == {"anthropic-version": "2023-06-01", "anthropic-beta": "b1"}
    assert req.body == {"model": "auto", "messages": [{"role": "user", "content": "hi"}],
                        "max_tokens": 100, "stream": True}


def test_documents_and_what_is_dropped() -> None:
    req = parse(body(thinking={"type": "enabled", "budget_tokens": 2000}, top_k=3,
                     output_config={"effort": "high"},
                     tools=[{"type": "web_search_20250305", "name": "web_search"}],
                     tool_choice={"type": "auto"}, messages=[
        msg({"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                            "data": PDF}},
            {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                            "data": "plain text"}},
            {"type": "document", "source": {"type": "url", "url": "https://x/y.pdf"}},
            {"type": "image", "source": {"type": "file", "file_id": "file_1"}},
            {"type": "search_result", "source": "s", "title": "t", "content": []}),
        msg({"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
            {"type": "text", "text": "Found it."}, role="assistant"),
    ]))
    assert req.body["messages"] == [
        {"role": "user", "content": [
            {"type": "file", "file": {"filename": "document.pdf",
                                      "file_data": f"data:application/pdf;base64,{PDF}"}},
            {"type": "text", "text": "plain text"}]},
        {"role": "assistant", "content": "Found it."},
    ]
    assert "tools" not in req.body and "tool_choice" not in req.body
    assert req.dropped == ("messages.0.content.2 (document)", "messages.0.content.3 (image)",
                           "messages.0.content.4 (search_result)",
                           "messages.1.content.1 (server_tool_use)", "tools.0 (web_search_20250305)",
                           "output_config.effort", "thinking", "top_k")


@pytest.mark.parametrize(("choice", "chat"), [
    ({"type": "auto"}, {"tool_choice": "auto"}),
    ({"type": "none"}, {"tool_choice": "none"}),
    ({"type": "any"}, {"tool_choice": "required"}),
    ({"type": "tool", "name": "t", "disable_parallel_tool_use": True},
     {"tool_choice": {"type": "function", "function": {"name": "t"}},
      "parallel_tool_calls": False}),
])
def test_tool_choice(choice: dict[str, Any], chat: dict[str, Any]) -> None:
    tool = {"name": "t", "input_schema": {"type": "object"}, "type": "custom"}
    req = parse(body(tools=[tool], tool_choice=choice))
    assert {k: req.body[k] for k in chat} == chat
    assert req.body["tools"] == [{"type": "function", "function": {
        "name": "t", "parameters": {"type": "object"}}}]


def test_tool_results_come_first_and_images_follow() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://x/p.png"}}
    req = parse(body(messages=[
        msg({"type": "tool_use", "id": "a", "name": "f", "input": {"x": 1}},
            {"type": "tool_use", "id": "b", "name": "f", "input": {}}, role="assistant"),
        msg({"type": "tool_result", "tool_use_id": "a", "content": "one", "is_error": True},
            {"type": "tool_result", "tool_use_id": "b", "content": [image]},
            {"type": "text", "text": "and?"}),
    ]))
    assert req.body["messages"][1:] == [
        {"role": "tool", "tool_call_id": "a", "content": "one"},
        {"role": "tool", "tool_call_id": "b", "content": ""},
        {"role": "user", "content": [
            {"type": "text", "text": "The image(s) returned by tool call b:"},
            {"type": "image_url", "image_url": {"url": "https://x/p.png"}},
            {"type": "text", "text": "and?"}]},
    ]


def test_empty_turns_are_skipped_and_text_joined() -> None:
    req = parse(body(system="", messages=[
        msg({"type": "text", "text": "a"}, {"type": "text", "text": "b"}),
        msg({"type": "thinking", "thinking": "x"}, role="assistant"),
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": ""},  # an empty final (prefill) turn is allowed
    ]))
    assert req.body["messages"] == [{"role": "user", "content": "a\nb"},
                                    {"role": "user", "content": "c"}]


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": ""}],
    [{"role": "user", "content": []}],
    [{"role": "assistant", "content": ""}, {"role": "user", "content": "x"}],
])
def test_empty_content_is_refused_as_anthropic_does(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest, match="non-empty content"):
        parse_messages(orjson.dumps(body(messages=messages)), {})


def test_nothing_to_answer() -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_messages(orjson.dumps(body(messages=[{"role": "assistant", "content": ""}])), {})
    assert info.value.param == "messages"


def test_structured_output() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    req = parse(body(output_config={"format": {"type": "json_schema", "schema": schema}}))
    assert req.body["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "output", "schema": schema}}


def test_count_tokens_needs_no_max_tokens() -> None:
    model, counted = DOOR.count_tokens(orjson.dumps({"model": "m", "messages": USER}), {})
    small = orjson.loads(counted)
    assert model == "m"
    tool = {"name": "lookup", "description": "Look things up in a large table",
            "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}}}
    big = orjson.loads(DOOR.count_tokens(orjson.dumps(
        {"model": "m", "messages": USER, "system": "Be terse.", "tools": [tool]}), {})[1])
    assert 0 < small["input_tokens"] < big["input_tokens"]
    with pytest.raises(InvalidRequest):
        DOOR.count_tokens(b'{"model": "m"}', {})
