"""Doors, parse: the small checks every door's parser shares (JSON object, numbers, flags).

Each raises InvalidRequest naming the field, so a door's parser reads as a list of its fields.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import InvalidRequest


def fail(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def load_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise fail(f"The request body is not valid JSON: {exc}", None) from None
    if not isinstance(body, dict):
        raise fail("The request body must be a JSON object", None)
    return body


def model_name(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise fail("model is required and must be a non-empty string", "model")
    return model


def flag(body: dict[str, Any], key: str) -> bool | None:
    """An optional boolean (null reads as absent)."""
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise fail(f"{key} must be a boolean", key)
    return value


def number(
    body: dict[str, Any], key: str, lo: float, hi: float | None, *, integer: bool = False
) -> Any:
    """An optional number within [lo, hi] (hi None: no upper bound)."""
    value = body.get(key)
    if value is None:
        return None
    ok = is_int(value) if integer else is_num(value)
    if not ok or value < lo or (hi is not None and value > hi):
        kind = "an integer" if integer else "a number"
        span = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
        raise fail(f"{key} must be {kind} {span}, got {value!r}", key)
    return value


def text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f"{key} must be a string", key)
    return value


def pop_routing(body: dict[str, Any]) -> dict[str, Any]:
    """Remove and return the gateway's own `routing` options (never sent upstream)."""
    routing = body.pop("routing", None)
    if routing is None:
        return {}
    if not isinstance(routing, dict):
        raise fail("routing must be an object", "routing")
    return routing
