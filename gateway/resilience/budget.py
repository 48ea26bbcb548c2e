"""Budgets: daily, monthly and per-request USD limits, globally and per API key.

Before the call, the estimated cost of the first candidate (gateway/usage/estimate.py, the one
estimator) is checked against what is left;
after it, the actual cost is added. Spend lives in memory (the request path must not query the
database) and is read back from the request log at start, so it survives a restart.
`on_exceed: reject` answers 429 `budget_exceeded`; `downgrade` swaps the plan for the cheapest
usable models whose estimate fits. Crossing an alert threshold logs once per period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gateway.config import GatewayConfig, ModelConfig
from gateway.errors import BudgetExceeded
from gateway.usage.events import RequestRecord

if TYPE_CHECKING:
    from gateway.usage.reports import LogReader

log = logging.getLogger("gateway.budget")

@dataclass
class Limits:
    daily_usd: float | None
    monthly_usd: float | None
    per_request_usd: float | None


@dataclass
class Spend:
    day: str = ""
    month: str = ""
    daily: float = 0.0
    monthly: float = 0.0
    alerted: set[str] = field(default_factory=set)

    def roll(self, now: datetime) -> None:
        day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
        if day != self.day:
            self.day, self.daily = day, 0.0
            self.alerted = {a for a in self.alerted if a.startswith("monthly")}
        if month != self.month:
            self.month, self.monthly = month, 0.0
            self.alerted = {a for a in self.alerted if a.startswith("daily")}


class Budget:
    def __init__(self, config: GatewayConfig, reader: LogReader) -> None:
        b = config.budgets
        self.config = config
        self.on_exceed = b.on_exceed
        self.thresholds = sorted(b.alert_thresholds)
        self.reader = reader
        self.limits: dict[str | None, Limits] = {
            None: Limits(b.daily_usd, b.monthly_usd, b.per_request_usd)}
        for k in config.auth.api_keys:
            self.limits[k.name] = Limits(k.daily_usd, k.monthly_usd, k.per_request_usd)
        self.spend: dict[str | None, Spend] = {name: Spend() for name in self.limits}
        self.alerts: list[dict[str, Any]] = []

    @property
    def enabled(self) -> bool:
        return any(v is not None for lim in self.limits.values() for v in vars(lim).values())

    async def load(self) -> None:
        """Read today's and this month's spend back from the log."""
        if not self.enabled:
            return
        now = datetime.now(UTC)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        for name, spend in self.spend.items():
            spend.roll(now)
            spend.daily = await self.reader.spend(day, api_key=name)
            spend.monthly = await self.reader.spend(month, api_key=name)

    def _over(self, name: str | None, estimate: float) -> str | None:
        """Why `estimate` more would break a limit of `name` (None = global), or None."""
        lim, spend = self.limits.get(name), self.spend.get(name)
        if lim is None or spend is None:
            return None
        spend.roll(datetime.now(UTC))
        who = "global" if name is None else f"key {name!r}"
        if lim.per_request_usd is not None and estimate > lim.per_request_usd:
            return (f"estimated cost ${estimate:.6f} exceeds the {who} per-request budget "
                    f"of ${lim.per_request_usd:g}")
        if lim.daily_usd is not None and spend.daily + estimate > lim.daily_usd:
            return f"the {who} daily budget of ${lim.daily_usd:g} is spent (${spend.daily:.6f})"
        if lim.monthly_usd is not None and spend.monthly + estimate > lim.monthly_usd:
            return (f"the {who} monthly budget of ${lim.monthly_usd:g} is spent "
                    f"(${spend.monthly:.6f})")
        return None

    def why_not(self, key: str | None, estimate: float) -> str | None:
        return self._over(None, estimate) or (self._over(key, estimate) if key else None)

    def check(
        self, record: RequestRecord, chain: Sequence[ModelConfig],
        estimate: Callable[[ModelConfig], float],
        usable: Callable[[], Sequence[ModelConfig]] = tuple,
    ) -> list[ModelConfig] | None:
        """Raise BudgetExceeded, or return a cheaper chain (downgrade), or None (fine as is).
        `estimate` prices a model for this request (gateway/usage/estimate.py)."""
        if not self.enabled or not chain:
            return None
        why = self.why_not(record.api_key, estimate(chain[0]))
        if why is None:
            return None
        if self.on_exceed == "downgrade":
            fits = sorted(
                (m for m in usable() if self.why_not(record.api_key, estimate(m)) is None),
                key=estimate)
            if fits:
                record.routing_reason = f"budget downgrade: {why}; cheapest that fits: {fits[0].id}"
                return fits
        raise BudgetExceeded(f"Budget exceeded: {why}.")

    def spent(self, key: str | None, usd: float) -> None:
        now = datetime.now(UTC)
        for name in {None, key}:
            spend = self.spend.get(name)
            if spend is None:
                continue
            spend.roll(now)
            spend.daily += usd
            spend.monthly += usd
            self._alert(name, spend)

    def _alert(self, name: str | None, spend: Spend) -> None:
        lim = self.limits[name]
        for period, used, limit in (("daily", spend.daily, lim.daily_usd),
                                    ("monthly", spend.monthly, lim.monthly_usd)):
            if not limit:
                continue
            for t in self.thresholds:
                tag = f"{period}:{t}"
                if used >= t * limit and tag not in spend.alerted:
                    spend.alerted.add(tag)
                    who = "global" if name is None else f"key {name}"
                    alert = {"at": datetime.now(UTC).isoformat(), "scope": who, "period": period,
                             "threshold": t, "spent_usd": round(used, 6), "limit_usd": limit}
                    self.alerts.append(alert)
                    del self.alerts[:-100]
                    log.warning("budget alert: %s %s spend $%.4f reached %d%% of $%g",
                                who, period, used, round(t * 100), limit)

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {"on_exceed": self.on_exceed, "scopes": {}, "alerts": self.alerts}
        now = datetime.now(UTC)
        for name, lim in self.limits.items():
            spend = self.spend[name]
            spend.roll(now)
            out["scopes"]["global" if name is None else name] = {
                "daily_usd": lim.daily_usd, "daily_spent_usd": round(spend.daily, 10),
                "monthly_usd": lim.monthly_usd, "monthly_spent_usd": round(spend.monthly, 10),
                "per_request_usd": lim.per_request_usd,
            }
        return out
