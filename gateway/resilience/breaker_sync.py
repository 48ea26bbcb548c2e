"""Circuit breakers shared by instances: publish this instance's transitions, apply the others'.

The request path never waits for this: breakers decide in memory. A transition (opened,
closed, reset) is queued by `CircuitBreaker.on_change` and published at once by a background
task; the same task reads the `circuits` table every `refresh_s` and applies what is newer than
each breaker's own last transition. So a circuit opened by one instance is respected by every
other within `refresh_s` (1 s by default) plus one round trip; newest transition wins.

Only transitions are shared, not failure counts: each instance counts its own consecutive
failures, and each lets its own first request through as the probe once the cooldown is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gateway.state import State, StateUnavailable

if TYPE_CHECKING:
    from gateway.resilience.breaker import CircuitBreaker

log = logging.getLogger("gateway.breaker")

TABLE = "circuits"
RECORD_TTL_S = 86400.0  # a transition nobody repeated for a day says nothing any more


class BreakerSync:
    def __init__(self, breakers: Iterable[CircuitBreaker], state: State,
                 refresh_s: float = 1.0) -> None:
        self.state = state
        self.refresh_s = refresh_s
        self.breakers = {b.name: b for b in breakers}
        for b in self.breakers.values():
            b.on_change = self._changed
        self.applied = 0  # transitions taken over from other instances
        self._dirty: dict[str, CircuitBreaker] = {}
        self._wake: asyncio.Event | None = None
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<BreakerSync {len(self.breakers)} breakers on {self.state.kind}>"

    def _changed(self, breaker: CircuitBreaker) -> None:
        self._dirty[breaker.name] = breaker
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._stopping = False
        self._wake = asyncio.Event()
        await self.sync_once()
        self._task = asyncio.create_task(self._run(), name="gateway.breaker.sync")

    async def close(self) -> None:
        self._stopping = True  # Python 3.11's timeout can swallow a cancel that meets its expiry
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(StateUnavailable):
            await self.publish()  # a circuit that opened last must not be forgotten

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.sync_once()
            except StateUnavailable as exc:  # Resilient state never raises; a file might
                log.warning("circuit states not shared: %s", exc)
            except Exception:  # a bug here must not stop the sharing for good
                log.exception("sharing circuit states failed")

    async def sync_once(self) -> None:
        await self.publish()
        for name, entry in (await self.state.table(TABLE)).items():
            breaker = self.breakers.get(name)
            if breaker is not None and isinstance(entry.value, dict) and breaker.apply(entry.value):
                self.applied += 1
                log.info("circuit %s is %s (from another instance)", name, breaker.state)

    async def publish(self) -> None:
        while self._dirty:
            name, breaker = next(iter(self._dirty.items()))
            record = breaker.record()
            await self.state.publish(TABLE, name, record, record["at"], RECORD_TTL_S)
            if self._dirty.get(name) is breaker and breaker.record() == record:
                del self._dirty[name]
