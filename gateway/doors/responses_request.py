"""Responses door, parse: a Responses API body -> a validated request, or a 400 naming the field.

The checks follow OpenAI's own field names (`input[2].content[0].type`). What a chat-completions
upstream cannot do is refused here rather than silently ignored: tools other than functions,
background runs, conversations, stored prompts, item references, built-in tool items.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.doors.base import DoorRequest
from gateway.doors.checks import fail, flag, load_object, model_name, number, pop_routing, text
from gateway.doors.responses_translate import Item, to_chat

ROLES = ("user", "assistant", "system", "developer")
INPUT_PARTS = ("input_text", "input_image", "input_file")
OUTPUT_PARTS = ("output_text", "refusal", "input_text")
FORMATS = ("text", "json_object", "json_schema")
UNSUPPORTED = ("background", "conversation", "prompt")
# Request fields the Response object repeats back, with OpenAI's defaults.
ECHOED: dict[str, Any] = {
    "instructions": None, "max_output_tokens": None, "metadata": {}, "parallel_tool_calls": True,
    "previous_response_id": None, "reasoning": None, "store": True, "temperature": 1.0,
    "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
    "truncation": "disabled", "user": None,
}


@dataclass(frozen=True, kw_only=True)
class ResponsesRequest(DoorRequest):
    id: str  # the `resp_...` id of the answer
    items: list[Item]  # the conversation's input items, earlier turns' included once resolved
    previous_response_id: str | None = None
    store: bool = True
    echo: dict[str, Any] = field(default_factory=dict)  # what the Response repeats back
    source: dict[str, Any] = field(default_factory=dict)  # the client's body, without routing


def parse_responses(raw: bytes, headers: Mapping[str, str]) -> ResponsesRequest:
    body = load_object(raw)
    model = model_name(body)
    for key in UNSUPPORTED:
        if body.get(key) is not None and body.get(key) is not False:
            raise fail(f"{key} is not supported by this gateway", key)
    items = check_input(body.get("input"), body.get("previous_response_id"))
    instructions = text(body, "instructions")
    check_tools(body.get("tools"))
    check_tool_choice(body.get("tool_choice"))
    check_text(body.get("text"))
    check_metadata(body.get("metadata"))
    number(body, "max_output_tokens", 1, None, integer=True)
    number(body, "temperature", 0, 2)
    number(body, "top_p", 0, 1)
    for key in ("stream", "store", "parallel_tool_calls"):
        flag(body, key)
    for key in ("previous_response_id", "user", "safety_identifier", "prompt_cache_key"):
        text(body, key)
    reasoning = body.get("reasoning")
    if reasoning is not None and (not isinstance(reasoning, dict) or not isinstance(
            reasoning.get("effort", ""), str | None)):
        raise fail("reasoning.effort must be a string", "reasoning")
    routing = pop_routing(body)
    echo = {key: body[key] if body.get(key) is not None else default
            for key, default in ECHOED.items()}
    return ResponsesRequest(
        endpoint="responses", body=to_chat(body, instructions, items), model=model,
        stream=bool(body.get("stream")), include_usage=False, routing=routing,
        id=f"resp_{uuid.uuid4().hex}", items=items,
        previous_response_id=body.get("previous_response_id"),
        store=body.get("store") is not False, echo=echo, source=body,
    )


# -- input -------------------------------------------------------------------------------------


def check_input(value: Any, previous: Any) -> list[Item]:
    """The input as a list of items (a string is one user message)."""
    if value is None and previous is None:
        raise fail("input is required", "input")
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list):
        raise fail("input must be a string or an array of input items", "input")
    for i, item in enumerate(value):
        check_item(item, f"input[{i}]")
    return value


def check_item(item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise fail(f"{where} must be an object", where)
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ROLES:
            raise fail(f"{where}.role must be one of {', '.join(ROLES)}", f"{where}.role")
        # chat completions carry images and files in user turns only
        parts = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS if role == "user" else \
            ("input_text",)
        _content(item.get("content"), f"{where}.content", parts)
    elif kind == "function_call":
        for key in ("call_id", "name", "arguments"):
            if not isinstance(item.get(key), str):
                raise fail(f"{where}.{key} must be a string", f"{where}.{key}")
    elif kind == "function_call_output":
        if not isinstance(item.get("call_id"), str):
            raise fail(f"{where}.call_id must be a string", f"{where}.call_id")
        output = item.get("output")
        if not isinstance(output, str):
            _content(output, f"{where}.output", INPUT_PARTS)
    elif kind != "reasoning":  # reasoning items are carried by clients; they hold nothing for us
        raise fail(f"{where}.type {kind!r} is not supported: use message, function_call or "
                   "function_call_output items", f"{where}.type")


def _content(content: Any, where: str, allowed: tuple[str, ...]) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(f"{where} must be a string or an array of content parts", where)
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in allowed:
            raise fail(f"{at}.type must be one of {', '.join(allowed)}", f"{at}.type")
        assert isinstance(part, dict)
        if kind in ("input_text", "output_text") and not isinstance(part.get("text"), str):
            raise fail(f"{at}.text must be a string", f"{at}.text")
        if kind == "refusal" and not isinstance(part.get("refusal"), str):
            raise fail(f"{at}.refusal must be a string", f"{at}.refusal")
        if kind == "input_image" and not isinstance(part.get("image_url"), str):
            raise fail(f"{at}.image_url must be a URL string (file ids are not supported)",
                       f"{at}.image_url")
        if kind == "input_file" and not any(
            isinstance(part.get(k), str) for k in ("file_data", "file_id")
        ):
            raise fail(f"{at} needs file_data or file_id", f"{at}.file_data")


# -- tools and options ---------------------------------------------------------------------------


def check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise fail("tools must be an array", "tools")
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise fail(f"{where}.type: only function tools are supported", f"{where}.type")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise fail(f"{where}.name must be a non-empty string", f"{where}.name")
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise fail(f"{where}.parameters must be an object", f"{where}.parameters")
        for key, kind in (("description", str), ("strict", bool)):
            if tool.get(key) is not None and not isinstance(tool[key], kind):
                raise fail(f"{where}.{key} has the wrong type", f"{where}.{key}")


def check_tool_choice(choice: Any) -> None:
    if choice is None or choice in ("none", "auto", "required"):
        return
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(
            choice.get("name"), str):
        return
    raise fail("tool_choice must be 'none', 'auto', 'required' or "
               "{\"type\": \"function\", \"name\": ...}", "tool_choice")


def check_text(value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise fail("text must be an object", "text")
    fmt = value.get("format")
    if fmt is None:
        return
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in FORMATS:
        raise fail(f"text.format.type must be one of {', '.join(FORMATS)}", "text.format.type")
    assert isinstance(fmt, dict)
    if kind == "json_schema":
        if not isinstance(fmt.get("name"), str) or not fmt["name"]:
            raise fail("text.format.name must be a non-empty string", "text.format.name")
        if not isinstance(fmt.get("schema"), dict):
            raise fail("text.format.schema must be an object", "text.format.schema")
        if fmt.get("strict") is not None and not isinstance(fmt["strict"], bool):
            raise fail("text.format.strict must be a boolean", "text.format.strict")


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    ok = isinstance(metadata, dict) and len(metadata) <= 16 and all(
        isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
        for k, v in metadata.items()
    )
    if not ok:
        raise fail("metadata must be an object of at most 16 string values", "metadata")
