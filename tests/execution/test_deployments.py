"""Deployments: power of two choices spreads load and avoids slow or failing deployments; the
hash ring keeps users in place and moves only a failed deployment's users."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from gateway.config import ModelConfig, parse_config
from gateway.execution.deployments import DeploymentPicker, Target

PROVIDERS = {n: {"kind": "openai", "base_url": f"http://127.0.0.1:9/{n}"}
             for n in ("box-a", "box-b", "box-c", "box-d")}
USERS = [f"user-{i}" for i in range(10_000)]


def models(*entries: dict[str, Any]) -> tuple[ModelConfig, ...]:
    return parse_config({"providers": PROVIDERS, "models": list(entries)}, env={}).models


def qwen(strategy: str = "least_busy", boxes: str = "abc", **kw: Any) -> dict[str, Any]:
    return {"id": "qwen", "upstream": "qwen2.5-7b", "latency_ms": 200,
            "deployments": [{"provider": f"box-{b}", **kw.get(b, {})} for b in boxes],
            "deployment_strategy": strategy}


class Clock:
    """Time that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def picker(*entries: dict[str, Any], clock: Clock | None = None, **kw: Any) -> DeploymentPicker:
    return DeploymentPicker(models(*entries), rng=random.Random(7), clock=clock or Clock(), **kw)


def test_targets_resolve_provider_upstream_and_names() -> None:
    p = picker(qwen(a={"upstream": "qwen-a"}),
               {"id": "solo", "provider": "box-d"},
               {"id": "twice", "provider": "box-a",
                "deployments": [{"provider": "box-a", "upstream": "x"},
                                {"provider": "box-a", "upstream": "y"}]})
    a, b, _ = p.targets("qwen")
    assert (a.provider, a.upstream, a.name) == ("box-a", "qwen-a", "qwen@box-a")
    assert (b.upstream, b.name) == ("qwen2.5-7b", "qwen@box-b")  # the model's upstream
    assert p.order("solo") == [Target("solo", "box-d", "solo", 1.0, "solo@box-d")]
    assert [t.name for t in p.targets("twice")] == ["twice@box-a/x", "twice@box-a/y"]


def test_least_busy_spreads_concurrent_requests_evenly() -> None:
    p = picker(qwen())
    for _ in range(300):  # 300 requests in flight at once, none finished
        p.started(p.order("qwen")[0])
    inflight = {name: s["inflight"] for name, s in p.snapshot().items()}
    assert sum(inflight.values()) == 300
    assert max(inflight.values()) - min(inflight.values()) <= 3, inflight


def test_least_busy_follows_the_weights() -> None:
    p = picker(qwen(boxes="ab", a={"weight": 3}, b={"weight": 1}))
    for _ in range(400):
        p.started(p.order("qwen")[0])
    inflight = {name: s["inflight"] for name, s in p.snapshot().items()}
    assert inflight["qwen@box-a"] == pytest.approx(300, abs=6), inflight


def test_least_busy_sends_less_to_a_slow_deployment() -> None:
    p = picker(qwen())
    latency = {"box-a": 100.0, "box-b": 100.0, "box-c": 1500.0}
    picks: Counter[str] = Counter()
    for _ in range(2000):  # one request at a time: only the latency tells them apart
        t = p.order("qwen")[0]
        p.started(t)
        p.finished(t, latency[t.provider], ok=True)
        picks[t.provider] += 1
    assert picks["box-c"] < 0.05 * 2000, picks
    assert abs(picks["box-a"] - picks["box-b"]) < 0.15 * 2000, picks


def test_a_deployment_slow_long_ago_gets_its_chance_again() -> None:
    clock = Clock()
    p = picker(qwen(boxes="ab"), clock=clock)
    a, b = p.targets("qwen")
    for _ in range(20):
        p.started(b)
        p.finished(b, 5000.0, ok=True)  # b had a very slow spell
    assert all(p.order("qwen")[0] == a for _ in range(50))
    clock.now += 10 * 60  # ten minutes without a call to b: its EWMA is back near 200 ms
    assert p.snapshot()["qwen@box-b"]["ewma_ms"] == pytest.approx(200, abs=1)
    firsts: Counter[str] = Counter()
    jitter = random.Random(1)
    for _ in range(400):  # both answer in 200-210 ms now
        t = p.order("qwen")[0]
        p.started(t)
        p.finished(t, 200.0 + 10 * jitter.random(), ok=True)
        firsts[t.provider] += 1
    assert firsts["box-b"] > 100, firsts


def test_a_deployment_that_fails_fast_does_not_attract_traffic() -> None:
    p = picker(qwen(boxes="ab"))
    picks: Counter[str] = Counter()
    for _ in range(1000):
        t = p.order("qwen")[0]
        p.started(t)
        failing = t.provider == "box-b"
        p.finished(t, 2.0 if failing else 200.0, ok=not failing)  # b fails in 2 ms
        picks[t.provider] += 1
    assert picks["box-b"] < 0.05 * 1000, picks


