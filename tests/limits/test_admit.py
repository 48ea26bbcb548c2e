"""Admission: rate limits then a budget reservation before the call, one settlement after it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.config import GatewayConfig, parse_config
from gateway.errors import BudgetExceeded, RateLimited
from gateway.limits import Admission
from gateway.state import MemoryState


def config(**key: Any) -> GatewayConfig:
    return parse_config({
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"id": "m", "provider": "p"}],
        "auth": {"api_keys": [{"name": "team", "key": "k", "role": "client", **key}]},
    }, env={})


def test_a_budget_refusal_gives_the_estimated_tokens_back() -> None:
    async def main() -> None:
        admission = Admission.from_config(config(tpm=100, daily_usd=0.01), MemoryState())
        with pytest.raises(BudgetExceeded):
            await admission.admit("team", tokens=80, usd=0.02)
        ticket = await admission.admit("team", tokens=80, usd=0.005)  # the 80 were given back
        with pytest.raises(RateLimited):
            await admission.admit("team", tokens=30, usd=0.001)
        await admission.settle(ticket, tokens=10, usd=0.001)
        await admission.admit("team", tokens=30, usd=0.001)

    asyncio.run(main())


def test_settle_counts_once() -> None:
    async def main() -> None:
        admission = Admission.from_config(config(daily_usd=1.0), MemoryState())
        ticket = await admission.admit("team", tokens=10, usd=0.4)
        await admission.settle(ticket, tokens=10, usd=0.3)
        await admission.settle(ticket, tokens=10, usd=0.3)
        admission.settle_soon(ticket, tokens=10, usd=0.3)
        await admission.close()
        spent = (await admission.budget.report())["scopes"]["team"]["daily_spent_usd"]
        assert spent == pytest.approx(0.3)

    asyncio.run(main())


def test_a_cancelled_request_is_still_settled() -> None:
    async def main() -> None:
        admission = Admission.from_config(config(daily_usd=1.0), MemoryState())
        started = asyncio.Event()

        async def request() -> None:
            ticket = await admission.admit("team", tokens=10, usd=0.5)
            try:
                started.set()
                await asyncio.sleep(60)  # the upstream call, which the client abandons
            finally:
                admission.settle_soon(ticket, tokens=None, usd=0.2)

        task = asyncio.create_task(request())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await admission.close()
        row = (await admission.budget.report())["scopes"]["team"]
        assert (row["daily_spent_usd"], row["daily_reserved_usd"]) == (0.2, 0.0)

    asyncio.run(main())
