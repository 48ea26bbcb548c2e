"""Retries: the process's only retry loop (tenacity), per model, on retryable errors only."""

from __future__ import annotations

import random
from collections.abc import Callable

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from gateway.config import ReliabilityConfig
from gateway.errors import ProviderError


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def backoff(config: ReliabilityConfig) -> Callable[[RetryCallState], float]:
    """Exponential backoff with full jitter; an upstream's Retry-After wins, up to a cap."""
    initial, cap = config.backoff.initial_s, config.backoff.max_s
    retry_after_cap = config.backoff.retry_after_max_s

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after_s", None)
        if hinted is not None:
            return float(min(hinted, retry_after_cap))
        ceiling = min(cap, initial * 2 ** (state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)

    return wait


def retrying(config: ReliabilityConfig) -> AsyncRetrying:
    """A fresh retry controller for one model's attempts."""
    return AsyncRetrying(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(config.retries + 1),
        wait=backoff(config),
        reraise=True,
    )
