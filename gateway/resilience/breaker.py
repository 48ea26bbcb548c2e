"""Circuit breakers: stop sending traffic to a provider or model that keeps failing.

closed --(failure_threshold consecutive failures)--> open --(cooldown_s)--> half_open
half_open --(the one probe succeeds)--> closed;  half_open --(the probe fails)--> open

Consecutive failures (not a rate over a window) because the gateway's own retries already turn
a flaky upstream into bursts: N failures in a row is a clear, cheap signal that needs no clock
window, and one success resets it. Only failures that say the upstream is sick count (timeouts,
connection errors, 5xx, 429); a 400 for a bad request says nothing about the upstream's health.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from gateway.config import BreakerConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self, name: str, config: BreakerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.threshold = config.failure_threshold
        self.cooldown_s = config.cooldown_s
        self._clock = clock
        self._state = CLOSED
        self.failures = 0  # consecutive
        self.opened_at = 0.0
        self.opened_count = 0
        self._probe_in_flight = False

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name} {self.state} failures={self.failures}>"

    @property
    def state(self) -> str:
        if self._state == OPEN and self._clock() - self.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return self._state

    def available(self) -> bool:
        """Would a call be let through now? (No side effect: routing asks this.)"""
        state = self.state
        return state == CLOSED or (state == HALF_OPEN and not self._probe_in_flight)

    def acquire(self) -> bool:
        """Take permission for one call; in half_open only one probe is let through."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probe_in_flight:
            self._state = HALF_OPEN
            self._probe_in_flight = True
            return True
        return False

    def success(self) -> None:
        self._state = CLOSED
        self.failures = 0
        self._probe_in_flight = False

    def failure(self) -> None:
        self._probe_in_flight = False
        self.failures += 1
        if self._state == HALF_OPEN or self.failures >= self.threshold:
            if self._state != OPEN:
                self.opened_count += 1
            self._state = OPEN
            self.opened_at = self._clock()

    def release(self) -> None:
        """A call that neither succeeded nor failed on the upstream's account (e.g. cancelled)."""
        self._probe_in_flight = False

    def reset(self) -> None:
        self.success()

    def snapshot(self) -> dict[str, object]:
        return {"circuit": self.state, "consecutive_failures": self.failures,
                "times_opened": self.opened_count}


class Breakers:
    """One breaker per provider and one per model, created from the config at start."""

    def __init__(
        self, config: BreakerConfig, providers: Iterable[str], models: Iterable[tuple[str, str]]
    ) -> None:
        """`models` are (model id, provider name) pairs."""
        self.providers = {p: CircuitBreaker(f"provider:{p}", config) for p in providers}
        self.models: dict[str, CircuitBreaker] = {}
        self.models_of: dict[str, list[str]] = {}
        for model, provider in models:
            self.models[model] = CircuitBreaker(f"model:{model}", config)
            self.models_of.setdefault(provider, []).append(model)

    def available(self, provider: str, model: str) -> bool:
        return self.providers[provider].available() and self.models[model].available()

    def reset(self, name: str) -> list[CircuitBreaker]:
        """Close a circuit by name; a provider's reset closes its models' circuits too."""
        breaker = self.get(name)
        if breaker is None:
            return []
        done = [breaker]
        if breaker in self.providers.values():
            done += [self.models[m] for m in self.models_of.get(breaker.name[9:], ())]
        for b in done:
            b.reset()
        return done

    def get(self, name: str) -> CircuitBreaker | None:
        """By provider name, model id, or the `provider:`/`model:` qualified name."""
        kind, _, bare = name.rpartition(":")
        if kind in ("", "provider") and bare in self.providers:
            return self.providers[bare]
        if kind in ("", "model") and bare in self.models:
            return self.models[bare]
        return None
