"""Resilience: bound every wait of one upstream call (a wrapper, itself an Upstream).

Each limit means one thing (`Timeouts`): the first frame of a stream must come within
`first_token_s`; after it, the upstream may be silent for at most `idle_s` (a stall is a cut);
the whole call ends within `total_s`. A non-streamed call is bounded by `total_s` only, which is
why the executor asks upstreams for streams and assembles non-streamed answers itself.
Adapters that bound their waits themselves (`bounds_waits`: the HTTP transport, with one timer
per call and nothing per chunk) are not wrapped in this: it costs a timer per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

from gateway.config import Timeouts
from gateway.errors import UpstreamTimeout
from providers.base import Completion, Upstream, UpstreamCall, Usage

T = TypeVar("T")


class Timed:
    def __init__(self, inner: Upstream) -> None:
        self.inner = inner
        self.name = inner.name

    def __repr__(self) -> str:
        return f"<Timed {self.inner!r}>"

    async def complete(self, call: UpstreamCall) -> Completion:
        try:
            async with asyncio.timeout(call.timeouts.total_s):
                return await self.inner.complete(call)
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.name}: no answer within total_s={call.timeouts.total_s:g}s",
                kind="total") from None

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        t = call.timeouts
        loop = asyncio.get_running_loop()
        now = loop.time()
        end = now + t.total_s
        deadline, kind = now + t.first_token_s, "first_token"
        agen = self.inner.stream(call)
        try:
            while True:
                try:
                    async with asyncio.timeout_at(min(deadline, end)):
                        item = await anext(agen)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise _timeout(self.name, kind if deadline <= end else "total", t) from None
                deadline, kind = loop.time() + t.idle_s, "idle"
                yield item
        finally:
            await aclose(agen)


def _timeout(name: str, kind: str, t: Timeouts) -> UpstreamTimeout:
    if kind == "first_token":
        return UpstreamTimeout(
            f"{name}: first-token timeout: nothing within {t.first_token_s:g}s", kind=kind)
    if kind == "idle":
        return UpstreamTimeout(f"{name}: stream stalled: silent for {t.idle_s:g}s", kind=kind)
    return UpstreamTimeout(f"{name}: total timeout: the call ran past {t.total_s:g}s", kind=kind)


@contextlib.asynccontextmanager
async def closing(items: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Use a stream and close it on the way out, however the way out goes: the layer that
    opened a stream is the one that ends it, so its bookkeeping runs now, not at GC."""
    try:
        yield items
    finally:
        await aclose(items)


async def aclose(agen: object) -> None:
    """Close an async iterator if it can be; closing a failed stream must not mask why it failed."""
    close = getattr(agen, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:
            pass
