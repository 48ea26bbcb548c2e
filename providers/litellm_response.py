"""litellm adapter, inbound: litellm's answers and stream chunks -> OpenAI's exact shape (pure).

litellm's objects carry fields of their own (provider_specific_fields, function_call: null, a
usage chunk with an empty choice); clients and OpenAI's schema expect none of that. Stream
chunks get one id and `created`, the role first, and tool-call fragments in OpenAI's shape:
id, type and name only in the first fragment of each index.
"""

from __future__ import annotations

import struct
import time
from base64 import b64encode
from collections.abc import Mapping
from typing import Any

import orjson

from providers.base import Usage

FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


def openai_usage(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fields of OpenAI's CompletionUsage, integers only (litellm adds its own keys)."""
    raw = raw or {}
    prompt = int(raw.get("prompt_tokens") or 0)
    output = int(raw.get("completion_tokens") or 0)
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": int(raw.get("total_tokens") or prompt + output),
    }
    for key in ("prompt_tokens_details", "completion_tokens_details"):
        details = raw.get(key)
        if isinstance(details, Mapping):
            ints = {k: v for k, v in details.items() if isinstance(v, int)}
            if ints:
                out[key] = ints
    return out


def usage_of(raw: Mapping[str, Any] | None, frame: bytes | None = None) -> Usage:
    # raw keeps litellm's extras (cache_read_input_tokens, ...) for repricing.
    clean = {k: v for k, v in (raw or {}).items() if v is not None}
    return Usage.from_openai({**clean, **openai_usage(raw)}, frame=frame)


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for call in calls or []:
        fn = call.get("function") or {}
        out.append(
            {
                "id": call.get("id") or "",
                "type": "function",
                "function": {"name": fn.get("name") or "", "arguments": fn.get("arguments") or ""},
            }
        )
    return out


def _logprobs(value: Any) -> dict[str, Any] | None:
    if isinstance(value, Mapping) and "content" in value:
        return {"content": value.get("content"), "refusal": value.get("refusal")}
    return None


def completion(data: Mapping[str, Any], model_id: str) -> tuple[dict[str, Any], Usage]:
    """`ModelResponse.model_dump()` -> (chat.completion body, usage)."""
    choices = []
    for i, choice in enumerate(data.get("choices") or []):
        msg = choice.get("message") or {}
        extra = msg.get("provider_specific_fields") or {}
        message: dict[str, Any] = {
            "role": "assistant",
            "content": msg.get("content"),
            "refusal": msg.get("refusal") or extra.get("refusal"),
        }
        if msg.get("tool_calls"):
            message["tool_calls"] = _tool_calls(msg["tool_calls"])
        if isinstance(msg.get("annotations"), list):
            message["annotations"] = msg["annotations"]
        reason = choice.get("finish_reason")
        choices.append(
            {
                "index": int(choice.get("index") or i),
                "message": message,
                "logprobs": _logprobs(choice.get("logprobs")),
                "finish_reason": reason if reason in FINISH_REASONS else "stop",
            }
        )
    usage = usage_of(data.get("usage"))
    body = {
        "id": str(data.get("id") or "chatcmpl"),
        "object": "chat.completion",
        "created": int(data.get("created") or time.time()),
        "model": model_id,
        "choices": choices,
        "usage": openai_usage(data.get("usage")),
    }
    return body, usage


class ChunkNormalizer:
    """litellm stream chunks -> OpenAI chunks: one id and `created`, the role first, tool-call
    fragments in OpenAI's shape, and the usage lifted out into its own final chunk."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.id: str | None = None
        self.created = int(time.time())
        self._tools: dict[tuple[int, int], tuple[int, str]] = {}  # (choice, up idx) -> (ours, id)
        self._next_tool: dict[int, int] = {}
        self._started: set[int] = set()
        self._usage: Mapping[str, Any] | None = None

    def feed(self, data: Mapping[str, Any]) -> list[dict[str, Any]]:
        if self.id is None:
            self.id = str(data.get("id") or "chatcmpl")
            self.created = int(data.get("created") or self.created)
        if data.get("usage"):
            self._usage = data["usage"]
        choices = []
        for choice in data.get("choices") or []:
            index = int(choice.get("index") or 0)
            delta = self._delta(index, choice.get("delta") or {})
            reason = choice.get("finish_reason")
            finish = (reason if reason in FINISH_REASONS else "stop") if reason else None
            if delta or finish:
                choices.append(
                    {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
                )
        return [self._chunk(choices)] if choices else []

    def _delta(self, choice: int, delta: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if choice not in self._started:  # OpenAI's first chunk names the role
            self._started.add(choice)
            out = {"role": "assistant", "content": ""}
        if delta.get("content"):
            out["content"] = delta["content"]
        if delta.get("refusal"):
            out["refusal"] = delta["refusal"]
        calls = [
            c
            for c in (self._tool_call(choice, t) for t in delta.get("tool_calls") or [])
            if c is not None
        ]
        if calls:
            out["tool_calls"] = calls
        return out

    def _tool_call(self, choice: int, call: Mapping[str, Any]) -> dict[str, Any] | None:
        fn = call.get("function") or {}
        arguments = fn.get("arguments") or ""
        key = (choice, int(call.get("index") or 0))
        known = self._tools.get(key)
        # Some providers resend id and name with every fragment; a *different* id at a known
        # index is a new call (providers that number every call 0).
        if known is None or (call.get("id") and call["id"] != known[1]):
            ours = self._next_tool.get(choice, 0)
            self._next_tool[choice] = ours + 1
            call_id = str(call.get("id") or f"call_{choice}_{ours}")
            self._tools[key] = (ours, call_id)
            return {
                "index": ours,
                "id": call_id,
                "type": "function",
                "function": {"name": fn.get("name") or "", "arguments": arguments},
            }
        if not arguments:
            return None
        return {"index": known[0], "function": {"arguments": arguments}}

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id or "chatcmpl",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": choices,
            **extra,
        }

    def usage(self) -> Usage:
        frame = b"data: " + orjson.dumps(self._chunk([], usage=openai_usage(self._usage))) + b"\n\n"
        return usage_of(self._usage, frame=frame)


def embeddings(
    raw: Mapping[str, Any], model_id: str, *, base64: bool = False
) -> tuple[dict[str, Any], Usage]:
    """litellm's EmbeddingResponse (dumped) -> OpenAI's embeddings list, and its usage. With
    `base64`, each vector is packed as OpenAI packs it: little-endian float32, base64."""
    data = []
    for i, item in enumerate(raw.get("data") or []):
        vector = item.get("embedding") if isinstance(item, Mapping) else item
        index = item.get("index", i) if isinstance(item, Mapping) else i
        if base64 and isinstance(vector, list):
            vector = b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    usage = raw.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    total = int(usage.get("total_tokens") or prompt)
    counts = {"prompt_tokens": prompt, "total_tokens": total}
    body = {"object": "list", "data": data, "model": model_id, "usage": counts}
    return body, Usage(prompt_tokens=prompt, raw=dict(counts))
