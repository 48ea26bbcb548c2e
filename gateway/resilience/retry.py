"""Resilience: retries of one model (a wrapper, itself an Upstream); the process's only retry loop.

Retried: retryable errors (connect errors, 408/409/429/5xx, cuts before the first frame), at most
`reliability.retries` times, with jittered exponential backoff; `Retry-After` /
`retry-after-ms` win when present and short enough (a longer hint falls back at once instead of
holding the client). A timeout says the upstream is sick: it is retried only within
`timeout_retries` (0 by default), so the chain moves on to the next model. A stream is retried
only until its first frame; after that, the chain's resume takes over. The first try is a plain
call: tenacity's machinery is built only once a retryable error has happened.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from gateway.config import ReliabilityConfig
from gateway.errors import ProviderError, UpstreamConnectionError, UpstreamTimeout
from gateway.resilience.timeouts import aclose
from providers.base import Completion, Upstream, UpstreamCall, Usage


@dataclass(frozen=True)
class RetryPolicy:
    config: ReliabilityConfig
    retries: int  # for this model (local-first routing may give a local model more)

    def wants(self, exc: BaseException | None, failures: int) -> bool:
        """Retry after the `failures`-th failure, `exc`?"""
        if not isinstance(exc, ProviderError) or not exc.retryable:
            return False
        if exc.retry_after_s is not None and exc.retry_after_s > self.config.backoff.retry_after_max_s:
            return False  # waiting that long would hold the client: fall back instead
        budget = self.config.timeout_retries if isinstance(exc, UpstreamTimeout) else self.retries
        return failures <= budget

    def delay(self, exc: BaseException | None, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure: Retry-After or jittered backoff."""
        hinted = getattr(exc, "retry_after_s", None)
        if hinted is not None:
            return float(hinted)
        b = self.config.backoff
        ceiling = min(b.max_s, b.initial_s * 2 ** (failures - 1))
        return random.uniform(ceiling / 2, ceiling)

    def controller(self, first: ProviderError) -> AsyncRetrying:
        """Tenacity's loop for the tries after a first (plain) one failed with `first`."""
        def retry(state: RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            return self.wants(exc, state.attempt_number + 1)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay(exc, state.attempt_number + 1)

        return AsyncRetrying(
            retry=retry, wait=wait, reraise=True,
            stop=stop_after_attempt(max(self.retries, self.config.timeout_retries)),
            before=_sleep_first(self.delay(first, 1)),
        )


class Retrying:
    def __init__(self, inner: Upstream, policy: RetryPolicy) -> None:
        self.inner = inner
        self.name = inner.name
        self.policy = policy

    def __repr__(self) -> str:
        return f"<Retrying x{self.policy.retries} {self.inner!r}>"

    async def _run(self, attempt: Callable[[], Awaitable[Completion | _Opened]]) -> object:
        try:
            return await attempt()
        except ProviderError as exc:
            if not self.policy.wants(exc, 1):
                raise
            first = exc
        async for tried in self.policy.controller(first):
            with tried:
                return await attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def complete(self, call: UpstreamCall) -> Completion:
        result = await self._run(lambda: self.inner.complete(call))
        assert isinstance(result, Completion)
        return result

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        opened = await self._run(lambda: _open(self.inner, call))
        assert isinstance(opened, _Opened)
        try:
            yield opened.first
            async for item in opened.rest:
                yield item
        finally:
            await aclose(opened.rest)


@dataclass
class _Opened:
    first: bytes | Usage
    rest: AsyncIterator[bytes | Usage]


async def _open(upstream: Upstream, call: UpstreamCall) -> _Opened:
    agen = upstream.stream(call)
    try:
        first = await anext(agen)
    except StopAsyncIteration:
        raise UpstreamConnectionError(f"{upstream.name}: the stream ended before it began") from None
    except BaseException:
        await aclose(agen)
        raise
    return _Opened(first, agen)


def _sleep_first(seconds: float) -> Callable[[RetryCallState], Awaitable[None]]:
    async def before(state: RetryCallState) -> None:
        if state.attempt_number == 1:
            await asyncio.sleep(seconds)

    return before
