"""Doors, the interface: what every client API's entry and exit adapter gives the pipeline.

The pipeline works in OpenAI chat-completions terms. A door's `parse` turns its client's bytes
into a `DoorRequest` whose `body` is a chat-completions body (the embeddings door: an embeddings
body) with the requested model, the stream flag and the `routing` options beside it; `render`
turns a finished `chat.completion` dict back into the door's own answer; `encoder` gives the
object that turns the `chat.completion.chunk` dicts of a stream, then its usage, into the door's
own events; `error_body` renders a GatewayError in the door's error shape. Doors do no I/O.

A door whose API an upstream speaks natively (Messages, for an Anthropic-kind provider) also sets
`native`: the client's own body (without `routing`) and the headers worth forwarding. The
pipeline sends it as it is to a provider that has `complete_native` / `stream_native`, and relays
that provider's answer bytes unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from gateway.errors import GatewayError
from providers.base import Usage

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


@dataclass(frozen=True, kw_only=True)
class DoorRequest:
    """One parsed client request, in the terms the pipeline runs."""

    endpoint: str  # the log's `endpoint`: chat | messages | responses | embeddings
    body: dict[str, Any]  # what goes upstream: a chat-completions body (or an embeddings body)
    model: str  # as the client asked: `auto`, a profile, an id or an alias
    stream: bool
    include_usage: bool  # forward an OpenAI usage chunk (chat only; other doors encode usage)
    routing: dict[str, Any]  # the `routing` options, removed from the body
    native: dict[str, Any] | None = None  # the client's own body, for an upstream speaking it
    native_headers: Mapping[str, str] = field(default_factory=dict)
    user: str | None = None  # the end user (the body's `user`), for sticky choices


class StreamEncoder(Protocol):
    """Turns one answer's chat chunks into the door's stream: every item is whole SSE frames."""

    def start(self) -> list[bytes]:
        """The frames that open the stream (before the first chunk is fed)."""
        ...

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        """The frames one `chat.completion.chunk` produces (often none, sometimes several)."""
        ...

    def finish(self, usage: Usage | None) -> list[bytes]:
        """The frames that close a stream that ended well, with its total usage."""
        ...

    def error(self, exc: GatewayError) -> bytes:
        """The frame(s) that end a stream which failed after it started."""
        ...


R = TypeVar("R", bound=DoorRequest, contravariant=True)


class Door(Protocol[R]):
    """A client API. `R` is the door's own request type (a DoorRequest with its extras).

    `wire` names the format of an upstream answer this door relays unchanged, bytes for bytes
    (chat: "openai"; messages: "anthropic", from an upstream that spoke it natively;
    embeddings: "embeddings"); any other answer goes through `render` or `encoder`.
    """

    endpoint: str
    wire: str
    relay_finish: bool  # does `finish` add frames after a relayed stream (chat: usage, [DONE])

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> DoorRequest:
        """Validate the client's body; raises InvalidRequest naming the field."""
        ...

    def render(self, req: R, completion: Mapping[str, Any]) -> bytes:
        """The client's answer for a finished chat completion (`model` already the gateway's)."""
        ...

    def encoder(self, req: R, model: str) -> StreamEncoder:
        """A fresh stream encoder for one answer from the model `model` (the gateway's id)."""
        ...

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, headers) of an error answer in the door's shape."""
        ...


def sse(event: str | None, data: bytes) -> bytes:
    """One SSE frame; `event` adds the `event:` line the Anthropic and Responses streams carry."""
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
