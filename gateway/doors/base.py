"""Doors, the shared part: what a door hands the pipeline, what it gets back, and the protocol.

A door parses its wire format into a `ChatRequest` (OpenAI chat-completions terms, the gateway's
internal currency), then renders an `Answer` (non-streaming) or a stream of OpenAI chunk frames
in its own format, and every `GatewayError` in its own error shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.usage.events import RequestRecord
from providers.base import Usage


@dataclass(frozen=True)
class ChatRequest:
    """A validated request, in chat-completions terms, whatever door it came in by."""

    body: dict[str, Any]  # the chat-completions body, without `routing`
    model: str  # the requested model name: an id, an alias, `auto` or `auto:<profile>`
    stream: bool
    include_usage: bool  # did the client ask for the usage chunk
    routing: Mapping[str, Any] = field(default_factory=dict)
    operation: str = "chat"  # chat | embeddings
    user: str | None = None  # the end user (`user` in the body), for sticky choices


@dataclass(frozen=True)
class Answer:
    """A finished non-streaming answer: the chat.completion body bytes and the usage in them."""

    body: bytes
    usage: Usage


Frames = AsyncIterator[bytes | Usage]
"""A stream as the pipeline gives it to a door: OpenAI chunk SSE frames (``data: {...}\\n\\n``),
then one `Usage` whose `frame` is the usage chunk (sent only if the client asked for it).
The terminating ``data: [DONE]`` or the error event is the door's to write."""


class Door(Protocol):
    endpoint: str  # the log's `endpoint` column: chat | messages | responses | embeddings

    def parse(self, raw: bytes, headers: Headers) -> ChatRequest: ...

    def respond(self, answer: Answer, record: RequestRecord) -> Response: ...

    def stream(self, frames: Frames, request: ChatRequest, record: RequestRecord) -> Response: ...

    def error(self, exc: GatewayError, record: RequestRecord) -> Response: ...
