"""Circuit breakers: stop sending traffic to a provider or model that keeps failing.

closed --(failure_threshold consecutive failures)--> open --(cooldown_s)--> half_open
half_open --(the probe succeeds)--> closed;  half_open --(the probe fails)--> open

Consecutive failures (not a rate over a window) because the gateway's own retries already turn
a flaky upstream into bursts: N failures in a row is a clear, cheap signal that needs no clock
window, and one success resets it. Only failures that say the upstream is sick count (timeouts,
connection errors, 5xx, 429); a 400 for a bad request says nothing about the upstream's health.

Half-open needs no timer and no background probe: the first request that arrives once the
cooldown has passed *is* the probe, so a recovered upstream gets real traffic back at once.
While that probe is out, other requests go elsewhere; a probe that never reports back (a bug,
a lost task) stops blocking after another cooldown.

Every instance keeps its breakers in memory (the request path never waits for the network); a
breaker that opens or closes tells `on_change`, which `BreakerSync` (breaker_sync.py) publishes
to the shared state, and a transition another instance published is taken over by `apply()`.
Times are wall-clock seconds so that instances agree on when a circuit half-opens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.config import BreakerConfig
from gateway.state import State

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
    def __init__(
        self, name: str, config: BreakerConfig, clock: Callable[[], float] = time.time,
        on_change: Callable[[CircuitBreaker], None] | None = None,
    ) -> None:
        self.name = name
        self.threshold = config.failure_threshold
        self.cooldown_s = config.cooldown_s
        self.on_change = on_change
        self._clock = clock
        self._state = CLOSED
        self.failures = 0  # consecutive
        self.opened_at = 0.0
        self.opened_count = 0
        self.changed_at = 0.0  # when it last opened or closed (here or on another instance)
        self._probe_since: float | None = None

    def __repr__(self) -> str:
        return f"<CircuitBreaker {self.name} {self.state} failures={self.failures}>"

    @property
    def state(self) -> str:
        if self._state == OPEN and self._clock() - self.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return self._state

    @property
    def half_open_at(self) -> float | None:
        """When an open circuit lets its probe through (None unless open)."""
        return self.opened_at + self.cooldown_s if self._state == OPEN else None

    def retry_in_s(self) -> float | None:
        """Seconds until an open circuit half-opens: 0 once it has, None when closed."""
        at = self.half_open_at
        return None if at is None else max(0.0, at - self._clock())

    def _probe_out(self) -> bool:
        since = self._probe_since
        return since is not None and self._clock() - since < self.cooldown_s

    def available(self) -> bool:
        """Would a call be let through now? (No side effect: routing asks this.)"""
        state = self.state
        return state == CLOSED or (state == HALF_OPEN and not self._probe_out())

    def acquire(self) -> bool:
        """Take permission for one call; in half_open only one probe is let through."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self._probe_out():
            self._probe_since = self._clock()
            return True
        return False

    def success(self) -> None:
        was = self._state
        self._state = CLOSED
        self.failures = 0
        self._probe_since = None
        if was != CLOSED:
            self._changed()

    def failure(self) -> None:
        probing = self._probe_since is not None
        self._probe_since = None
        self.failures += 1
        if (self._state == OPEN and probing) or self.failures >= self.threshold:
            if self._state != OPEN or probing:
                self.opened_count += 1
            self._state = OPEN
            self.opened_at = self._clock()
            self._changed()

    def release(self) -> None:
        """A call that neither succeeded nor failed on the upstream's account (e.g. cancelled)."""
        self._probe_since = None

    def reset(self) -> None:
        self.success()
        self._changed()  # also when closed here: other instances may hold it open

    def _changed(self) -> None:
        self.changed_at = max(self._clock(), self.changed_at)
        if self.on_change is not None:
            self.on_change(self)

    # -- sharing ---------------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The last transition, as other instances apply it."""
        return {"state": OPEN if self._state == OPEN else CLOSED, "at": self.changed_at,
                "opened_at": self.opened_at}

    def apply(self, record: dict[str, Any]) -> bool:
        """Take over a transition another instance published, if newer than ours."""
        at = float(record.get("at") or 0.0)
        if at <= self.changed_at:
            return False
        self.changed_at = at
        if record.get("state") == OPEN:
            if self._state != OPEN:
                self.opened_count += 1
            self._state, self.opened_at = OPEN, float(record.get("opened_at") or at)
        else:
            self._state, self.failures = CLOSED, 0
        self._probe_since = None
        return True

    def snapshot(self) -> dict[str, object]:
        out: dict[str, object] = {"circuit": self.state, "consecutive_failures": self.failures,
                                  "times_opened": self.opened_count}
        at = self.half_open_at
        if at is not None:
            out["half_open_at"] = datetime.fromtimestamp(at, UTC).isoformat()
            out["retry_in_s"] = round(self.retry_in_s() or 0.0, 3)
        return out


class Breakers:
    """One breaker per provider and one per model, created from the config at start.

    With a shared `state` (Redis, or the SQLite file of `--workers`), `start()` begins sharing
    transitions with the other instances (see `BreakerSync`); `close()` stops it.
    """

    def __init__(
        self, config: BreakerConfig, providers: Iterable[str], models: Iterable[tuple[str, str]],
        state: State | None = None, refresh_s: float = 1.0,
    ) -> None:
        """`models` are (model id, provider name) pairs."""
        self.providers = {p: CircuitBreaker(f"provider:{p}", config) for p in providers}
        self.models: dict[str, CircuitBreaker] = {}
        self.models_of: dict[str, list[str]] = {}
        for model, provider in models:
            self.models[model] = CircuitBreaker(f"model:{model}", config)
            self.models_of.setdefault(provider, []).append(model)
        self.sync = None
        if state is not None and state.shared:
            from gateway.resilience.breaker_sync import BreakerSync

            self.sync = BreakerSync(self.all(), state, refresh_s)

    def all(self) -> list[CircuitBreaker]:
        return [*self.providers.values(), *self.models.values()]

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

    async def start(self) -> None:
        if self.sync is not None:
            await self.sync.start()

    async def close(self) -> None:
        if self.sync is not None:
            await self.sync.close()
