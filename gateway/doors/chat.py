"""The chat-completions door: OpenAI's wire format in (`chat_parse`) and out.

Upstream answers arrive already in OpenAI's shape (the gateway's internal currency), so this
door relays them byte for byte: it adds only the usage chunk when the client asked for it,
`[DONE]`, and the error event of a stream that failed after it started.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.doors.base import DoorRequest
from gateway.doors.chat_parse import parse_chat
from gateway.errors import GatewayError
from providers.base import Usage

DONE = b"data: [DONE]\n\n"


def error_event(exc: GatewayError) -> bytes:
    """The one SSE event that ends a stream which failed after it started."""
    return b"data: " + orjson.dumps(exc.body()) + b"\n\n"


class ChatEncoder:
    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage

    def start(self) -> list[bytes]:
        return []

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        return [b"data: " + orjson.dumps(chunk) + b"\n\n"]

    def finish(self, usage: Usage | None) -> list[bytes]:
        if self.include_usage and usage is not None and usage.frame:
            return [usage.frame, DONE]
        return [DONE]

    def error(self, exc: GatewayError) -> bytes:
        return error_event(exc)


class ChatDoor:
    endpoint = "chat"
    wire = "openai"
    relay_finish = True  # a relayed stream still ends with the usage chunk (if asked) and [DONE]

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> DoorRequest:
        return parse_chat(raw)

    def render(self, req: DoorRequest, completion: Mapping[str, Any]) -> bytes:
        return orjson.dumps(completion)

    def encoder(self, req: DoorRequest, model: str) -> ChatEncoder:
        return ChatEncoder(req.include_usage)

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return exc.status, orjson.dumps(exc.body()), exc.headers()


DOOR = ChatDoor()
