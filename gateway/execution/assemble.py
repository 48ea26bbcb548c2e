"""Execution: a non-streamed answer assembled from the upstream's stream (a wrapper, itself an
Upstream).

Asking the upstream for a stream even when the client did not is what lets the first-token and
idle limits bound a non-streamed call (a non-streamed upstream answer arrives only when it is
complete, so a slow start and a long answer look the same), and lets a call cut halfway be
retried or fall back before the client has seen anything. The assembled body is the
chat.completion OpenAI would have sent: same id, choices, tool calls, logprobs and usage.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.errors import ProviderError, UpstreamConnectionError
from gateway.resilience.timeouts import closing
from gateway.usage.estimate import delivered_text
from providers.base import Completion, Upstream, UpstreamCall, Usage


class Assembled:
    def __init__(self, inner: Upstream) -> None:
        self.inner = inner
        self.name = inner.name

    def __repr__(self) -> str:
        return f"<Assembled {self.inner!r}>"

    async def complete(self, call: UpstreamCall) -> Completion:
        collect = getattr(self.inner, "collect", None)
        if collect is not None:  # the adapter parses each chunk once and reads in one go
            chunks, usage = await collect(call.streamed(collect=True))
            return Completion(assemble_chunks(chunks, usage, call.model.id), usage)
        frames: list[bytes] = []
        usage = None
        try:
            async with closing(self.inner.stream(call.streamed(collect=True))) as items:
                async for item in items:
                    if isinstance(item, Usage):
                        usage = item
                    else:
                        frames.append(item)
        except ProviderError as exc:
            exc.delivered = delivered_text(frames)  # billed though cut: the attempt row counts it
            raise
        if usage is None:
            raise UpstreamConnectionError(f"{self.name}: the stream ended without its usage")
        return Completion(assemble(frames, usage, call.model.id), usage)

    def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        return self.inner.stream(call)


def assemble(frames: list[bytes], usage: Usage, model_id: str) -> bytes:
    """OpenAI chunk frames (``data: {...}``) -> the chat.completion body they add up to."""
    chunks = []
    for frame in frames:
        try:
            chunks.append(orjson.loads(frame[5:]))
        except orjson.JSONDecodeError:
            continue  # providers drop malformed frames; a stray one must not fail the answer
    return assemble_chunks(chunks, usage, model_id)


def assemble_chunks(chunks: list[dict[str, Any]], usage: Usage, model_id: str) -> bytes:
    """Parsed OpenAI chunks -> the chat.completion body they add up to."""
    head: dict[str, Any] = {}
    choices: dict[int, _Choice] = {}
    for chunk in chunks:
        if not head:
            head = chunk
        for c in chunk.get("choices") or ():
            index = c.get("index") or 0
            choice = choices.get(index)
            if choice is None:
                choice = choices[index] = _Choice(index)
            choice.add(c)
    body: dict[str, Any] = {
        "id": head.get("id") or "chatcmpl-gateway",
        "object": "chat.completion",
        "created": head.get("created") or 0,
        "model": model_id,
        "choices": [choices[i].render() for i in sorted(choices)],
    }
    for key in ("system_fingerprint", "service_tier"):
        if head.get(key) is not None:
            body[key] = head[key]
    if usage.raw and not usage.raw.get("estimated"):
        body["usage"] = usage.raw
    return orjson.dumps(body)


class _Choice:
    __slots__ = ("content", "finish", "index", "logprobs", "refusal", "role", "tools")

    def __init__(self, index: int) -> None:
        self.index = index
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.logprobs: dict[str, list[Any]] | None = None

    def add(self, c: dict[str, Any]) -> None:
        delta = c.get("delta") or {}
        if delta.get("role"):
            self.role = delta["role"]
        if delta.get("content"):
            self.content.append(delta["content"])
        if delta.get("refusal"):
            self.refusal.append(delta["refusal"])
        for t in delta.get("tool_calls") or ():
            call = self.tools.setdefault(t.get("index") or 0, {
                "id": None, "type": "function", "function": {"name": "", "arguments": ""}})
            if t.get("id"):
                call["id"] = t["id"]
            fn = t.get("function") or {}
            call["function"]["name"] += fn.get("name") or ""
            call["function"]["arguments"] += fn.get("arguments") or ""
        if c.get("finish_reason"):
            self.finish = c["finish_reason"]
        lp = c.get("logprobs")
        if isinstance(lp, dict):
            if self.logprobs is None:
                self.logprobs = {"content": [], "refusal": []}
            for key in ("content", "refusal"):
                self.logprobs[key].extend(lp.get(key) or ())

    def render(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content or not self.tools else None,
            "refusal": "".join(self.refusal) or None,
        }
        if self.tools:
            message["tool_calls"] = [self.tools[i] for i in sorted(self.tools)]
        return {"index": self.index, "message": message, "logprobs": self.logprobs,
                "finish_reason": self.finish or "stop"}


def disassemble(body: bytes, usage: Usage) -> tuple[list[bytes], Usage]:
    """The stream frames that add up to a chat.completion (a chosen answer, sent as a stream
    to a client that asked for one), and its Usage with the usage chunk as its frame."""
    parsed = orjson.loads(body)
    base = {"id": parsed.get("id") or "chatcmpl-gateway", "object": "chat.completion.chunk",
            "created": parsed.get("created") or 0, "model": parsed.get("model")}
    if parsed.get("system_fingerprint") is not None:
        base["system_fingerprint"] = parsed["system_fingerprint"]

    def frame(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n"

    frames = []
    for c in parsed.get("choices") or ():
        i, message = c.get("index") or 0, c.get("message") or {}
        frames.append(frame(i, {"role": "assistant", "content": ""}))
        if message.get("content"):
            frames.append(frame(i, {"content": message["content"]}))
        for n, call in enumerate(message.get("tool_calls") or ()):
            frames.append(frame(i, {"tool_calls": [{**call, "index": n}]}))
        frames.append(frame(i, {}, c.get("finish_reason") or "stop"))
    out = Usage(usage.prompt_tokens, usage.completion_tokens, raw=usage.raw)
    if usage.raw:
        out.frame = b"data: " + orjson.dumps({**base, "choices": [], "usage": usage.raw}) + b"\n\n"
    return frames, out
