"""Shared state, the algorithms: GCRA, holds with leases, newest-wins records, for local backends.

`MemoryState` (dicts) and `SqliteState` (one SQL transaction per call) both run these functions
over a `Tx`, the handful of reads and writes a backend offers inside one atomic step; the Redis
backend runs the same steps as Lua scripts (`redis_scripts.py`), and one test suite runs
against all three, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Protocol

from gateway.state.base import Charge, Counter, Entry, Rate, Reserved, Taken

# Float slack in the GCRA comparison: N costs that exactly fill a window must all pass.
EPSILON_S = 1e-6


class Tx(Protocol):
    """Reads and writes inside one atomic step of a local backend; `now` is wall-clock seconds."""

    now: float

    def get_tat(self, key: str) -> float: ...  # 0.0 when absent

    def set_tat(self, key: str, tat: float) -> None: ...  # forgotten once `tat` has passed

    def get_counter(self, key: str) -> tuple[int, int] | None: ...  # (spent, held)

    def set_counter(self, key: str, spent: int, held: int, ttl_s: float | None) -> None: ...

    def expired_holds(self, key: str) -> list[tuple[str, int]]: ...  # (hold, amount)

    def get_hold(self, key: str, hold: str) -> int | None: ...

    def set_hold(self, key: str, hold: str, amount: int, expires: float) -> None: ...

    def del_hold(self, key: str, hold: str) -> None: ...

    def get_entry(self, table: str, name: str) -> Entry | None: ...

    def set_entry(self, table: str, name: str, entry: Entry) -> None: ...

    def entries(self, table: str) -> dict[str, Entry]: ...  # the live ones

    def get_claim(self, key: str) -> float | None: ...  # its expiry

    def set_claim(self, key: str, expires: float) -> None: ...


# -- rates (GCRA) ----------------------------------------------------------------------------


def take(tx: Tx, rates: list[Rate]) -> Taken:
    """Advance every rate's theoretical arrival time, or none when one would pass its window."""
    new: list[float] = []
    for i, r in enumerate(rates):
        tat = max(tx.get_tat(r.key), tx.now) + min(r.cost, r.limit) * r.period_s / r.limit
        wait = tat - r.period_s - tx.now
        if wait > EPSILON_S:
            return Taken(i, wait)
        new.append(tat)
    for r, tat in zip(rates, new, strict=True):
        tx.set_tat(r.key, tat)
    return Taken(None)


def adjust(tx: Tx, rate: Rate) -> None:
    tat = max(tx.get_tat(rate.key), tx.now) + rate.cost * rate.period_s / rate.limit
    tx.set_tat(rate.key, tat)


# -- counters --------------------------------------------------------------------------------


def _counter(tx: Tx, key: str) -> Counter:
    """The counter after releasing the holds whose lease ended."""
    spent, held = tx.get_counter(key) or (0, 0)
    expired = tx.expired_holds(key)
    if expired:
        for hold, amount in expired:
            tx.del_hold(key, hold)
            held -= amount
        held = max(held, 0)
        tx.set_counter(key, spent, held, None)
    return Counter(spent, held)


def reserve(tx: Tx, hold: str, charges: list[Charge], lease_s: float, force: bool) -> Reserved:
    before = [_counter(tx, c.key) for c in charges]
    fresh = [tx.get_hold(c.key, hold) is None for c in charges]
    if not force:
        for i, (c, b, new) in enumerate(zip(charges, before, fresh, strict=True)):
            if new and c.limit is not None and b.used + c.amount > c.limit:
                return Reserved(i, tuple(before))
    after = []
    for c, b, new in zip(charges, before, fresh, strict=True):
        held = b.held
        if new:
            tx.set_hold(c.key, hold, c.amount, tx.now + lease_s)
            held += c.amount
        tx.set_counter(c.key, b.spent, held, c.ttl_s)
        after.append(Counter(b.spent, held))
    return Reserved(None, tuple(after))


def settle(tx: Tx, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
    out = []
    for c in charges:
        now = _counter(tx, c.key)
        held = now.held
        amount = tx.get_hold(c.key, hold)
        if amount is not None:
            tx.del_hold(c.key, hold)
            held = max(held - amount, 0)
        tx.set_counter(c.key, now.spent + c.amount, held, c.ttl_s)
        out.append(Counter(now.spent + c.amount, held))
    return tuple(out)


def seed(tx: Tx, charges: list[Charge]) -> tuple[Counter, ...]:
    for c in charges:
        if tx.get_counter(c.key) is None:
            tx.set_counter(c.key, c.amount, 0, c.ttl_s)
    return counters(tx, [c.key for c in charges])


def counters(tx: Tx, keys: list[str]) -> tuple[Counter, ...]:
    return tuple(_counter(tx, k) for k in keys)


def exists(tx: Tx, keys: list[str]) -> tuple[bool, ...]:
    return tuple(tx.get_counter(k) is not None for k in keys)


# -- tables and claims -----------------------------------------------------------------------


def publish(tx: Tx, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
    current = tx.get_entry(table, name)
    if current is not None and current.expires > tx.now and current.at > at:
        return False
    tx.set_entry(table, name, Entry(value, at, tx.now + ttl_s))
    return True


def claim(tx: Tx, key: str, ttl_s: float) -> bool:
    expires = tx.get_claim(key)
    if expires is not None and expires > tx.now:
        return False
    tx.set_claim(key, tx.now + ttl_s)
    return True
