"""Budgets: reserve the worst case, settle the real cost, never overspend, on every backend."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.config import DatabaseConfig, GatewayConfig, parse_config
from gateway.errors import BudgetExceeded
from gateway.limits import Budget
from gateway.state import MemoryState
from gateway.usage.events import RequestRecord
from gateway.usage.reports import LogReader
from gateway.usage.store import SqlSink


def config(budgets: dict[str, Any] | None = None, keys: list[dict[str, Any]] | None = None
           ) -> GatewayConfig:
    return parse_config({
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"id": "m", "provider": "p"}],
        "budgets": budgets or {},
        "auth": {"api_keys": keys or []},
    }, env={})


KEYS = [{"name": "small", "key": "ks", "daily_usd": 0.05, "per_request_usd": 0.02},
        {"name": "big", "key": "kb"}]


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_reserve_refuses_what_would_pass_the_limit_and_settle_releases_the_rest() -> None:
    async def main() -> None:
        budget = Budget.from_config(config({"daily_usd": 1.0}), MemoryState())
        first = await budget.reserve(None, 0.6)
        with pytest.raises(BudgetExceeded) as info:
            await budget.reserve(None, 0.5)
        assert "global daily budget of $1 is spent" in info.value.message
        assert "$0.600000 more held by requests in flight" in info.value.message
        assert info.value.headers() == {"x-should-retry": "false"}
        await budget.settle(first, 0.1)  # the call cost less than its worst case
        await budget.reserve(None, 0.5)
        report = await budget.report()
        assert report["scopes"]["global"]["daily_spent_usd"] == pytest.approx(0.1)
        assert report["scopes"]["global"]["daily_reserved_usd"] == pytest.approx(0.5)

    run(main)


def test_per_request_and_per_key_limits() -> None:
    async def main() -> None:
        budget = Budget.from_config(config({"per_request_usd": 0.5}, KEYS), MemoryState())
        with pytest.raises(BudgetExceeded, match=r"global per-request budget of \$0.5"):
            await budget.reserve("big", 0.6)
        with pytest.raises(BudgetExceeded, match=r"key 'small' per-request budget of \$0.02"):
            await budget.reserve("small", 0.03)
        for _ in range(2):
            await budget.settle(await budget.reserve("small", 0.02), 0.02)
        with pytest.raises(BudgetExceeded, match=r"key 'small' daily budget of \$0.05"):
            await budget.reserve("small", 0.02)
        await budget.reserve("big", 0.4)  # only that key is limited

    run(main)


def test_parallel_legs_are_reserved_as_their_sum() -> None:
    async def main() -> None:
        budget = Budget.from_config(config({"daily_usd": 1.0}), MemoryState())
        await budget.reserve(None, [0.3, 0.3, 0.3])
        with pytest.raises(BudgetExceeded):
            await budget.reserve(None, [0.05, 0.06])
        await budget.reserve(None, [0.05, 0.05])

    run(main)


def test_downgrade_picks_the_cheapest_options_that_fit() -> None:
    async def main() -> None:
        budget = Budget.from_config(
            config({"daily_usd": 1.0, "on_exceed": "downgrade"}, KEYS), MemoryState())
        await budget.reserve(None, 0.7)
        options = [("pricey", 0.5), ("mid", 0.2), ("cheap", 0.01)]
        assert budget.on_exceed == "downgrade"
        assert budget.affordable(None, options) == ["cheap", "mid"]
        assert budget.affordable("small", options) == ["cheap"]  # its per-request $0.02
        assert budget.why_not(None, 0.5) is not None and budget.fits(None, 0.3)

    run(main)


def test_alerts_are_raised_once_per_threshold_and_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.budget")

    async def main() -> None:
        budget = Budget.from_config(config({"daily_usd": 1.0}), MemoryState())
        for _ in range(3):
            await budget.settle(await budget.reserve(None, 0.3), 0.3)
        report = await budget.report()
        assert [(a["period"], a["threshold"]) for a in report["alerts"]] == [
            ("daily", 0.5), ("daily", 0.8)]
        assert report["alerts"][0]["scope"] == "global"
        assert caplog.text.count("budget alert") == 2

    run(main)


def test_the_report_keeps_the_admin_budget_shape() -> None:
    async def main() -> None:
        budget = Budget.from_config(config({"daily_usd": 2, "monthly_usd": 20}, KEYS),
                                    MemoryState())
        await budget.settle(await budget.reserve("small", 0.01), 0.004)
        report = await budget.report()
        assert set(report) == {"on_exceed", "scopes", "alerts"}
        assert set(report["scopes"]) == {"global", "small", "big"}
        assert report["scopes"]["small"] == {
            "daily_usd": 0.05, "daily_spent_usd": 0.004, "daily_reserved_usd": 0.0,
            "monthly_usd": None, "monthly_spent_usd": 0.004, "monthly_reserved_usd": 0.0,
            "per_request_usd": 0.02}
        assert report["scopes"]["global"]["monthly_spent_usd"] == 0.004
        assert report["scopes"]["big"]["daily_spent_usd"] == 0.0

    run(main)


def test_spend_is_read_back_from_the_log_and_an_existing_counter_is_kept(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    now = datetime.now(UTC)

    async def main() -> None:
        sink = SqlSink(DatabaseConfig(url=url))
        await sink.start()
        sink.put(RequestRecord(id="a", api_key="small", cost_usd=0.03, status="success"))
        sink.put(RequestRecord(id="b", api_key="big", cost_usd=0.5, status="success"))
        sink.put(RequestRecord(id="old", created_at=now - timedelta(days=40), cost_usd=9.0))
        await sink.close()
        reader = LogReader(url)
        state = MemoryState()
        budget = Budget.from_config(config({"daily_usd": 1}, KEYS), state, reader)
        await budget.load()
        report = await budget.report()
        assert report["scopes"]["global"]["daily_spent_usd"] == pytest.approx(0.53)
        assert report["scopes"]["small"]["daily_spent_usd"] == pytest.approx(0.03)
        held = await budget.reserve("small", 0.02)  # exactly what is left
        with pytest.raises(BudgetExceeded, match="key 'small' daily"):
            await budget.reserve("small", 0.001)
        await budget.settle(held, 0.0)
        await budget.settle(await budget.reserve("big", 0.1), 0.1)
        again = Budget.from_config(config({"daily_usd": 1}, KEYS), state, reader)
        await again.load()  # a second worker starting: the live counter wins over the log
        assert (await again.report())["scopes"]["global"]["daily_spent_usd"] == pytest.approx(0.63)
        await reader.aclose()

    run(main)


def test_without_limits_nothing_is_counted_and_the_report_reads_the_log(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        sink = SqlSink(DatabaseConfig(url=url))
        await sink.start()
        sink.put(RequestRecord(id="a", api_key="big", cost_usd=0.25, status="success"))
        await sink.close()
        state = MemoryState()
        reader = LogReader(url)
        budget = Budget.from_config(config({}, KEYS[1:]), state, reader)
        assert not budget.enabled
        await budget.settle(await budget.reserve("big", 5.0), 5.0)
        assert await state.counters([]) == ()
        report = await budget.report()
        assert report["scopes"]["big"]["daily_spent_usd"] == 0.25
        await reader.aclose()

    run(main)


# -- on every backend, from several clients at once -------------------------------------------


def test_a_concurrent_burst_cannot_overspend_a_small_budget(state_clients) -> None:
    """The bug behind a $764 bill on a $50 budget: 64 requests checked before any was counted."""

    async def request(budget: Budget, worst: float) -> bool:
        try:
            held = await budget.reserve("small", worst)
        except BudgetExceeded:
            return False
        await asyncio.sleep(random.uniform(0, 0.02))  # the upstream call
        await budget.settle(held, worst * random.uniform(0.5, 1.0))
        return True

    async def main() -> None:
        states = [state_clients() for _ in range(2)]  # two instances (or workers)
        budgets = [Budget.from_config(config({}, KEYS), s) for s in states]
        worst = 0.0049  # at most ten fit in the key's $0.05 a day
        admitted = await asyncio.gather(*(request(budgets[i % 2], worst) for i in range(64)))
        spent = (await budgets[0].report())["scopes"]["small"]["daily_spent_usd"]
        assert 10 <= sum(admitted) < 64
        assert spent <= 0.05
        for s in {id(s): s for s in states}.values():
            await s.aclose()

    run(main)


def test_a_burst_admits_exactly_what_fits_when_every_call_costs_its_worst_case(
    state_clients,
) -> None:
    async def main() -> None:
        states = [state_clients() for _ in range(2)]
        budgets = [Budget.from_config(config({"daily_usd": 0.05}), s) for s in states]

        async def one(i: int) -> bool:
            try:
                held = await budgets[i % 2].reserve(None, 0.007)
            except BudgetExceeded:
                return False
            await budgets[i % 2].settle(held, 0.007)
            return True

        admitted = sum(await asyncio.gather(*(one(i) for i in range(100))))
        assert admitted == 7  # 7 * 0.007 = 0.049 <= 0.05 < 8 * 0.007
        report = await budgets[1].report()
        assert report["scopes"]["global"]["daily_spent_usd"] == pytest.approx(0.049)
        for s in {id(s): s for s in states}.values():
            await s.aclose()

    run(main)


def test_a_budget_exhausted_through_one_instance_is_seen_by_the_other(state_clients) -> None:
    async def main() -> None:
        a_state, b_state = state_clients(), state_clients()
        cfg = config({"daily_usd": 0.01})
        a, b = Budget.from_config(cfg, a_state), Budget.from_config(cfg, b_state)
        await a.settle(await a.reserve(None, 0.01), 0.01)
        with pytest.raises(BudgetExceeded):
            await b.reserve(None, 0.001)
        assert len((await b.report())["alerts"]) == 3  # 50, 80, 100 %: raised once, by `a`
        for s in {id(s): s for s in (a_state, b_state)}.values():
            await s.aclose()

    run(main)

