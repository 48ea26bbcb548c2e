"""Execution: the upstream call a door's request needs, as an Upstream the wrappers can hold.

Most requests are chat completions (`provider.complete` / `provider.stream`). A Messages request
to an upstream that speaks Messages natively goes as the client's own body (`Native`), and an
embeddings request calls `embed` (`Embed`); both answer in their own `wire` format, which the
door relays unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from gateway.errors import InvalidRequest
from providers.base import Completion, Embedder, NativeMessages, UpstreamCall, Usage

ANTHROPIC = "anthropic"
EMBEDDINGS = "embeddings"


class Native:
    """The client's Messages body, as it came, to an upstream that speaks Messages."""

    wire = ANTHROPIC

    def __init__(self, provider: NativeMessages, body: Mapping[str, Any],
                 headers: Mapping[str, str]) -> None:
        self.provider = provider
        self.bounds_waits = getattr(provider, "bounds_waits", False)
        self.name = provider.name
        self.body = body
        self.headers = headers

    async def complete(self, call: UpstreamCall) -> Completion:
        body, usage = await self.provider.complete_native(call, self.body, self.headers)
        return Completion(body, usage, wire=ANTHROPIC)

    def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        body = self.body if call.native is None else call.native
        return self.provider.stream_native(call, body, self.headers)


class Embed:
    wire = EMBEDDINGS

    def __init__(self, provider: Embedder) -> None:
        self.provider = provider
        self.bounds_waits = getattr(provider, "bounds_waits", False)
        self.name = provider.name

    async def complete(self, call: UpstreamCall) -> Completion:
        completion = await self.provider.embed(call)
        return Completion(completion.body, completion.usage, wire=EMBEDDINGS)

    def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        raise InvalidRequest("embeddings do not stream", param="stream")
