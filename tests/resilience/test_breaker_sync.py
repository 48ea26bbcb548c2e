"""Circuits shared by instances: opened by one, respected by the other within `refresh_s`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.config import BreakerConfig
from gateway.resilience.breaker import Breakers
from gateway.state import MemoryState, State
from gateway.state.redis_state import RedisState
from gateway.state.resilient import ResilientState
from gateway.state.sqlite import SqliteState
from tests.servers import RedisServer

CONFIG = BreakerConfig(failure_threshold=2, cooldown_s=0.5)
REFRESH_S = 0.05


@pytest.fixture(params=["sqlite", "redis"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], State]:
    if request.param == "sqlite":
        return lambda: SqliteState(tmp_path / "state.db")
    server: RedisServer = request.getfixturevalue("redis_server")
    return lambda: ResilientState(RedisState(server.url))


def breakers(state: State | None) -> Breakers:
    return Breakers(CONFIG, ["prov"], [("model-a", "prov")], state, refresh_s=REFRESH_S)


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_a_circuit_opened_by_one_instance_is_respected_by_the_other(shared) -> None:
    async def main() -> None:
        a, b = breakers(shared()), breakers(shared())
        for x in (a, b):
            assert x.sync is not None
            await x.sync.state.start()
            await x.start()
        for _ in range(2):
            assert a.models["model-a"].acquire()
            a.models["model-a"].failure()
        assert not a.available("prov", "model-a")
        await until(lambda: not b.available("prov", "model-a"))
        assert b.models["model-a"].half_open_at == a.models["model-a"].half_open_at
        assert b.providers["prov"].available()  # only the model's circuit opened
        # After the cooldown, b's first request is the probe; its success closes a's circuit.
        await until(lambda: b.models["model-a"].acquire())
        b.models["model-a"].success()
        await until(lambda: a.models["model-a"].state == "closed")
        # An operator's reset on one instance closes the circuit everywhere.
        for _ in range(2):
            b.providers["prov"].failure()
        await until(lambda: a.providers["prov"].state == "open")
        assert a.reset("prov")
        await until(lambda: b.providers["prov"].state == "closed")
        for x in (a, b):
            await x.close()
            assert x.sync is not None
            await x.sync.state.aclose()

    asyncio.run(main())


def test_in_process_state_shares_nothing() -> None:
    assert breakers(MemoryState()).sync is None
    assert breakers(None).sync is None
