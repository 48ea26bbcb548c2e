"""Admit, budgets: daily, monthly and per-request USD limits, global and per key, never overspent.

Checking a budget before a call and counting the cost after it lets every request of a burst
pass the check before the first one is counted (64 concurrent requests, 64 passes). So a
request *reserves* its worst-case cost (the caller prices the input estimate plus the most the
answer may cost; parallel legs reserve their sum) on every counter it touches, in one atomic
step that refuses if any counter would pass its limit, and *settles* the real cost when it is
over, releasing the rest. As long as a call costs no more than its worst case, spend never
passes a limit; the bound the contract promises (one request's worth) covers a worst case
that was estimated low.

Spend lives on the shared state (`gateway.state`): in the process, in a SQLite file shared by
workers, or in Redis shared by instances. It is read back from the request log at start (a
counter that already exists, because another instance or worker made it, is kept). Counters
count nano-dollars, so sums are exact on every backend. `on_exceed: downgrade` is the caller's
to apply: `affordable()` says which cheaper options fit, without I/O. Crossing an alert
threshold is logged once per period across all instances (a claim on the state).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gateway.config import GatewayConfig
from gateway.errors import BudgetExceeded
from gateway.state import Charge, Counter, State, StateUnavailable

if TYPE_CHECKING:
    from gateway.usage.reports import LogReader

log = logging.getLogger("gateway.budget")
T = TypeVar("T")

NANO = 1_000_000_000  # counters count nano-dollars
PERIODS = (("daily", "%Y-%m-%d", 3 * 86400), ("monthly", "%Y-%m", 40 * 86400))  # name, id, ttl
ALERTS = "budget-alerts"  # the state table alerts are published to


def nano(usd: float) -> int:
    return round(usd * NANO)


@dataclass(frozen=True)
class Limits:
    daily_usd: float | None
    monthly_usd: float | None
    per_request_usd: float | None

    def of(self, period: str) -> float | None:
        return self.daily_usd if period == "daily" else self.monthly_usd


@dataclass(frozen=True)
class Reservation:
    """What one request holds: `settle` it exactly once when the request is over."""

    key: str | None
    hold: str
    usd: float
    charges: tuple[Charge, ...] = ()
    scopes: tuple[tuple[str | None, str], ...] = ()  # (scope, period) of each charge


@dataclass
class Budget:
    """The budgets of one gateway (see the module docstring). Build with `Budget.from_config`."""

    state: State
    limits: dict[str | None, Limits]  # None is the global scope
    on_exceed: str = "reject"
    thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)
    lease_s: float = 900.0
    reader: LogReader | None = None
    _seen: dict[str, Counter] = field(default_factory=dict)  # last known, for `why_not`
    _alerted: set[str] = field(default_factory=set)

    @classmethod
    def from_config(cls, config: GatewayConfig, state: State,
                    reader: LogReader | None = None) -> Budget:
        b = config.budgets
        limits: dict[str | None, Limits] = {
            None: Limits(b.daily_usd, b.monthly_usd, b.per_request_usd)}
        for k in config.auth.api_keys:
            limits[k.name] = Limits(k.daily_usd, k.monthly_usd, k.per_request_usd)
        # A hold outlives the longest request (retries and fallbacks included) by a margin.
        lease = max(900.0, 3 * config.reliability.timeouts.total_s)
        return cls(state, limits, b.on_exceed, tuple(sorted(b.alert_thresholds)), lease, reader)

    def __repr__(self) -> str:
        return f"<Budget scopes={len(self.limits)} on {self.state.kind} enabled={self.enabled}>"

    @property
    def enabled(self) -> bool:
        return any(v is not None for lim in self.limits.values() for v in vars(lim).values())

    # -- counters --------------------------------------------------------------------------------

    def _counters(self, key: str | None, amount: int, now: float | None = None
                  ) -> list[tuple[str | None, str, Charge]]:
        """(scope, period, charge) for every counter a request of `key` touches."""
        when = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        out = []
        for scope in (None, key) if key is not None and key in self.limits else (None,):
            name = "global" if scope is None else f"key:{scope}"
            limits = self.limits[scope]
            for period, fmt, ttl in PERIODS:
                limit = limits.of(period)
                counter = f"budget:{name}:{period}:{when.strftime(fmt)}"
                out.append((scope, period,
                            Charge(counter, amount, None if limit is None else nano(limit), ttl)))
        return out

    def _see(self, charges: Sequence[Charge], counters: Sequence[Counter]) -> None:
        for c, value in zip(charges, counters, strict=True):
            self._seen[c.key] = value

    # -- admit -----------------------------------------------------------------------------------

    def why_not(self, key: str | None, usd: float) -> str | None:
        """Why `usd` more would break a budget of `key` or the global one; None if it fits.

        No I/O: it compares with the spend last seen, so `reserve` may still refuse."""
        if not self.enabled:
            return None
        why = self._per_request(key, usd)
        if why:
            return why
        for scope, period, charge in self._counters(key, nano(usd)):
            seen = self._seen.get(charge.key, Counter())
            if charge.limit is not None and seen.used + charge.amount > charge.limit:
                return _spent(scope, period, self.limits[scope], seen)
        return None

    def fits(self, key: str | None, usd: float) -> bool:
        return self.why_not(key, usd) is None

    def affordable(self, key: str | None, options: Iterable[tuple[T, float]]) -> list[T]:
        """The options (thing, worst-case USD) that fit, cheapest first: for `downgrade`."""
        return [o for o, usd in sorted(options, key=lambda x: x[1]) if self.fits(key, usd)]

    def _per_request(self, key: str | None, usd: float) -> str | None:
        for scope in (None, key) if key is not None else (None,):
            lim = self.limits.get(scope)
            if lim is not None and lim.per_request_usd is not None and usd > lim.per_request_usd:
                return (f"estimated cost ${usd:.6f} exceeds the {_who(scope)} per-request budget "
                        f"of ${lim.per_request_usd:g}")
        return None

    async def reserve(self, key: str | None, usd: float | Sequence[float]) -> Reservation:
        """Hold `usd` (a sequence: parallel legs, held as their sum) or raise BudgetExceeded."""
        total = float(usd) if isinstance(usd, int | float) else float(sum(usd))
        if not self.enabled:
            return Reservation(key, "", total)
        why = self._per_request(key, total)
        if why:
            raise BudgetExceeded(f"Budget exceeded: {why}.")
        hold = "b" + os.urandom(8).hex()
        parts = self._counters(key, nano(total))
        charges = [c for _, _, c in parts]
        try:
            done = await self.state.reserve(hold, charges, self.lease_s)
        except StateUnavailable as exc:  # a broken state file must not stop the gateway
            log.error("budget not enforced for this request: %s", exc)
            return Reservation(key, hold, total)
        self._see(charges, done.counters)
        if done.failed is not None:
            scope, period, _ = parts[done.failed]
            why = _spent(scope, period, self.limits[scope], done.counters[done.failed])
            raise BudgetExceeded(f"Budget exceeded: {why}.")
        return Reservation(key, hold, total, tuple(charges), tuple((s, p) for s, p, _ in parts))

    async def settle(self, reservation: Reservation, usd: float | None) -> None:
        """The request is over and cost `usd` (None or 0: nothing was billed)."""
        if not self.enabled:
            return
        amount = nano(usd or 0.0)
        if reservation.charges:
            charges = [Charge(c.key, amount, c.limit, c.ttl_s) for c in reservation.charges]
            scopes = list(reservation.scopes)
        else:  # reserved while the state was broken: count the spend now
            parts = self._counters(reservation.key, amount)
            charges, scopes = [c for _, _, c in parts], [(s, p) for s, p, _ in parts]
        try:
            counters = await self.state.settle(reservation.hold or "none", charges)
        except StateUnavailable as exc:
            log.error("spend of $%.6f not counted: %s", usd or 0.0, exc)
            return
        self._see(charges, counters)
        await self._alert(charges, scopes, counters)

    # -- alerts and reports ----------------------------------------------------------------------

    async def _alert(self, charges: Sequence[Charge], scopes: Sequence[tuple[str | None, str]],
                     counters: Sequence[Counter]) -> None:
        for c, (scope, period), value in zip(charges, scopes, counters, strict=True):
            if not c.limit:
                continue
            for t in self.thresholds:
                tag = f"{c.key}:{t:g}"
                if tag in self._alerted or value.spent < t * c.limit:
                    continue
                self._alerted.add(tag)
                try:
                    if await self.state.claim(f"alert:{tag}", c.ttl_s):  # once, of all instances
                        await self._raise_alert(tag, scope, period, t, value, c)
                except StateUnavailable as exc:
                    log.error("budget alert %s not shared: %s", tag, exc)

    async def _raise_alert(self, tag: str, scope: str | None, period: str, threshold: float,
                           value: Counter, charge: Charge) -> None:
        limit = self.limits[scope].of(period) or 0.0
        spent = value.spent / NANO
        alert = {"at": datetime.now(UTC).isoformat(), "scope": _who(scope), "period": period,
                 "threshold": threshold, "spent_usd": round(spent, 6), "limit_usd": limit}
        log.warning("budget alert: %s %s spend $%.4f reached %d%% of $%g", _who(scope), period,
                    spent, round(threshold * 100), limit)
        await self.state.publish(ALERTS, tag, alert, time.time(), charge.ttl_s)

    async def load(self) -> None:
        """Seed today's and this month's counters from the log (kept where they exist)."""
        if not self.enabled or self.reader is None:
            return
        now = datetime.now(UTC)
        starts = _period_starts(now)
        charges = []
        for scope in self.limits:
            for s, period, c in self._counters(scope, 0, now.timestamp()):
                if s == scope:
                    spent = await self.reader.spend(starts[period], api_key=scope)
                    charges.append(Charge(c.key, nano(spent), c.limit, c.ttl_s))
        try:
            self._see(charges, await self.state.seed(charges))
        except StateUnavailable as exc:
            log.error("budget spend not read back: %s", exc)

    async def report(self) -> dict[str, Any]:
        """Spend against every budget (global and per key), and the alerts raised: /admin/budget."""
        parts = [p for scope in self.limits for p in self._counters(scope, 0) if p[0] == scope]
        values: Sequence[Counter] = [Counter()] * len(parts)
        alerts: list[dict[str, Any]] = []
        if self.enabled:
            try:
                values = await self.state.counters([c.key for _, _, c in parts])
                table = await self.state.table(ALERTS)
                alerts = [e.value for e in sorted(table.values(), key=lambda e: e.at)][-100:]
            except StateUnavailable as exc:
                log.error("budget report without shared state: %s", exc)
        elif self.reader is not None:  # nothing is counted on the state: the log knows
            starts = _period_starts(datetime.now(UTC))
            values = [Counter(nano(await self.reader.spend(starts[p], api_key=s)))
                      for s, p, _ in parts]
        scopes: dict[str, Any] = {}
        for (scope, period, _), value in zip(parts, values, strict=True):
            lim = self.limits[scope]
            row = scopes.setdefault("global" if scope is None else str(scope),
                                    {"per_request_usd": lim.per_request_usd})
            row[f"{period}_usd"] = lim.of(period)
            row[f"{period}_spent_usd"] = round(value.spent / NANO, 10)
            row[f"{period}_reserved_usd"] = round(value.held / NANO, 10)
        return {"on_exceed": self.on_exceed, "scopes": scopes, "alerts": alerts}


def _period_starts(now: datetime) -> dict[str, datetime]:
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return {"daily": day, "monthly": day.replace(day=1)}


def _who(scope: str | None) -> str:
    return "global" if scope is None else f"key {scope!r}"


def _spent(scope: str | None, period: str, limits: Limits, value: Counter) -> str:
    held = f", ${value.held / NANO:.6f} more held by requests in flight" if value.held else ""
    return (f"the {_who(scope)} {period} budget of ${limits.of(period):g} is spent "
            f"(${value.spent / NANO:.6f}{held})")
