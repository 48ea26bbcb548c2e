"""Messages door, parse: an Anthropic Messages body -> a validated request, or a 400 naming the field.

Checks what the Messages API itself checks (field names as Anthropic writes them:
`messages.1.content.0.text`), keeps every field it does not know (the native path forwards the
body as the client sent it), and leaves the translation to chat completions to
`messages_translate`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.doors.base import DoorRequest
from gateway.doors.checks import fail, flag, is_int, load_object, model_name, number, pop_routing
from gateway.doors.messages_translate import to_chat

# Headers an Anthropic upstream needs from the client: its API version and opted-in betas.
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")
ROLES = ("user", "assistant")
IMAGE_SOURCES = ("base64", "url", "file")
TOOL_CHOICES = ("auto", "any", "tool", "none")


@dataclass(frozen=True, kw_only=True)
class MessagesRequest(DoorRequest):
    id: str  # the `msg_...` id of the answer
    dropped: tuple[str, ...] = ()  # what the chat translation could not carry (see translate)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def parse_messages(
    raw: bytes, headers: Mapping[str, str], *, counting: bool = False
) -> MessagesRequest:
    """Validate a Messages body (`counting`: a count_tokens body, where max_tokens is not asked)."""
    body = load_object(raw)
    model = model_name(body)
    if not counting and (not is_int(body.get("max_tokens")) or body["max_tokens"] < 1):
        raise fail("max_tokens: Field required, a positive integer", "max_tokens")
    check_messages(body.get("messages"))
    check_system(body.get("system"))
    check_tools(body.get("tools"))
    check_tool_choice(body.get("tool_choice"))
    check_options(body)
    stream = bool(flag(body, "stream")) and not counting
    routing = pop_routing(body)
    dropped: list[str] = []
    chat = to_chat(body, dropped)
    if not chat["messages"] and not dropped:  # e.g. one empty assistant turn: nothing to answer
        raise fail("messages: at least one message must have content", "messages")
    return MessagesRequest(
        endpoint="messages", body=chat, model=model, stream=stream, include_usage=False,
        routing=routing, native=body, native_headers=_forwarded(headers),
        id=new_id("msg"), dropped=tuple(dropped),
    )


def _forwarded(headers: Mapping[str, str]) -> dict[str, str]:
    out = {}
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value:
            out[name] = value
    return out


# -- messages and their content blocks -------------------------------------------------------


def check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise fail("messages: at least one message is required", "messages")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise fail(f"{where}: must be an object", where)
        role = message.get("role")
        if role not in ROLES:
            raise fail(f"{where}.role: Input should be 'user' or 'assistant'", f"{where}.role")
        content = message.get("content")
        if content in ("", []) and not (role == "assistant" and i == len(messages) - 1):
            raise fail(f"{where}.content: all messages must have non-empty content except for "
                       "the optional final assistant message", f"{where}.content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise fail(f"{where}.content: must be a string or a list of content blocks",
                       f"{where}.content")
        for j, block in enumerate(content):
            check_block(block, f"{where}.content.{j}", role)


def _need(block: dict[str, Any], key: str, kind: type, where: str, label: str) -> None:
    if not isinstance(block.get(key), kind):
        raise fail(f"{where}.{key}: must be {label}", f"{where}.{key}")


def check_block(block: Any, where: str, role: str | None) -> None:
    """One content block; `role` None inside a tool_result (text and images only)."""
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise fail(f"{where}: must be an object with a string type", where)
    kind = block["type"]
    if "cache_control" in block and not isinstance(block["cache_control"], dict | None):
        raise fail(f"{where}.cache_control: must be an object", f"{where}.cache_control")
    if kind == "text":
        _need(block, "text", str, where, "a string")
    elif kind == "image":
        _image_source(block.get("source"), f"{where}.source")
    elif kind == "document":
        _need(block, "source", dict, where, "an object")
    elif kind in ("tool_use", "tool_result") and role is None:
        raise fail(f"{where}.type: a tool_result holds text and image blocks only", f"{where}.type")
    elif kind == "tool_use":
        if role != "assistant":
            raise fail(f"{where}: tool_use blocks belong to assistant messages", f"{where}.type")
        _need(block, "id", str, where, "a string")
        _need(block, "name", str, where, "a string")
        _need(block, "input", dict, where, "an object")
    elif kind == "tool_result":
        if role != "user":
            raise fail(f"{where}: tool_result blocks belong to user messages", f"{where}.type")
        _need(block, "tool_use_id", str, where, "a string")
        _tool_result_content(block.get("content"), f"{where}.content")
        if block.get("is_error") is not None and not isinstance(block["is_error"], bool):
            raise fail(f"{where}.is_error: must be a boolean", f"{where}.is_error")
    elif kind == "thinking":
        _need(block, "thinking", str, where, "a string")
    elif kind == "redacted_thinking":
        _need(block, "data", str, where, "a string")
    # Other block types (server tool results, search results, ...) are Anthropic's to judge.


def _image_source(source: Any, where: str) -> None:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind not in IMAGE_SOURCES:
        raise fail(f"{where}.type: must be one of {', '.join(IMAGE_SOURCES)}", f"{where}.type")
    assert isinstance(source, dict)
    if kind == "base64":
        _need(source, "media_type", str, where, "a string")
        _need(source, "data", str, where, "a string")
    elif kind == "url":
        _need(source, "url", str, where, "a string")
    else:
        _need(source, "file_id", str, where, "a string")


def _tool_result_content(content: Any, where: str) -> None:
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise fail(f"{where}: must be a string or a list of content blocks", where)
    for k, block in enumerate(content):
        check_block(block, f"{where}.{k}", None)


def check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise fail("system: must be a string or a list of text blocks", "system")
    for i, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise fail(f"system.{i}.type: must be 'text'", f"system.{i}.type")
        _need(block, "text", str, f"system.{i}", "a string")


# -- tools and options ------------------------------------------------------------------------


def check_tools(tools: Any) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise fail("tools: must be a list", "tools")
    for i, tool in enumerate(tools):
        where = f"tools.{i}"
        if not isinstance(tool, dict):
            raise fail(f"{where}: must be an object", where)
        _need(tool, "name", str, where, "a string")
        if not tool["name"]:
            raise fail(f"{where}.name: must not be empty", f"{where}.name")
        kind = tool.get("type")
        if kind is not None and not isinstance(kind, str):
            raise fail(f"{where}.type: must be a string", f"{where}.type")
        if kind in (None, "custom"):  # the others are Anthropic's own tools, with set schemas
            _need(tool, "input_schema", dict, where, "an object")
            if tool.get("description") is not None:
                _need(tool, "description", str, where, "a string")


def check_tool_choice(choice: Any) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in TOOL_CHOICES:
        raise fail(f"tool_choice.type: must be one of {', '.join(TOOL_CHOICES)}",
                   "tool_choice.type")
    assert isinstance(choice, dict)
    if kind == "tool":
        _need(choice, "name", str, "tool_choice", "a string")
    parallel = choice.get("disable_parallel_tool_use")
    if parallel is not None and not isinstance(parallel, bool):
        raise fail("tool_choice.disable_parallel_tool_use: must be a boolean",
                   "tool_choice.disable_parallel_tool_use")


def check_options(body: dict[str, Any]) -> None:
    number(body, "temperature", 0, 1)
    number(body, "top_p", 0, 1)
    number(body, "top_k", 0, None, integer=True)
    stops = body.get("stop_sequences")
    if stops is not None and (
        not isinstance(stops, list) or not all(isinstance(s, str) for s in stops)
    ):
        raise fail("stop_sequences: must be a list of strings", "stop_sequences")
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise fail("metadata: must be an object", "metadata")
        if metadata.get("user_id") is not None and not isinstance(metadata["user_id"], str):
            raise fail("metadata.user_id: must be a string", "metadata.user_id")
    config = body.get("output_config")
    if config is not None:
        fmt = config.get("format") if isinstance(config, dict) else None
        if not isinstance(config, dict) or not (fmt is None or (
                isinstance(fmt, dict) and fmt.get("type") == "json_schema"
                and isinstance(fmt.get("schema"), dict))):
            raise fail("output_config.format: must be {\"type\": \"json_schema\", \"schema\": {...}}",
                       "output_config.format")
    thinking = body.get("thinking")
    if thinking is not None and not isinstance(thinking, dict):
        raise fail("thinking: must be an object", "thinking")
