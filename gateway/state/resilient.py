"""Shared state that outlives a Redis outage: Redis while it answers, in-process state while not.

While Redis answers, every call goes there and the counters it returns are mirrored into a
`MemoryState`. When a call fails (refused, timed out), the gateway keeps serving on that mirror
(a warning is logged once, `status()` says `connected: false` for /health) and a background task
pings Redis every `retry_s`. While away, it remembers what Redis must learn: the settlements
made (spend), the holds still in flight, and the newest record it published per name. When
Redis answers again it replays them, then switches back:

- a counter Redis no longer has (restarted without persistence) is first seeded with the
  spend this process knew when Redis went away (the first instance back seeds it; the others'
  seeds are no-ops);
- then every settlement made while away is added once, to every counter;
- holds still in flight are pushed (forced: they were admitted already), so their settlement
  releases them there.

While away, limits and budgets are per process: N instances cut off from Redis may each spend
what the mirror said was left. A call that timed out may have reached Redis; replaying it then
counts its spend twice, which errs on the side of not overspending. A Redis that comes back
empty has lost what other instances spent before the outage and this one never saw (their
settlements made while away are still added): run Redis with persistence (compose.yaml does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from gateway.state.base import (
    Charge,
    Counter,
    Entry,
    Rate,
    Reserved,
    State,
    StateUnavailable,
    Taken,
)
from gateway.state.memory import MemoryState

log = logging.getLogger("gateway.state")
T = TypeVar("T")


class _Away(Exception):
    """The shared backend is not in use right now: answer from the local state."""


class ResilientState:
    """A shared `State` (Redis) with a `MemoryState` standing in while it is unreachable."""

    shared = True

    def __init__(self, remote: State, local: MemoryState | None = None, *,
                 retry_s: float = 1.0) -> None:
        self.remote = remote
        self.local = local or MemoryState()
        self.kind = remote.kind
        self.retry_s = retry_s
        self.connected = True
        self.since = time.time()
        self.error: str | None = None
        self.replayed = 0  # settlements, holds and records sent to Redis after an outage
        # What Redis must learn when it is back:
        self._journal: deque[tuple[str, list[Charge]]] = deque()  # settlements
        self._local_holds: dict[str, float] = {}  # hold -> lease, made while away
        self._published: dict[tuple[str, str], tuple[Any, float, float]] = {}
        # Holds made on Redis and not settled yet: to release them here if Redis goes away.
        self._remote_holds: OrderedDict[str, tuple[list[Charge], float]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = "connected" if self.connected else "away"
        return f"<ResilientState {self.remote!r} {state} pending={self.pending}>"

    @property
    def pending(self) -> int:
        return len(self._journal) + len(self._local_holds) + len(self._published)

    # -- switching -------------------------------------------------------------------------------

    async def _shared(self, call: Callable[[], Awaitable[T]]) -> T:
        if not self.connected:
            raise _Away
        try:
            return await call()
        except StateUnavailable as exc:
            self._lost(exc)
            raise _Away from None

    def _lost(self, exc: BaseException) -> None:
        if self.connected:
            self.connected, self.since, self.error = False, time.time(), str(exc)
            log.warning("shared state: %s unreachable (%s); serving on in-process state and "
                        "retrying every %gs", self.remote, exc, self.retry_s)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._reconnect(), name="gateway.state.reconnect")

    async def _reconnect(self) -> None:
        while not self.connected:
            await asyncio.sleep(self.retry_s)
            try:
                await self.remote.ping()
                await self._catch_up()
            except StateUnavailable as exc:
                self.error = str(exc)
                continue
            except Exception:  # a bug here must not leave the gateway away from Redis for good
                log.exception("shared state: catching up with %s failed", self.remote)
                continue
            self.connected, self.since, self.error = True, time.time(), None
            log.warning("shared state: %s reachable again; %d updates replayed", self.remote,
                        self.replayed)

    async def _catch_up(self) -> None:
        """Tell Redis what happened while it was away; returns with nothing left to tell."""
        known = self.local.known_counters()
        keys = list(known)
        if keys:
            present = await self.remote.exists(keys)
            lost = sorted(k for k, p in zip(keys, present, strict=True) if not p)
            if lost:
                await self.remote.seed([Charge(k, spent, None, int(known[k]) + 1)
                                        for k, spent in self._before_outage(lost).items()])
        while self.pending:  # requests keep arriving meanwhile; they land in the same queues
            while self._journal:
                hold, charges = self._journal[0]
                await self.remote.settle(hold, charges)
                self._journal.popleft()
                self.replayed += 1
            for hold, lease in list(self._local_holds.items()):
                charges = [Charge(k, a, None, int(known.get(k, lease)) + 1)
                           for k, a in self.local.holds_of(hold)]
                if charges:
                    await self.remote.reserve(hold, charges, lease, force=True)
                    self._remote_holds[hold] = (charges, time.time() + lease)
                self.local.forget_hold(hold)
                self._local_holds.pop(hold, None)
                self.replayed += 1
            for (table, name), (value, at, ttl) in list(self._published.items()):
                await self.remote.publish(table, name, value, at, ttl)
                if self._published.get((table, name)) == (value, at, ttl):
                    del self._published[(table, name)]
                self.replayed += 1

    def _before_outage(self, keys: list[str]) -> dict[str, int]:
        """What each counter had spent when Redis went away, as far as this process knows: its
        spend now less the settlements journaled since (no await: one consistent reading).

        A Redis that lost a counter is seeded with that, and the journal is then replayed in
        full. Seeding sets only a counter that does not exist, so when several instances come
        back at once the first seed wins and every instance's settlements are still added once.
        """
        away: dict[str, int] = dict.fromkeys(keys, 0)
        for _, charges in self._journal:
            for c in charges:
                if c.key in away:
                    away[c.key] += c.amount
        now = self.local.peek(keys)
        return {k: max(c.spent - away[k], 0) for k, c in zip(keys, now, strict=True)}

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.remote.start()
        except StateUnavailable as exc:
            self._lost(exc)

    async def ping(self) -> None:
        await self.remote.ping()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.pending:
            log.warning("shared state: %d updates could not reach %s before shutdown",
                        self.pending, self.remote)
        await self.remote.aclose()

    def status(self) -> dict[str, Any]:
        out = {**self.remote.status(), "shared": True, "connected": self.connected,
               "since": datetime.fromtimestamp(self.since, UTC).isoformat()}
        if not self.connected:
            out.update({"error": self.error, "fallback": "in-process", "pending": self.pending})
        return out

    # -- the State interface ---------------------------------------------------------------------

    async def take(self, rates: list[Rate]) -> Taken:
        try:
            return await self._shared(lambda: self.remote.take(rates))
        except _Away:
            return await self.local.take(rates)

    async def adjust(self, rate: Rate) -> None:
        try:
            await self._shared(lambda: self.remote.adjust(rate))
        except _Away:
            await self.local.adjust(rate)

    async def reserve(
        self, hold: str, charges: list[Charge], lease_s: float, *, force: bool = False
    ) -> Reserved:
        try:
            done = await self._shared(
                lambda: self.remote.reserve(hold, charges, lease_s, force=force))
        except _Away:
            done = await self.local.reserve(hold, charges, lease_s, force=force)
            if done.ok:
                self._local_holds[hold] = lease_s
            return done
        self._mirror(charges, done.counters)
        if done.ok:
            self._remember(hold, charges, lease_s)
        return done

    async def settle(self, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
        remote = self._remote_holds.pop(hold, None)
        try:
            counters = await self._shared(lambda: self.remote.settle(hold, charges))
        except _Away:
            return await self._settle_here(hold, charges, remote)
        self._mirror(charges, counters)
        return counters

    async def _settle_here(self, hold: str, charges: list[Charge],
                           remote: tuple[list[Charge], float] | None) -> tuple[Counter, ...]:
        self._journal.append((hold, charges))
        if remote is not None and hold not in self._local_holds:
            held = {c.key: c.amount for c in remote[0]}
            for c in charges:
                self.local.add(c.key, c.amount, -held.get(c.key, 0))
            return await self.local.counters([c.key for c in charges])
        self._local_holds.pop(hold, None)
        return await self.local.settle(hold, charges)

    async def seed(self, charges: list[Charge]) -> tuple[Counter, ...]:
        try:
            counters = await self._shared(lambda: self.remote.seed(charges))
        except _Away:
            return await self.local.seed(charges)  # pushed to Redis by the catch-up if missing
        self._mirror(charges, counters)
        return counters

    async def counters(self, keys: list[str]) -> tuple[Counter, ...]:
        try:
            counters = await self._shared(lambda: self.remote.counters(keys))
        except _Away:
            return await self.local.counters(keys)
        self.local.mirror(keys, counters, None)
        return counters

    async def exists(self, keys: list[str]) -> tuple[bool, ...]:
        try:
            return await self._shared(lambda: self.remote.exists(keys))
        except _Away:
            return await self.local.exists(keys)

    async def publish(self, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
        try:
            return await self._shared(lambda: self.remote.publish(table, name, value, at, ttl_s))
        except _Away:
            self._published[(table, name)] = (value, at, ttl_s)
            return await self.local.publish(table, name, value, at, ttl_s)

    async def table(self, table: str) -> dict[str, Entry]:
        try:
            return await self._shared(lambda: self.remote.table(table))
        except _Away:
            return await self.local.table(table)

    async def claim(self, key: str, ttl_s: float) -> bool:
        try:
            return await self._shared(lambda: self.remote.claim(key, ttl_s))
        except _Away:
            return await self.local.claim(key, ttl_s)

    # -- helpers ---------------------------------------------------------------------------------

    def _mirror(self, charges: list[Charge], counters: tuple[Counter, ...]) -> None:
        for c, value in zip(charges, counters, strict=True):
            self.local.mirror([c.key], (value,), c.ttl_s)

    def _remember(self, hold: str, charges: list[Charge], lease_s: float) -> None:
        now = time.time()
        self._remote_holds[hold] = (charges, now + lease_s)
        while self._remote_holds:  # forget holds whose lease ended (never settled: a bug)
            first = next(iter(self._remote_holds.values()))
            if first[1] > now:
                break
            self._remote_holds.popitem(last=False)
