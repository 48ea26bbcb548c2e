"""Shared state in the process: the default backend, and the fallback when Redis is away.

Each call runs to completion without awaiting, so on one event loop it is atomic without a
lock. Expired entries are dropped when read and swept every `SWEEP_EVERY` calls, so memory stays
bounded by what is live (the configured keys' counters, the requests in flight).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from gateway.state import logic
from gateway.state.base import Charge, Counter, Entry, Rate, Reserved, Taken

SWEEP_EVERY = 4096


class _Tx:
    """`logic.Tx` over plain dicts."""

    def __init__(self) -> None:
        self.now = 0.0
        self.tats: dict[str, float] = {}
        self.counts: dict[str, list[float]] = {}  # key -> [spent, held, expires]
        # key -> hold -> (amount, expires), in insertion order: with one lease length that is
        # also expiry order, so finding the expired ones stops at the first live hold.
        self.holds: dict[str, OrderedDict[str, tuple[int, float]]] = {}
        self.tables: dict[str, dict[str, Entry]] = {}
        self.claims: dict[str, float] = {}

    def get_tat(self, key: str) -> float:
        return self.tats.get(key, 0.0)

    def set_tat(self, key: str, tat: float) -> None:
        if tat <= self.now:
            self.tats.pop(key, None)
        else:
            self.tats[key] = tat

    def get_counter(self, key: str) -> tuple[int, int] | None:
        c = self.counts.get(key)
        if c is None:
            return None
        if c[2] <= self.now:
            del self.counts[key]
            self.holds.pop(key, None)
            return None
        return int(c[0]), int(c[1])

    def set_counter(self, key: str, spent: int, held: int, ttl_s: float | None) -> None:
        c = self.counts.get(key)
        expires = self.now + ttl_s if ttl_s is not None else (c[2] if c else self.now + 86400)
        self.counts[key] = [spent, held, expires]

    def expired_holds(self, key: str) -> list[tuple[str, int]]:
        holds = self.holds.get(key)
        out: list[tuple[str, int]] = []
        if holds:
            for hold, (amount, expires) in holds.items():
                if expires > self.now:
                    break
                out.append((hold, amount))
        return out

    def get_hold(self, key: str, hold: str) -> int | None:
        holds = self.holds.get(key)
        h = None if holds is None else holds.get(hold)
        return None if h is None else h[0]

    def set_hold(self, key: str, hold: str, amount: int, expires: float) -> None:
        self.holds.setdefault(key, OrderedDict())[hold] = (amount, expires)

    def del_hold(self, key: str, hold: str) -> None:
        holds = self.holds.get(key)
        if holds is not None:
            holds.pop(hold, None)
            if not holds:
                del self.holds[key]

    def get_entry(self, table: str, name: str) -> Entry | None:
        return self.tables.get(table, {}).get(name)

    def set_entry(self, table: str, name: str, entry: Entry) -> None:
        self.tables.setdefault(table, {})[name] = entry

    def entries(self, table: str) -> dict[str, Entry]:
        rows = self.tables.get(table, {})
        for name in [n for n, e in rows.items() if e.expires <= self.now]:
            del rows[name]
        return dict(rows)

    def get_claim(self, key: str) -> float | None:
        return self.claims.get(key)

    def set_claim(self, key: str, expires: float) -> None:
        self.claims[key] = expires

    def sweep(self) -> None:
        now = self.now
        self.tats = {k: t for k, t in self.tats.items() if t > now}
        for key in [k for k, c in self.counts.items() if c[2] <= now]:
            del self.counts[key]
            self.holds.pop(key, None)
        self.claims = {k: e for k, e in self.claims.items() if e > now}
        for table in list(self.tables):
            self.entries(table)


class MemoryState:
    """Shared state for the requests of one process (see `gateway.state.base.State`)."""

    kind = "memory"
    shared = False

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tx = _Tx()
        self._calls = 0

    def __repr__(self) -> str:
        return f"<MemoryState counters={len(self._tx.counts)} rates={len(self._tx.tats)}>"

    def _begin(self) -> _Tx:
        tx = self._tx
        tx.now = self._clock()
        self._calls += 1
        if self._calls % SWEEP_EVERY == 0:
            tx.sweep()
        return tx

    # -- the State interface (atomic: nothing below awaits) ------------------------------------

    async def take(self, rates: list[Rate]) -> Taken:
        return logic.take(self._begin(), rates)

    async def adjust(self, rate: Rate) -> None:
        logic.adjust(self._begin(), rate)

    async def reserve(
        self, hold: str, charges: list[Charge], lease_s: float, *, force: bool = False
    ) -> Reserved:
        return logic.reserve(self._begin(), hold, charges, lease_s, force)

    async def settle(self, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
        return logic.settle(self._begin(), hold, charges)

    async def seed(self, charges: list[Charge]) -> tuple[Counter, ...]:
        return logic.seed(self._begin(), charges)

    async def counters(self, keys: list[str]) -> tuple[Counter, ...]:
        return logic.counters(self._begin(), keys)

    async def exists(self, keys: list[str]) -> tuple[bool, ...]:
        return logic.exists(self._begin(), keys)

    async def publish(self, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
        return logic.publish(self._begin(), table, name, value, at, ttl_s)

    async def table(self, table: str) -> dict[str, Entry]:
        return self._begin().entries(table)

    async def claim(self, key: str, ttl_s: float) -> bool:
        return logic.claim(self._begin(), key, ttl_s)

    async def start(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def status(self) -> dict[str, Any]:
        return {"backend": self.kind, "shared": self.shared, "connected": True}

    # -- for ResilientState: mirror what the shared backend said, hold on while it is away --------

    def mirror(self, keys: list[str], values: tuple[Counter, ...], ttl_s: float | None) -> None:
        """Take the shared backend's counters as ours (holds of this process kept on top)."""
        tx = self._begin()
        for key, c in zip(keys, values, strict=True):
            mine = sum(a for a, _ in tx.holds.get(key, {}).values())
            tx.set_counter(key, c.spent, c.held + mine, ttl_s)

    def peek(self, keys: list[str]) -> tuple[Counter, ...]:
        """`counters`, synchronously (no other task can run between a caller's two steps)."""
        return logic.counters(self._begin(), keys)

    def add(self, key: str, spent: int, held: int) -> None:
        """Change a counter by hand (a hold made on the shared backend, settled while it is away)."""
        tx = self._begin()
        now = tx.get_counter(key) or (0, 0)
        tx.set_counter(key, now[0] + spent, max(now[1] + held, 0), None)

    def holds_of(self, hold: str) -> list[tuple[str, int]]:
        """(counter, amount) of a hold made here."""
        return [(k, h[hold][0]) for k, h in self._tx.holds.items() if hold in h]

    def forget_hold(self, hold: str) -> None:
        """Drop a hold made here without touching the counters' totals (it moved to Redis)."""
        for key, _ in self.holds_of(hold):
            self._tx.del_hold(key, hold)

    def known_counters(self) -> dict[str, float]:
        """Every live counter, with the seconds it has left."""
        tx = self._begin()
        return {k: c[2] - tx.now for k, c in tx.counts.items() if c[2] > tx.now}
