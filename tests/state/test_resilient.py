"""Redis going away and coming back: serve on in-process state, say so, catch up, lose nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from gateway.state import Charge, Counter, Rate
from gateway.state.redis_state import RedisState
from gateway.state.resilient import ResilientState
from tests.servers import RedisServer

DAY = "budget:global:day"


def usd(amount: int, key: str = DAY, limit: int | None = 100) -> Charge:
    return Charge(key, amount, limit, 3600)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


async def in_redis(url: str, keys: list[str]) -> tuple[Counter, ...]:
    """What another instance would read from Redis."""
    other = RedisState(url)
    try:
        return await other.counters(keys)
    finally:
        await other.aclose()


def test_a_redis_down_at_start_is_reported_and_joined_when_it_comes_up(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.state")
    redis_server.stop()

    async def main() -> None:
        state = ResilientState(RedisState(redis_server.url), retry_s=0.05)
        await state.start()
        status = state.status()
        assert status["connected"] is False and status["fallback"] == "in-process"
        assert "unreachable" in caplog.text
        assert (await state.take([Rate("k", 1, 1, 60)])).ok  # limits still apply, here
        assert not (await state.take([Rate("k", 1, 1, 60)])).ok
        await state.seed([usd(40)])  # read back from the log at start
        assert (await state.reserve("r1", [usd(50)], 60)).ok
        assert not (await state.reserve("r2", [usd(20)], 60)).ok
        await state.settle("r1", [usd(45)])
        redis_server.start()
        await until(lambda: state.connected)
        assert state.status()["connected"] is True and "reachable again" in caplog.text
        assert await in_redis(redis_server.url, [DAY]) == (Counter(85, 0),)
        await state.aclose()

    run(main)


@pytest.mark.parametrize("persist", [True, False], ids=["redis-keeps-data", "redis-comes-back-empty"])
def test_redis_stopped_mid_run_loses_nothing_and_counts_nothing_twice(persist: bool) -> None:
    server = RedisServer(persist=persist).start()

    async def main() -> None:
        state = ResilientState(RedisState(server.url), retry_s=0.05)
        await state.start()
        assert (await state.reserve("before", [usd(30)], 60)).ok  # held in Redis
        await state.settle("paid", [usd(10)])  # spent in Redis
        server.stop()
        # In flight when Redis went away, settled while it is away:
        assert await state.settle("before", [usd(20)]) == (Counter(30, 0),)
        assert state.status()["connected"] is False
        # Admitted while away, against what this process knew, still in flight at the return:
        assert (await state.reserve("during", [usd(60)], 60)).ok
        assert not (await state.reserve("refused", [usd(20)], 60)).ok
        await state.publish("circuits", "p", {"state": "open"}, at=1.0, ttl_s=60)
        server.start()
        await until(lambda: state.connected)
        assert await in_redis(server.url, [DAY]) == (Counter(30, 60),)
        assert await state.settle("during", [usd(15)]) == (Counter(45, 0),)
        assert await in_redis(server.url, [DAY]) == (Counter(45, 0),)
        other = RedisState(server.url)
        assert (await other.table("circuits"))["p"].value == {"state": "open"}
        await other.aclose()
        await state.aclose()

    try:
        run(main)
    finally:
        server.close()


def test_settlements_made_while_catching_up_are_not_lost(redis_server: RedisServer) -> None:
    async def main() -> None:
        state = ResilientState(RedisState(redis_server.url), retry_s=0.05)
        await state.start()
        redis_server.stop()
        await state.settle("a", [usd(1, limit=None)])
        assert not state.connected
        redis_server.start()
        n = 0
        while not state.connected:  # keep spending while the catch-up runs
            n += 1
            await state.settle(f"b{n}", [usd(1, limit=None)])
            await asyncio.sleep(0.001)
        assert await in_redis(redis_server.url, [DAY]) == (Counter(1 + n, 0),)
        await state.aclose()

    run(main)


def test_two_instances_catching_up_with_an_emptied_redis_at_once_both_count() -> None:
    """Both find the counter gone and both seed it (the first seed wins); each then adds the
    settlements it made while away, so neither instance's spend from the outage is lost."""
    server = RedisServer().start()

    async def main() -> None:
        a, b = (ResilientState(RedisState(server.url), retry_s=0.05) for _ in range(2))
        for state in (a, b):
            await state.start()
        await a.settle("a0", [usd(10, limit=None)])
        await b.settle("b0", [usd(20, limit=None)])  # b has seen 30 in Redis, a only 10
        server.stop()
        # in one step of the loop: both go away together, so both come back together
        await asyncio.gather(a.settle("a1", [usd(1, limit=None)]),
                             b.settle("b1", [usd(2, limit=None)]))
        server.start()
        await until(lambda: a.connected and b.connected)
        (total,) = await in_redis(server.url, [DAY])
        assert total in (Counter(10 + 3, 0), Counter(30 + 3, 0))  # whichever seeded first
        for state in (a, b):
            await state.aclose()

    try:
        run(main)
    finally:
        server.close()


def test_hundreds_of_commands_in_flight_wait_for_a_connection(redis_server: RedisServer) -> None:
    """A busy gateway has more state calls in flight than its pool has connections: they
    queue for one; Redis is not taken for down (which would make every limit per process)."""

    async def main() -> None:
        state = ResilientState(RedisState(redis_server.url, connections=8), retry_s=0.05)
        await state.start()
        taken = await asyncio.gather(*(state.take([Rate("k", 1, 10_000, 60)])
                                       for _ in range(300)))
        assert all(t.ok for t in taken) and state.connected
        await state.aclose()

    run(main)
