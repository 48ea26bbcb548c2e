"""The chat door's parser: the client's bytes -> a validated `DoorRequest`, or a 400 naming the field.

Everything after this step may trust the shapes checked here (messages are objects with a known
role, content is a string or a list of typed parts, ...), so no later stage can turn a strange
body into a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from gateway.doors.base import DoorRequest
from gateway.doors.limits import check_depth, too_deep
from gateway.errors import InvalidRequest

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
PART_TYPES = frozenset({"text", "image_url", "input_audio", "file", "refusal"})


def _fail(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _content(content: Any, where: str, role: str) -> None:
    if content is None:
        if role in ("user", "system", "developer", "tool"):
            raise _fail(f"{where}.content is required for role {role!r}", f"{where}.content")
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _fail(f"{where}.content must be a string or an array of content parts",
                    f"{where}.content")
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        if not isinstance(part, dict):
            raise _fail(f"{at} must be an object", at)
        kind = part.get("type")
        if not isinstance(kind, str) or kind not in PART_TYPES:
            raise _fail(f"{at}.type must be one of {sorted(PART_TYPES)}, got {kind!r}", f"{at}.type")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _fail(f"{at}.text must be a string", f"{at}.text")
        if kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                raise _fail(f"{at}.image_url.url must be a string", f"{at}.image_url.url")


def _tool_calls(calls: Any, where: str) -> None:
    if not isinstance(calls, list):
        raise _fail(f"{where}.tool_calls must be an array", f"{where}.tool_calls")
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise _fail(f"{at}.id must be a string", f"{at}.id")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(
            fn.get("arguments"), str
        ):
            raise _fail(f"{at}.function needs a string name and arguments", f"{at}.function")


def _messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise _fail("messages must be a non-empty array", "messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _fail(f"{where} must be an object", where)
        role = message.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise _fail(f"{where}.role must be one of {sorted(ROLES)}, got {role!r}",
                        f"{where}.role")
        has_calls = message.get("tool_calls") is not None
        _content(message.get("content"), where, role if not has_calls else "assistant")
        if has_calls:
            _tool_calls(message["tool_calls"], where)
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise _fail(f"{where}.tool_call_id must be a string", f"{where}.tool_call_id")
        if "name" in message and not isinstance(message["name"], str):
            raise _fail(f"{where}.name must be a string", f"{where}.name")


def _tools(tools: Any) -> None:
    if not isinstance(tools, list):
        raise _fail("tools must be an array", "tools")
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise _fail(f"tools[{i}].type must be 'function'", f"tools[{i}].type")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _fail(f"tools[{i}].function.name must be a non-empty string",
                        f"tools[{i}].function.name")
        if "parameters" in fn and not isinstance(fn["parameters"], dict):
            raise _fail(f"tools[{i}].function.parameters must be an object",
                        f"tools[{i}].function.parameters")


def _tool_choice(choice: Any) -> None:
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise _fail("tool_choice must be 'none', 'auto', 'required' or an object",
                        "tool_choice")
        return
    fn = choice.get("function") if isinstance(choice, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
        raise _fail("tool_choice.function.name must be a string", "tool_choice")


def _response_format(fmt: Any) -> None:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if not isinstance(kind, str) or kind not in ("text", "json_object", "json_schema"):
        raise _fail("response_format.type must be 'text', 'json_object' or 'json_schema'",
                    "response_format")
    if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
        raise _fail("response_format.json_schema must be an object", "response_format.json_schema")


def _stop(stop: Any) -> None:
    ok = isinstance(stop, str) or (
        isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop)
    )
    if not ok:
        raise _fail("stop must be a string or an array of up to 4 strings", "stop")


def _range(name: str, lo: float, hi: float, integer: bool = False) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not (_is_int(value) if integer else _is_num(value)) or not lo <= value <= hi:
            kind = "an integer" if integer else "a number"
            raise _fail(f"{name} must be {kind} between {lo:g} and {hi:g}, got {value!r}", name)

    return check


def _type(name: str, kind: type, label: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, kind):
            raise _fail(f"{name} must be {label}", name)

    return check


_CHECKS: dict[str, Callable[[Any], None]] = {
    "tools": _tools,
    "tool_choice": _tool_choice,
    "response_format": _response_format,
    "stop": _stop,
    "n": _range("n", 1, 128, integer=True),
    "temperature": _range("temperature", 0, 2),
    "top_p": _range("top_p", 0, 1),
    "presence_penalty": _range("presence_penalty", -2, 2),
    "frequency_penalty": _range("frequency_penalty", -2, 2),
    "max_tokens": _range("max_tokens", 1, 10_000_000, integer=True),
    "max_completion_tokens": _range("max_completion_tokens", 1, 10_000_000, integer=True),
    "seed": _range("seed", -(2**63), 2**63 - 1, integer=True),
    "top_logprobs": _range("top_logprobs", 0, 20, integer=True),
    "logprobs": _type("logprobs", bool, "a boolean"),
    "parallel_tool_calls": _type("parallel_tool_calls", bool, "a boolean"),
    "user": _type("user", str, "a string"),
    "metadata": _type("metadata", dict, "an object"),
    "logit_bias": _type("logit_bias", dict, "an object"),
}


def parse_chat(raw: bytes) -> DoorRequest:
    """Validate a chat-completions body. Raises InvalidRequest naming the first bad field."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise too_deep(raw) from None
        raise _fail(f"The request body is not valid JSON: {exc}", None) from None
    if not isinstance(body, dict):
        raise _fail("The request body must be a JSON object", None)
    check_depth(body, raw)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _fail("model is required and must be a non-empty string", "model")
    _messages(body.get("messages"))
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _fail("stream must be a boolean", "stream")
    options = body.get("stream_options")
    if options is not None and (
        not isinstance(options, dict)
        or not isinstance(options.get("include_usage", False), bool)
    ):
        raise _fail("stream_options.include_usage must be a boolean", "stream_options")
    for key, check in _CHECKS.items():
        value = body.get(key)
        if value is not None:
            check(value)
    routing = body.pop("routing", None)
    if routing is None:
        routing = {}
    if not isinstance(routing, dict):
        raise _fail("routing must be an object", "routing")
    user = body.get("user")
    return DoorRequest(
        endpoint="chat", body=body, model=model, stream=stream,
        include_usage=bool(stream and options and options.get("include_usage")), routing=routing,
        user=user if isinstance(user, str) else None,
    )
