"""Resilience: continue a stream cut mid-answer, so the client sees one uninterrupted answer.

When a stream breaks after content reached the client, the chain asks the next candidate for
the rest: the conversation, the text already sent as an assistant prefill, and an instruction
to continue exactly where it stopped (`continuation`). Some upstreams refuse a trailing
assistant message; then the same text goes as an ordinary turn followed by a request to
continue. The continuation's frames are spliced into the answer (`Splicer`): its role chunk is
dropped, its frames carry the first answer's id, model and creation time, and any text it
repeats from the end of what was already sent is cut, so the client sees one id, one role
chunk, one finish_reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.routing.tokens import estimate_text

RESUME_SYSTEM = (
    "The assistant's reply that follows was cut off before it was finished. Continue it exactly "
    "from the point where it stops, as if it had never been interrupted: do not repeat any of "
    "it, do not restart, summarise or comment, and keep its language, format and style."
)
RESUME_USER = (
    "Your previous reply was cut off before it was finished. Continue it exactly from the point "
    "where it stops: output only the missing rest, without repeating anything already written "
    "and without any preamble."
)
_OVERLAP_MIN = 4  # a shorter repeat is as likely a coincidence ("the" after "the")
DECIDE_AFTER = 32  # characters of the continuation read before judging the overlap


@dataclass
class Delivered:
    """What the client has received of one streamed answer so far."""

    frames: list[bytes] = field(default_factory=list)

    def add(self, frame: bytes) -> None:
        self.frames.append(frame)

    def read(self) -> tuple[dict[str, Any], str, bool, bool]:
        """(the first chunk, the content text, any tool-call fragment sent, several choices)."""
        head: dict[str, Any] = {}
        text: list[str] = []
        tools = several = False
        for frame in self.frames:
            try:
                chunk = orjson.loads(frame[5:])
            except orjson.JSONDecodeError:
                continue
            head = head or chunk
            for choice in chunk.get("choices") or ():
                several = several or bool(choice.get("index"))
                delta = choice.get("delta") or {}
                tools = tools or bool(delta.get("tool_calls") or delta.get("function_call"))
                if isinstance(delta.get("content"), str):
                    text.append(delta["content"])
        return head, "".join(text), tools, several


def continuation(body: dict[str, Any], text: str, *, prefill: bool) -> dict[str, Any]:
    """The request for the rest of an answer of which `text` was already sent."""
    if not text:
        return body  # nothing visible was sent: ask again
    messages = list(body.get("messages") or [])
    if prefill:
        messages += [{"role": "system", "content": RESUME_SYSTEM},
                     {"role": "assistant", "content": text}]
    else:
        messages += [{"role": "assistant", "content": text}, {"role": "user", "content": RESUME_USER}]
    out = {**body, "messages": messages}
    for key in ("max_tokens", "max_completion_tokens"):
        if isinstance(out.get(key), int):
            out[key] = max(1, out[key] - estimate_text(text))
    return out


def overlap(sent: str, start: str) -> int:
    """How many leading characters of `start` repeat the end of `sent`."""
    for k in range(min(len(sent), len(start)), _OVERLAP_MIN - 1, -1):
        if sent.endswith(start[:k]):
            return k
    return 0


class Splicer:
    """Rewrites a continuation's frames into frames of the answer already under way."""

    def __init__(self, head: dict[str, Any], sent_text: str) -> None:
        keep: tuple[str, ...] = ("id", "created", "model", "system_fingerprint")
        self.base: dict[str, Any] = {k: head[k] for k in keep if k in head}
        self.tail = sent_text[-512:]
        self.pending = ""
        self.decided = not sent_text  # nothing to overlap with

    def feed(self, frame: bytes) -> list[bytes]:
        try:
            chunk = orjson.loads(frame[5:])
        except orjson.JSONDecodeError:
            return []
        choices = chunk.get("choices") or []
        delta = dict((choices[0].get("delta") or {}) if choices else {})
        delta.pop("role", None)
        if not self.decided and choices:
            content = delta.pop("content", None)
            if isinstance(content, str):
                self.pending += content
            if len(self.pending) < DECIDE_AFTER and not delta and not choices[0].get("finish_reason"):
                return []
            out = self._flush()
            if delta or choices[0].get("finish_reason"):
                out.append(self._frame(chunk, delta))
            return out
        if choices and not delta and not choices[0].get("finish_reason") and \
                not choices[0].get("logprobs"):
            return []  # only a role: the client already has one
        return [self._frame(chunk, delta)]

    def close(self) -> list[bytes]:
        """Frames still held back (a continuation shorter than the overlap window)."""
        return self._flush() if not self.decided else []

    def _flush(self) -> list[bytes]:
        self.decided = True
        text = self.pending[overlap(self.tail, self.pending):]
        self.pending = ""
        if not text:
            return []
        return [self._frame({"choices": [{"index": 0, "logprobs": None, "finish_reason": None}]},
                            {"content": text})]

    def _frame(self, chunk: dict[str, Any], delta: dict[str, Any]) -> bytes:
        out: dict[str, Any] = {**chunk, **self.base, "object": "chat.completion.chunk"}
        if out.get("choices"):
            out["choices"] = [{**out["choices"][0], "delta": delta}]
        return b"data: " + orjson.dumps(out) + b"\n\n"

    def usage_frame(self, usage: dict[str, Any]) -> bytes:
        chunk: dict[str, Any] = {**self.base, "object": "chat.completion.chunk", "choices": [],
                                 "usage": usage}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
