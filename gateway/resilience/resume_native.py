"""Resilience: continue a native Messages stream (Anthropic's events, relayed as they came) cut
mid-answer, on the next Anthropic-kind candidate, so the client sees one message.

What was sent is read back from the events (`NativeDelivered`): the blocks, and the text of the
text blocks. A tool call or a thinking block under way at the cut cannot be continued (its
fragments are already the client's); anything else can. The continuation asks for the rest with
the text already sent as an assistant prefill (Anthropic continues a prefill natively; with
thinking on, which takes no prefill, as an ordinary turn and a request to go on), and its events
are spliced in (`NativeSplicer`): its `message_start` dropped, its first text block merged into
the text block that was cut, later blocks numbered after the ones sent, any repeat of the end of
the sent text cut, and the final `message_delta` usage made the sum of every call billed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.doors.messages_stream import event
from gateway.resilience.resume import DECIDE_AFTER, RESUME_USER, overlap
from gateway.routing.tokens import estimate_text

UNSAFE_OPEN = ("thinking", "redacted_thinking")  # no way to continue these mid-block


def parse(frame: bytes) -> dict[str, Any] | None:
    """The data of one relayed Anthropic event (`event: x\\ndata: {...}\\n\\n`)."""
    at = frame.find(b"data:")
    if at < 0:
        return None
    try:
        data = orjson.loads(frame[at + 5:])
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


@dataclass
class NativeCut:
    """Where a native stream stopped: the last block's index and type, whether it is still
    open, the text of the text blocks sent, and the message's own head (id, model, usage)."""

    last: int = -1
    kind: str = ""
    open: bool = False
    text: str = ""
    tools: bool = False
    message: dict[str, Any] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return not self.tools and not (self.open and self.kind in UNSAFE_OPEN)


@dataclass
class NativeDelivered:
    """What the client has received of one native stream so far."""

    frames: list[bytes] = field(default_factory=list)

    def add(self, frame: bytes) -> None:
        self.frames.append(frame)

    def read(self) -> NativeCut:
        cut = NativeCut()
        text: list[str] = []
        for frame in self.frames:
            data = parse(frame)
            kind = data.get("type") if data else None
            if data is None or not isinstance(kind, str):
                continue
            if kind == "message_start":
                cut.message = dict(data.get("message") or {})
            elif kind == "content_block_start":
                block = data.get("content_block") or {}
                cut.last, cut.open = int(data.get("index") or 0), True
                cut.kind = str(block.get("type") or "")
                cut.tools = cut.tools or cut.kind in ("tool_use", "server_tool_use")
                if cut.kind == "text" and isinstance(block.get("text"), str):
                    text.append(block["text"])
            elif kind == "content_block_delta":
                delta = data.get("delta") or {}
                if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                    text.append(delta["text"])
            elif kind == "content_block_stop":
                cut.open = False
        cut.text = "".join(text)
        return cut


def thinking_on(body: Mapping[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, Mapping) and thinking.get("type") not in (None, "disabled")


def native_continuation(body: Mapping[str, Any], text: str, *, prefill: bool) -> dict[str, Any]:
    """The Messages request for the rest of an answer of which `text` was already sent."""
    if not text.strip():
        return dict(body)  # nothing visible was sent: ask again
    messages = list(body.get("messages") or [])
    if prefill:  # the API refuses a final assistant turn that ends in whitespace
        messages.append({"role": "assistant", "content": text.rstrip()})
    else:
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": RESUME_USER}]
    out = {**body, "messages": messages}
    if isinstance(out.get("max_tokens"), int):
        out["max_tokens"] = max(1, out["max_tokens"] - estimate_text(text))
    return out


class NativeSplicer:
    """Rewrites a continuation's events into events of the message already under way."""

    def __init__(self, cut: NativeCut, earlier_input: int, earlier_output: int) -> None:
        self.cut = cut
        self.tail = cut.text[-512:]
        self.trim_space = cut.text[-1:].isspace()  # the prefill went without it
        self.earlier = (earlier_input, earlier_output)
        self.input = 0  # the continuation's own input tokens (its message_start)
        self.offset: int | None = None  # continuation index -> index + offset
        self.merged = False  # its first text block continues the one that was cut
        self.pending: str | None = None  # its first text, held until the overlap is judged

    def feed(self, frame: bytes) -> list[bytes]:
        data = parse(frame)
        kind = data.get("type") if data else None
        if data is None or not isinstance(kind, str):
            return []
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.input = sum(int(usage.get(k) or 0) for k in (
                "input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
            return []
        out: list[bytes] = []
        if kind == "content_block_start":
            index = int(data.get("index") or 0)
            block = data.get("content_block") or {}
            if self.offset is None:
                self.merged = (self.cut.open and self.cut.kind == "text"
                               and block.get("type") == "text" and index == 0)
                self.offset = self.cut.last + (0 if self.merged else 1)
                if self.merged:
                    self.pending = str(block.get("text") or "")
                    return []
                if self.cut.open:  # the cut block ends here; the continuation's follow it
                    out.append(event({"type": "content_block_stop", "index": self.cut.last}))
            return [*out, event({**data, "index": index + self.offset})]
        if kind == "content_block_delta":
            index = int(data.get("index") or 0)
            delta = data.get("delta") or {}
            if self.merged and index == 0 and self.pending is not None \
                    and delta.get("type") == "text_delta":
                self.pending += str(delta.get("text") or "")
                return [] if len(self.pending) < DECIDE_AFTER else self._flush()
            return [*self._flush(), event({**data, "index": index + (self.offset or 0)})]
        if kind == "content_block_stop":
            index = int(data.get("index") or 0)
            return [*self._flush(), event({**data, "index": index + (self.offset or 0)})]
        if kind == "message_delta":
            if self.offset is None and self.cut.open:  # a continuation with no blocks at all
                self.offset = self.cut.last + 1
                out.append(event({"type": "content_block_stop", "index": self.cut.last}))
            usage = dict(data.get("usage") or {})
            usage["output_tokens"] = self.earlier[1] + int(usage.get("output_tokens") or 0)
            usage["input_tokens"] = self.earlier[0] + self.input
            for k in ("cache_read_input_tokens", "cache_creation_input_tokens"):
                usage.pop(k, None)  # now part of input_tokens: the sum of every call billed
            return out + self._flush() + [event({**data, "usage": usage})]
        if kind == "ping":
            return [frame]  # holds nothing back: the text after it is still being judged
        return [*self._flush(), frame]  # message_stop: as it came

    def close(self) -> list[bytes]:
        return self._flush()

    def usage_frame(self, usage: dict[str, Any]) -> bytes | None:
        return None  # the usage went out in the spliced message_delta

    def _flush(self) -> list[bytes]:
        if self.pending is None:
            return []
        text, self.pending = self.pending, None
        if self.trim_space:
            text = text.lstrip()
        text = text[overlap(self.tail, text):]
        if not text:
            return []
        return [event({"type": "content_block_delta", "index": self.cut.last,
                       "delta": {"type": "text_delta", "text": text}})]