def test_a_dead_deployment_is_skipped_and_comes_back() -> None:
    down: set[str] = set()  # what the breakers say, through `is_up`
    p = picker(qwen(), is_up=lambda t: t.name not in down)
    a, b, c = p.targets("qwen")
    down.add(b.name)
    orders = [p.order("qwen") for _ in range(300)]
    assert all(b not in o and len(o) == 2 for o in orders)
    assert {o[0] for o in orders} == {a, c}
    down.clear()
    assert any(p.order("qwen")[0] == b for _ in range(300))
    down.update(t.name for t in (a, b, c))
    assert p.order("qwen") == []  # the executor moves on to the model's fallbacks


def test_the_breaker_decides_through_is_up() -> None:
    open_circuits = {"qwen@box-a"}
    p = picker(qwen(), is_up=lambda t: t.name not in open_circuits)
    assert all(o[0].provider != "box-a" for o in (p.order("qwen") for _ in range(200)))
    assert p.snapshot()["qwen@box-a"]["up"] is False
    solo = picker({"id": "solo", "provider": "box-d"}, is_up=lambda t: False)
    assert solo.order("solo") == []


def test_finished_keeps_counts_and_never_goes_negative() -> None:
    p = picker(qwen(boxes="ab"))
    a = p.targets("qwen")[0]
    p.started(a)
    p.finished(a, 300.0, ok=True)
    p.finished(a, 300.0, ok=False)  # a cancelled call reported twice must not corrupt the count
    snap = p.snapshot()["qwen@box-a"]
    assert snap["inflight"] == 0 and snap["calls"] == 2 and snap["failures"] == 1
    assert "qwen@box-a" in repr(p)


# -- consistent hash -----------------------------------------------------------------------------


def first_choices(p: DeploymentPicker) -> dict[str, str]:
    return {u: p.order("qwen", u)[0].provider for u in USERS}


def test_the_ring_is_sticky_and_balanced() -> None:
    p = picker(qwen("consistent_hash"))
    before = first_choices(p)
    assert before == first_choices(picker(qwen("consistent_hash")))  # another process: same
    shares = Counter(before.values())
    for box in ("box-a", "box-b", "box-c"):
        assert shares[box] / len(USERS) == pytest.approx(1 / 3, abs=0.05), shares
    for u in USERS[:50]:  # load does not move a user (that would cool their cache)
        t = p.order("qwen", u)[0]
        p.started(t)
    assert {u: p.order("qwen", u)[0].provider for u in USERS[:50]} == {
        u: before[u] for u in USERS[:50]}


def test_a_failed_deployment_moves_only_its_own_users() -> None:
    down: set[str] = set()
    p = picker(qwen("consistent_hash", boxes="abcd"), is_up=lambda t: t.name not in down)
    before = first_choices(p)
    dead = p.targets("qwen")[1]
    down.add(dead.name)
    after = first_choices(p)
    moved = {u for u in USERS if before[u] != after[u]}
    theirs = {u for u in USERS if before[u] == dead.provider}
    assert moved == theirs  # exactly the failed deployment's users, nobody else
    assert len(moved) / len(USERS) == pytest.approx(0.25, abs=0.05)
    assert Counter(after[u] for u in moved).keys() <= {"box-a", "box-c", "box-d"}
    assert len(set(after[u] for u in moved)) == 3  # spread over the others, not piled on one
    down.clear()
    assert first_choices(p) == before  # back home when it recovers


def test_adding_a_deployment_moves_about_its_share() -> None:
    three = first_choices(picker(qwen("consistent_hash", boxes="abc")))
    four = first_choices(picker(qwen("consistent_hash", boxes="abcd")))
    moved = [u for u in USERS if three[u] != four[u]]
    assert all(four[u] == "box-d" for u in moved)  # users only move to the new deployment
    assert len(moved) / len(USERS) == pytest.approx(0.25, abs=0.05)


def test_the_ring_honours_weights_and_falls_back_without_a_user() -> None:
    p = picker(qwen("consistent_hash", boxes="ab", a={"weight": 3}, b={"weight": 1}))
    share = Counter(p.order("qwen", u)[0].provider for u in USERS)["box-a"] / len(USERS)
    assert share == pytest.approx(0.75, abs=0.05)
    for _ in range(40):  # no user: least_busy
        p.started(p.order("qwen", None)[0])
    inflight = {n: s["inflight"] for n, s in p.snapshot().items()}
    assert inflight == {"qwen@box-a": 30, "qwen@box-b": 10}
    assert len(p.order("qwen", "someone")) == 2  # the other deployment follows, for failover
