"""Messages door, answer: a chat completion -> an Anthropic message; errors in Anthropic's shape.

Usage keeps Anthropic's meaning: `input_tokens` counts only the uncached part of the prompt,
beside `cache_read_input_tokens` and `cache_creation_input_tokens` (OpenAI's `prompt_tokens`
counts all three; its details say how many were read from or written to the cache).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import GatewayError
from providers.anthropic_response import ERROR_STATUSES
from providers.base import Usage

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
# Anthropic's error type for each status it uses, and ours that it does not.
ERROR_TYPES = {
    **{status: kind for kind, status in ERROR_STATUSES.items()},
    502: "api_error",
    503: "overloaded_error",
}


def stop_reason(finish_reason: Any) -> str:
    return STOP_REASONS.get(str(finish_reason), "end_turn")


def anthropic_usage(usage: Mapping[str, Any] | Usage | None) -> dict[str, int]:
    """OpenAI usage (a dict, or our Usage) -> Anthropic's four counts."""
    if isinstance(usage, Usage):
        usage = usage.raw or {
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        }
    usage = usage or {}
    details = usage.get("prompt_tokens_details") or {}
    read = _count(details.get("cached_tokens"))
    written = _count(details.get("cache_write_tokens") or usage.get("cache_creation_input_tokens"))
    prompt = _count(usage.get("prompt_tokens"))
    return {
        "input_tokens": max(prompt - read - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": _count(usage.get("completion_tokens")),
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def tool_use_id(value: Any) -> str:
    """The upstream's tool-call id, or a fresh one when it sent none (Anthropic requires one)."""
    return value if isinstance(value, str) and value else f"toolu_{uuid.uuid4().hex[:24]}"


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's JSON arguments as the object Anthropic's `input` must be ({} if not one)."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        value = orjson.loads(arguments or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def render_message(message_id: str, completion: Mapping[str, Any]) -> dict[str, Any]:
    """The Messages API answer for a `chat.completion` (its first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    chat = choice.get("message") or {}
    blocks: list[dict[str, Any]] = []
    text = chat.get("content") or chat.get("refusal")
    if isinstance(text, str) and text:
        blocks.append({"type": "text", "text": text})
    for call in chat.get("tool_calls") or ():
        function = call.get("function") or {}
        blocks.append({
            "type": "tool_use", "id": tool_use_id(call.get("id")),
            "name": str(function.get("name") or ""), "input": tool_input(function.get("arguments")),
        })
    reason = "refusal" if chat.get("refusal") and not chat.get("content") else stop_reason(
        choice.get("finish_reason"))
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": str(completion.get("model") or ""),
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": anthropic_usage(completion.get("usage")),
    }


def error_shape(exc: GatewayError) -> dict[str, Any]:
    kind = ERROR_TYPES.get(exc.status, "invalid_request_error" if exc.status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": exc.message}}


def error_body(exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
    return exc.status, orjson.dumps(error_shape(exc)), exc.headers()
