"""Messages door, stream: chat chunks -> Anthropic's event sequence, exactly as the API sends it.

    message_start (usage: the prompt estimate) · per block: content_block_start, ping after the
    first, content_block_delta (text_delta | input_json_delta)..., content_block_stop ·
    message_delta (stop_reason; usage: the exact counts) · message_stop

Blocks are sequential, as Anthropic's are (clients index the message's content by the block's
`index`): text opens a text block, each tool call (by its chat `index`) a tool_use block, and a
new block closes the open one. The prompt's token count is only known at the end of a chat
stream, so message_start carries the gateway's estimate and message_delta the upstream's counts,
cumulative as the API sends them; the SDK (and Claude Code) keep the later figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.doors.base import sse
from gateway.doors.chunks import ChunkReader
from gateway.doors.messages_response import anthropic_usage, error_shape, stop_reason, tool_use_id
from gateway.errors import GatewayError
from providers.base import Usage


def event(data: dict[str, Any]) -> bytes:
    return sse(str(data["type"]), orjson.dumps(data))


PING = event({"type": "ping"})


class MessagesEncoder(ChunkReader):
    """One answer's stream (the `StreamEncoder` of `base`)."""

    def __init__(self, message_id: str, model: str, input_estimate: int) -> None:
        super().__init__()
        self.message_id = message_id
        self.model = model
        self.input_estimate = input_estimate
        self._block = -1  # index of the newest block
        self._open: str | None = None  # "text" or "tool", while a block is open
        self._tools: dict[int, int] = {}  # chat tool-call index -> block index

    def start(self) -> list[bytes]:
        usage = {"input_tokens": self.input_estimate, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, "output_tokens": 1}
        message: dict[str, Any] = {
            "id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage,
        }
        return [event({"type": "message_start", "message": message})]

    def finish(self, usage: Usage | None) -> list[bytes]:
        out = self._close()
        found = self.usage(usage)
        counts = anthropic_usage(found)
        if found is None:  # the upstream reported nothing: our estimate beats a zero
            counts["input_tokens"] = self.input_estimate
        delta = {"stop_reason": stop_reason(self.finish_reason), "stop_sequence": None}
        out.append(event({"type": "message_delta", "delta": delta, "usage": counts}))
        out.append(event({"type": "message_stop"}))
        return out

    def error(self, exc: GatewayError) -> bytes:
        return event(error_shape(exc))

    def ping(self) -> bytes:
        """A keep-alive the client's SDK skips (for long silences upstream)."""
        return PING

    # -- blocks -----------------------------------------------------------------------------

    def _open_block(self, kind: str, block: dict[str, Any]) -> list[bytes]:
        out = self._close()
        self._block += 1
        self._open = kind
        out.append(event({"type": "content_block_start", "index": self._block,
                          "content_block": block}))
        if self._block == 0:
            out.append(PING)
        return out

    def _close(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [event({"type": "content_block_stop", "index": self._block})]

    def text(self, text: str) -> list[bytes]:
        out = [] if self._open == "text" else self._open_block("text", {"type": "text", "text": ""})
        delta = {"type": "text_delta", "text": text}
        out.append(event({"type": "content_block_delta", "index": self._block, "delta": delta}))
        return out

    def tool(self, index: int, fragment: Mapping[str, Any]) -> list[bytes]:
        function = fragment.get("function") or {}
        out: list[bytes] = []
        if index not in self._tools:
            block = {"type": "tool_use", "id": tool_use_id(fragment.get("id")),
                     "name": str(function.get("name") or ""), "input": {}}
            out = self._open_block("tool", block)
            self._tools[index] = self._block
        elif self._tools[index] != self._block or self._open != "tool":
            self.dropped += 1  # an interleaved fragment: its block is closed, nowhere to put it
            return []
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            out.append(event({"type": "content_block_delta", "index": self._block,
                              "delta": delta}))
        return out
