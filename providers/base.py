"""Providers: the one small protocol every upstream adapter implements, and what it exchanges.

An adapter translates the OpenAI chat-completions body into its upstream's wire format, does the
I/O, and translates the answer (and every foreign exception) back. It knows nothing of routing,
retries, budgets or the log: dispatch wraps it with those.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gateway.config import ModelConfig, Timeouts
from gateway.errors import (
    ContextLengthExceeded,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamTimeout,
)

__all__ = [
    "Completion",
    "ContextLengthExceeded",
    "Embedder",
    "NativeMessages",
    "Provider",
    "ProviderError",
    "Upstream",
    "UpstreamCall",
    "UpstreamConnectionError",
    "UpstreamHTTPError",
    "UpstreamTimeout",
    "Usage",
]


@dataclass(frozen=True)
class UpstreamCall:
    """One call to one model: the client's body (without `routing`), and where it goes."""

    body: Mapping[str, Any]
    model: ModelConfig
    timeouts: Timeouts
    stream: bool = False
    include_usage: bool = False  # did the *client* ask for the usage chunk
    raw: bytes | None = None  # the client's body bytes, when forwarding them verbatim is possible
    # A stream nobody relays as it comes (it is assembled into one answer): once its first
    # event is in, the rest may be read in one go.
    collect: bool = False
    # A native Messages call's body when it is not the client's own (a resumed stream's
    # continuation); None: the client's, as the native call holds it.
    native: Mapping[str, Any] | None = None

    def to(self, model: ModelConfig, timeouts: Timeouts) -> UpstreamCall:
        """The same call to another model (dataclasses.replace costs ~5 us: this is per call)."""
        return UpstreamCall(self.body, model, timeouts, self.stream, self.include_usage, self.raw,
                            self.collect, self.native)

    def streamed(self, *, collect: bool = False) -> UpstreamCall:
        return UpstreamCall(self.body, self.model, self.timeouts, True, self.include_usage,
                            self.raw, collect, self.native)


@dataclass
class Usage:
    """Token usage as the upstream reported it. `raw` keeps cached-token details for repricing."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    frame: bytes | None = None  # for streams: the SSE usage chunk, forwarded if the client asked

    @classmethod
    def from_openai(cls, usage: Mapping[str, Any] | None, frame: bytes | None = None) -> Usage:
        if not usage:
            return cls(frame=frame)
        return cls(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            raw=dict(usage),
            frame=frame,
        )


@dataclass
class Completion:
    """A finished non-streaming answer: the body bytes and the usage in them. `wire` is the
    body's format: an OpenAI chat.completion unless a native call or an embedding said else."""

    body: bytes
    usage: Usage
    wire: str = "openai"


class Upstream(Protocol):
    """Anything that answers one call like a provider: a provider, or a wrapper around one
    (timeouts, attempt records, breakers, retries), which is itself an Upstream."""

    name: str

    async def complete(self, call: UpstreamCall) -> Completion: ...

    def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]: ...


@runtime_checkable
class Provider(Protocol):
    """An upstream, reached one way. Built once per configured provider by the registry.

    An adapter whose I/O bounds every wait itself (the HTTP transport does: first token,
    silences, total) says so with a class attribute `bounds_waits = True`; any other is
    wrapped in `gateway.resilience.timeouts.Timed`.

    `complete` returns the answer as OpenAI chat-completion JSON bytes whose `model` field is
    already the gateway's model id. `stream` yields SSE frames (``b"data: {...}\\n\\n"``) in
    OpenAI's chunk shape, then exactly one `Usage` as its last item (its `frame` is the usage
    chunk, which the API layer forwards only when the client asked for it); the terminating
    ``data: [DONE]`` is the API layer's to send. Both raise only `ProviderError`s.
    """

    name: str

    async def complete(self, call: UpstreamCall) -> Completion: ...

    def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    """An adapter that can also embed (optional). `call.body` is an OpenAI embeddings body; the
    answer is OpenAI's embeddings list as JSON bytes, its `model` the gateway's id, and its
    usage (prompt tokens only)."""

    name: str

    async def embed(self, call: UpstreamCall) -> Completion: ...


@runtime_checkable
class NativeMessages(Protocol):
    """An adapter whose upstream speaks Anthropic's Messages API (optional): the Messages door's
    body goes up as the client sent it, and the answer comes back as Anthropic's bytes."""

    name: str

    async def complete_native(
        self, call: UpstreamCall, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> tuple[bytes, Usage]: ...

    def stream_native(
        self, call: UpstreamCall, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[bytes | Usage]: ...
