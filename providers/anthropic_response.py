"""Anthropic adapter, inbound: a Messages answer or its SSE events -> OpenAI chat-completion shape.

`completion()` translates a whole message; `StreamTranslator` turns the event sequence
(message_start, content_block_start/delta/stop, message_delta, message_stop, ping, error) into
`chat.completion.chunk` dicts that share one id and `created`, with tool-call deltas in OpenAI's
shape: id, type and name only in the first fragment of each tool call's index.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamConnectionError
from providers.base import Usage
from providers.http import http_error

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# The status Anthropic sends with each error type, for errors that arrive inside a stream.
ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage_of(raw: Mapping[str, Any] | None) -> Usage:
    """Anthropic usage -> ours. OpenAI's prompt_tokens counts cached input too, so it is the sum."""
    raw = raw or {}
    fresh = int(raw.get("input_tokens") or 0)
    cache_read = int(raw.get("cache_read_input_tokens") or 0)
    cache_write = int(raw.get("cache_creation_input_tokens") or 0)
    output = int(raw.get("output_tokens") or 0)
    prompt = fresh + cache_read + cache_write
    openai: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
    }
    extra = {"cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write}
    return Usage(prompt_tokens=prompt, completion_tokens=output, raw={**openai, **extra})


def openai_usage(usage: Usage) -> dict[str, Any]:
    """The OpenAI-shaped part of `usage.raw` (what goes into a body; the extras stay in raw)."""
    keys = ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details")
    return {k: usage.raw[k] for k in keys if k in usage.raw}


def completion(message: Mapping[str, Any], model_id: str) -> tuple[dict[str, Any], Usage]:
    """A Messages API answer -> (chat.completion body, usage)."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        # thinking / redacted_thinking / server tool blocks have no chat-completions field
    out_message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    usage = usage_of(message.get("usage"))
    body = {
        "id": str(message.get("id") or "msg"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "logprobs": None,
                "finish_reason": finish_reason(message.get("stop_reason")),
            }
        ],
        "usage": openai_usage(usage),
    }
    return body, usage


def stream_error(data: Mapping[str, Any], who: str) -> ProviderError:
    """An `error` event mid-stream -> the error its HTTP status would have been."""
    err = data.get("error")
    kind = err.get("type") if isinstance(err, Mapping) else None
    status = ERROR_STATUSES.get(str(kind), 500)
    return http_error(status, orjson.dumps(data), {}, f"{who} (mid-stream)")


class StreamTranslator:
    """Feeds on Anthropic stream events, one at a time; emits OpenAI chunk dicts."""

    def __init__(self, model_id: str, who: str) -> None:
        self.model_id = model_id
        self.who = who
        self.id = "msg"
        self.created = int(time.time())
        self.done = False
        self._usage: dict[str, Any] = {}
        self._tools: dict[int, int] = {}  # Anthropic content-block index -> OpenAI tool index
        self._finished = False

    def feed(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The chunks one event produces (often none). Raises on an `error` event."""
        kind = data.get("type")
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "message_start":
            message = data.get("message") or {}
            self.id = str(message.get("id") or self.id)
            self._usage.update(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "message_delta":
            # message_delta's usage is cumulative; newer API versions repeat input counts there.
            self._usage.update(
                {k: v for k, v in (data.get("usage") or {}).items() if v is not None}
            )
            reason = (data.get("delta") or {}).get("stop_reason")
            return self._finish(reason) if reason else []
        if kind == "message_stop":
            self.done = True
            return [] if self._finished else self._finish("end_turn")
        if kind == "error":
            raise stream_error(data, self.who)
        return []  # ping, content_block_stop and event types added later carry nothing for us

    def _block_start(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        block = data.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return [self._chunk({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        index = len(self._tools)
        self._tools[int(data.get("index") or 0)] = index
        preset = block.get("input")
        arguments = orjson.dumps(preset).decode() if preset else ""
        call = {
            "index": index,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": arguments},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        delta = data.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunk({"content": delta["text"]})]
        if kind == "input_json_delta" and delta.get("partial_json"):
            index = self._tools.get(int(data.get("index") or 0))
            if index is None:
                return []  # a fragment for a block we never saw start: nothing to attach it to
            call = {"index": index, "function": {"arguments": delta["partial_json"]}}
            return [self._chunk({"tool_calls": [call]})]
        return []  # thinking_delta, signature_delta, citations_delta

    def _finish(self, stop_reason: Any) -> list[dict[str, Any]]:
        self._finished = True
        return [self._chunk({}, finish_reason(stop_reason))]

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    def usage(self) -> Usage:
        """The total usage, its `frame` the OpenAI usage chunk. Raises if the stream was cut."""
        if not self.done:
            raise UpstreamConnectionError(f"{self.who}: stream ended before message_stop")
        usage = usage_of(self._usage)
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [],
            "usage": openai_usage(usage),
        }
        usage.frame = b"data: " + orjson.dumps(chunk) + b"\n\n"
        return usage
