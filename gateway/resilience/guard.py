"""Resilience: circuit breakers around one upstream call (a wrapper, itself an Upstream).

The call goes ahead only if every breaker on its way (the provider's, the model's) lets it;
its outcome is reported to all of them. Only failures that say the upstream is sick count
(`counts_against_upstream`); a call the client or the gateway cancelled says nothing either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

from gateway.errors import CircuitOpen, ContextLengthExceeded, ProviderError
from gateway.resilience.breaker import CircuitBreaker
from gateway.resilience.timeouts import closing
from providers.base import Completion, Upstream, UpstreamCall, Usage


def counts_against_upstream(exc: ProviderError) -> bool:
    """Does this failure say the upstream is sick (so its breakers should hear of it)?"""
    if isinstance(exc, ContextLengthExceeded | CircuitOpen):
        return False
    return exc.retryable or exc.http_status in (401, 403, 404) or exc.http_status is None


class Guarded:
    def __init__(self, inner: Upstream, breakers: Sequence[CircuitBreaker],
                 on_failure: Callable[[ProviderError], None] = lambda exc: None) -> None:
        self.inner = inner
        self.name = inner.name
        self.breakers = breakers
        self.on_failure = on_failure

    def __repr__(self) -> str:
        return f"<Guarded {self.inner!r} {list(self.breakers)!r}>"

    def _acquire(self) -> None:
        for i, b in enumerate(self.breakers):
            if not b.acquire():
                for taken in self.breakers[:i]:
                    taken.release()
                raise CircuitOpen(f"circuit open for {b.name}", retryable=False, fallback=True)

    def _failed(self, exc: ProviderError) -> None:
        sick = counts_against_upstream(exc)
        for b in self.breakers:
            b.failure() if sick else b.release()
        self.on_failure(exc)

    def _released(self) -> None:
        for b in self.breakers:
            b.release()

    def _succeeded(self) -> None:
        for b in self.breakers:
            b.success()

    async def complete(self, call: UpstreamCall) -> Completion:
        self._acquire()
        try:
            completion = await self.inner.complete(call)
        except ProviderError as exc:
            self._failed(exc)
            raise
        except BaseException:
            self._released()
            raise
        self._succeeded()
        return completion

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        self._acquire()
        settled = False
        try:
            async with closing(self.inner.stream(call)) as items:
                async for item in items:
                    if isinstance(item, Usage):
                        self._succeeded()
                        settled = True
                    yield item
        except ProviderError as exc:
            if not settled:
                self._failed(exc)
                settled = True
            raise
        finally:
            if not settled:
                self._released()
