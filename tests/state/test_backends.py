"""One contract, three backends: in process, a SQLite file, and a real Redis on 127.0.0.1."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from gateway.state import Charge, Counter, Rate, State
from gateway.state.sqlite import SqliteState

Make = Callable[[], State]


@pytest.fixture
def make(state_clients: Make) -> Make:
    return state_clients


def run(make: Make, main: Callable[[State], Coroutine[Any, Any, None]]) -> None:
    async def go() -> None:
        state = make()
        await state.start()
        try:
            await main(state)
        finally:
            await state.aclose()

    asyncio.run(go())


def rpm(key: str, cost: float = 1, limit: float = 3) -> Rate:
    return Rate(key, cost, limit, 60.0)


def usd(key: str, amount: int, limit: int | None = 100) -> Charge:
    return Charge(key, amount, limit, 3600)


# -- rates ------------------------------------------------------------------------------------


def test_a_rate_admits_its_limit_then_says_how_long_to_wait(make: Make) -> None:
    async def main(s: State) -> None:
        for _ in range(3):
            assert (await s.take([rpm("k")])).ok
        refused = await s.take([rpm("k")])
        assert refused.failed == 0
        assert 0 < refused.retry_after_s <= 20  # one slot frees every 60 s / 3
        assert (await s.take([rpm("other")])).ok  # keys are separate

    run(make, main)


def test_several_rates_are_taken_all_or_none(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.take([rpm("b", limit=1)])).ok
        refused = await s.take([rpm("a", limit=2), rpm("b", limit=1)])
        assert refused.failed == 1
        for _ in range(2):  # "a" was not counted by the refused call
            assert (await s.take([rpm("a", limit=2)])).ok
        assert not (await s.take([rpm("a", limit=2)])).ok

    run(make, main)


def test_adjust_gives_back_or_adds_tokens(make: Make) -> None:
    async def main(s: State) -> None:
        tpm = Rate("t", 80, 100, 60.0)
        assert (await s.take([tpm])).ok
        assert not (await s.take([Rate("t", 30, 100, 60.0)])).ok
        await s.adjust(Rate("t", -60, 100, 60.0))  # used 20 of the 80 estimated
        assert (await s.take([Rate("t", 70, 100, 60.0)])).ok
        await s.adjust(Rate("t", 50, 100, 60.0))  # used more than estimated
        assert not (await s.take([Rate("t", 1, 100, 60.0)])).ok

    run(make, main)


def test_a_cost_above_the_limit_waits_for_an_empty_window_instead_of_forever(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.take([Rate("big", 500, 100, 60.0)])).ok
        assert not (await s.take([Rate("big", 1, 100, 60.0)])).ok

    run(make, main)


# -- counters ---------------------------------------------------------------------------------


def test_reserve_holds_within_the_limit_and_settle_releases(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.reserve("h1", [usd("day", 60)], 60)).counters == (Counter(0, 60),)
        refused = await s.reserve("h2", [usd("day", 50)], 60)
        assert (refused.failed, refused.counters) == (0, (Counter(0, 60),))
        assert await s.settle("h1", [usd("day", 30)]) == (Counter(30, 0),)
        assert (await s.reserve("h2", [usd("day", 50)], 60)).counters == (Counter(30, 50),)
        assert (await s.reserve("h3", [usd("day", 20)], 60)).ok  # exactly the limit
        assert not (await s.reserve("h4", [usd("day", 1)], 60)).ok
        assert await s.counters(["day", "never"]) == (Counter(30, 70), Counter(0, 0))

    run(make, main)


def test_reserve_is_all_or_none_and_counts_unlimited_counters(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.reserve("h0", [usd("key", 10, limit=10)], 60)).ok
        refused = await s.reserve("h1", [usd("global", 5, None), usd("key", 5, limit=10)], 60)
        assert refused.failed == 1
        assert await s.counters(["global"]) == (Counter(0, 0),)
        done = await s.reserve("h2", [usd("global", 5, None), usd("other", 5, 10)], 60)
        assert done.counters == (Counter(0, 5), Counter(0, 5))

    run(make, main)


def test_the_same_hold_is_held_once_and_forced_holds_ignore_the_limit(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.reserve("h", [usd("c", 40)], 60)).ok
        assert (await s.reserve("h", [usd("c", 40)], 60)).counters == (Counter(0, 40),)
        forced = await s.reserve("f", [usd("c", 90)], 60, force=True)
        assert forced.ok and forced.counters == (Counter(0, 130),)

    run(make, main)


def test_a_hold_whose_lease_ended_is_released(make: Make) -> None:
    async def main(s: State) -> None:
        assert (await s.reserve("dead", [usd("c", 90)], 0.2)).ok
        assert (await s.reserve("live", [usd("c", 5)], 60)).ok
        await asyncio.sleep(0.4)
        assert await s.counters(["c"]) == (Counter(0, 5),)
        assert (await s.reserve("next", [usd("c", 90)], 60)).ok
        assert await s.settle("dead", [usd("c", 7)]) == (Counter(7, 95),)  # just adds

    run(make, main)


def test_seed_sets_only_a_missing_counter(make: Make) -> None:
    async def main(s: State) -> None:
        assert await s.exists(["a", "b"]) == (False, False)
        assert await s.seed([usd("a", 25)]) == (Counter(25, 0),)
        assert await s.seed([usd("a", 99), usd("b", 3)]) == (Counter(25, 0), Counter(3, 0))
        assert await s.exists(["a", "b", "c"]) == (True, True, False)

    run(make, main)


def test_counters_expire_after_their_ttl(make: Make) -> None:
    async def main(s: State) -> None:
        await s.settle("h", [Charge("short", 5, None, 1)])
        await asyncio.sleep(1.3)
        assert await s.exists(["short"]) == (False,)

    run(make, main)


# -- tables and claims ------------------------------------------------------------------------


def test_tables_keep_the_newest_record_until_it_expires(make: Make) -> None:
    async def main(s: State) -> None:
        assert await s.publish("circuits", "p", {"state": "open"}, at=10.0, ttl_s=60)
        assert not await s.publish("circuits", "p", {"state": "closed"}, at=9.0, ttl_s=60)
        assert await s.publish("circuits", "q", [1, "two"], at=11.0, ttl_s=0.2)
        table = await s.table("circuits")
        assert {n: (e.value, e.at) for n, e in table.items()} == {
            "p": ({"state": "open"}, 10.0), "q": ([1, "two"], 11.0)}
        await asyncio.sleep(0.4)
        assert set(await s.table("circuits")) == {"p"}
        assert await s.table("nothing") == {}

    run(make, main)


def test_a_claim_is_won_once_per_ttl(make: Make) -> None:
    async def main(s: State) -> None:
        assert await s.claim("alert:x", 0.3)
        assert not await s.claim("alert:x", 0.3)
        await asyncio.sleep(0.5)
        assert await s.claim("alert:x", 0.3)

    run(make, main)


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_reservations_from_two_clients_never_pass_the_limit(make: Make) -> None:
    async def main(s: State) -> None:
        other = make()
        await other.start()
        try:
            clients = [s, other]
            done = await asyncio.gather(*(
                clients[i % 2].reserve(f"h{i}", [usd("tiny", 7)], 60) for i in range(200)))
        finally:
            if other is not s:
                await other.aclose()
        assert sum(d.ok for d in done) == 14  # 14 * 7 = 98 <= 100 < 15 * 7
        assert await s.counters(["tiny"]) == (Counter(0, 98),)

    run(make, main)


def _worker(path: str, n: int, out: Any) -> None:
    async def main() -> int:
        state = SqliteState(path)
        try:
            done = await asyncio.gather(*(
                state.reserve(f"{id(state)}-{i}", [usd("tiny", 7)], 60) for i in range(n)))
            return sum(d.ok for d in done)
        finally:
            await state.aclose()

    out.put(asyncio.run(main()))


def test_worker_processes_share_one_sqlite_file_without_overspending(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    path = str(tmp_path / "state.db")
    procs = [ctx.Process(target=_worker, args=(path, 40, out)) for _ in range(4)]
    for p in procs:
        p.start()
    admitted = sum(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
    assert admitted == 14

    async def check() -> None:
        state = SqliteState(path)
        assert await state.counters(["tiny"]) == (Counter(0, 98),)
        await state.aclose()

    asyncio.run(check())
