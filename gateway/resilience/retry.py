"""Retries: the process's only retry loop (tenacity), per model, on retryable errors only."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from gateway.config import ReliabilityConfig
from gateway.errors import ProviderError


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def delay(config: ReliabilityConfig, exc: BaseException | None, failures: int) -> float:
    """Seconds to wait after the `failures`-th failure: Retry-After (capped) or jittered backoff."""
    hinted = getattr(exc, "retry_after_s", None)
    if hinted is not None:
        return float(min(hinted, config.backoff.retry_after_max_s))
    ceiling = min(config.backoff.max_s, config.backoff.initial_s * 2 ** (failures - 1))
    return random.uniform(ceiling / 2, ceiling)


def retrying(config: ReliabilityConfig, already_failed: BaseException) -> AsyncRetrying:
    """The retry controller for one model, after its first (plain) try failed with
    `already_failed`: it waits first, then makes at most `retries` more attempts."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return delay(config, exc, state.attempt_number + 1)

    return AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(config.retries),
        wait=wait,
        before=_sleep_first(delay(config, already_failed, 1)),
        reraise=True,
    )


def _sleep_first(seconds: float) -> Callable[[RetryCallState], Awaitable[None]]:
    async def before(state: RetryCallState) -> None:
        if state.attempt_number == 1:
            await asyncio.sleep(seconds)

    return before
