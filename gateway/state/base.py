"""Shared state, the interface: what admit (rate limits, budgets) and the breakers ask of a backend.

Four kinds of state are shared by the requests of one process, the workers of one host and the
instances behind one load balancer, and each is one atomic operation here, so no caller ever
reads, computes and writes back (the race that lets 64 concurrent requests all pass a budget):

- **rates** (`take`, `adjust`): GCRA counters, one per (key, limit). `take` admits a cost
  against several limits at once or none of them; `adjust` corrects a taken cost afterwards
  (tokens are estimated before a call and known after it).
- **counters** (`reserve`, `settle`, `seed`, `counters`): a spent amount and the amounts held by
  requests in flight. `reserve` holds an amount on several counters at once, all or none, and
  only if each stays within its limit; `settle` releases a hold and adds what was really spent.
  Holds carry a lease: a process that dies with requests in flight does not block a budget for
  longer than the lease. Amounts are integers (the budget counts nano-dollars) so sums are
  exact on every backend.
- **tables** (`publish`, `table`): small named records (circuit states, probe results, alerts),
  newest `at` wins, each with an expiry.
- **claims** (`claim`): true for the first caller of a key within its expiry (say once).

Backends: `MemoryState` (one process), `SqliteState` (the workers of one host, without Redis)
and `RedisState`; `ResilientState` puts Redis in front of a `MemoryState` and keeps serving when
Redis is down. `build_state` in `gateway.state` picks one from the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


class StateUnavailable(Exception):
    """The backend could not be reached or did not answer (Redis down, timed out)."""


@dataclass(frozen=True)
class Rate:
    """`cost` against a limit of `limit` per `period_s` on the GCRA counter `key`.

    The whole limit may be used at once (burst = limit); a cost above the limit is counted as
    the limit, so one large request waits for an empty window instead of waiting forever.
    """

    key: str
    cost: float
    limit: float
    period_s: float


@dataclass(frozen=True)
class Charge:
    """`amount` on the counter `key`; `limit` None counts without limiting.

    The counter is kept `ttl_s` after its last change (a day's counter outlives its day).
    """

    key: str
    amount: int
    limit: int | None
    ttl_s: int


@dataclass(frozen=True)
class Counter:
    spent: int = 0
    held: int = 0  # by requests in flight

    @property
    def used(self) -> int:
        return self.spent + self.held


@dataclass(frozen=True)
class Taken:
    """`failed` is the index of the first rate that would go over its limit (None: taken);
    `retry_after_s` is how long until it would fit."""

    failed: int | None
    retry_after_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed is None


@dataclass(frozen=True)
class Reserved:
    """`failed` is the index of the first charge that would go over its limit (None: held);
    `counters` are the charges' counters after the call (before it, when it failed)."""

    failed: int | None
    counters: tuple[Counter, ...]

    @property
    def ok(self) -> bool:
        return self.failed is None


@dataclass(frozen=True)
class Entry:
    """One record of a table: its value (JSON-ready), when it was written, when it expires."""

    value: Any
    at: float
    expires: float


class State(Protocol):
    """Where the counters and records that several requests share live.

    Every method is one atomic step on the backend. Methods raise `StateUnavailable` when the
    backend cannot be reached (only remote backends do; `ResilientState` catches it).
    """

    kind: str  # memory | sqlite | redis
    shared: bool  # seen by other processes

    async def take(self, rates: list[Rate]) -> Taken:
        """Count every rate's cost, or none of them if one would go over its limit."""
        ...

    async def adjust(self, rate: Rate) -> None:
        """Add `rate.cost` (negative gives back) to a taken rate, without any check."""
        ...

    async def reserve(
        self, hold: str, charges: list[Charge], lease_s: float, *, force: bool = False
    ) -> Reserved:
        """Hold every charge under `hold`, or none if one would go over its limit (`force`: hold
        regardless, for replaying what was admitted while the backend was away). Reserving
        the same hold twice holds once."""
        ...

    async def settle(self, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
        """Release `hold` on each charge's counter and add the charge's amount (what was spent).
        A hold the counter does not know (expired, or never made here) just adds."""
        ...

    async def seed(self, charges: list[Charge]) -> tuple[Counter, ...]:
        """Set each counter's spent amount to the charge's, where the counter does not exist."""
        ...

    async def counters(self, keys: list[str]) -> tuple[Counter, ...]:
        """The counters now (a missing one reads as zero); expired holds are released first."""
        ...

    async def exists(self, keys: list[str]) -> tuple[bool, ...]:
        """Which counters exist (a restarted Redis without persistence has lost them)."""
        ...

    async def publish(self, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
        """Write a record unless the table holds a newer one (a larger `at`); True if written."""
        ...

    async def table(self, table: str) -> dict[str, Entry]:
        """The records of a table that have not expired."""
        ...

    async def claim(self, key: str, ttl_s: float) -> bool:
        """True for the first caller within `ttl_s`, False for every other."""
        ...

    async def start(self) -> None:
        """Connect (a remote backend raises StateUnavailable when it cannot)."""
        ...

    async def ping(self) -> None:
        """Raise StateUnavailable when the backend cannot be reached."""
        ...

    async def aclose(self) -> None: ...

    def status(self) -> dict[str, Any]:
        """What /health shows: the backend, whether it is shared, whether it is reachable."""
        ...
