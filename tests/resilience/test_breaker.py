"""The circuit breaker's state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from gateway.config import BreakerConfig
from gateway.resilience.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_opens_after_threshold_consecutive_failures(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=3, cooldown_s=10), clock)
    for _ in range(2):
        assert b.acquire()
        b.failure()
    assert b.state == "closed"
    b.acquire()
    b.failure()
    assert b.state == "open" and not b.acquire() and not b.available()
    assert "open" in repr(b)


def test_success_resets_the_count(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=2, cooldown_s=10), clock)
    b.failure()
    b.success()
    b.failure()
    assert b.state == "closed"


def test_half_open_lets_one_probe_then_closes_on_success(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=10), clock)
    b.failure()
    clock.now = 9.9
    assert b.state == "open"
    clock.now = 10.0
    assert b.state == "half_open"
    assert b.acquire()  # the probe
    assert not b.acquire()  # nobody else while it is out
    b.success()
    assert b.state == "closed" and b.acquire()


def test_half_open_probe_failure_reopens(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=10), clock)
    b.failure()
    clock.now = 10
    assert b.acquire()
    b.failure()
    assert b.state == "open"
    clock.now = 19.9
    assert b.state == "open"
    clock.now = 20
    assert b.state == "half_open"
    assert b.opened_count == 2


def test_reset_closes(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=10), clock)
    b.failure()
    b.reset()
    assert b.state == "closed"


def test_the_first_request_after_the_cooldown_is_the_probe(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=10), clock)
    b.failure()
    clock.now = 9.999
    assert not b.available() and not b.acquire()
    clock.now = 10.0  # nothing else to wait for: no timer, no background probe
    assert b.available() and b.acquire()


def test_a_probe_that_never_reports_stops_blocking_after_a_cooldown(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=10), clock)
    b.failure()
    clock.now = 10
    assert b.acquire()  # the probe's task is lost: no success, failure or release
    clock.now = 19.9
    assert not b.available()
    clock.now = 20
    assert b.available() and b.acquire()


def test_an_open_circuit_says_when_it_half_opens(clock: Clock):
    b = CircuitBreaker("p", BreakerConfig(failure_threshold=1, cooldown_s=30), clock)
    assert b.half_open_at is None and b.retry_in_s() is None
    assert "half_open_at" not in b.snapshot()
    clock.now = 1000.0
    b.failure()
    clock.now = 1012.5
    assert b.half_open_at == 1030.0 and b.retry_in_s() == 17.5
    snap = b.snapshot()
    assert snap["circuit"] == "open" and snap["retry_in_s"] == 17.5
    assert snap["half_open_at"] == "1970-01-01T00:17:10+00:00"
    clock.now = 1031
    assert b.retry_in_s() == 0.0 and b.snapshot()["circuit"] == "half_open"


def test_transitions_are_announced_and_a_newer_one_from_elsewhere_is_applied(clock: Clock):
    seen: list[str] = []
    config = BreakerConfig(failure_threshold=2, cooldown_s=10)
    here = CircuitBreaker("p", config, clock, on_change=lambda b: seen.append(b.state))
    there = CircuitBreaker("p", config, clock)
    clock.now = 100
    here.failure()
    assert seen == []  # one failure changes nothing others need to know
    here.failure()
    assert seen == ["open"]
    assert there.apply(here.record()) and there.state == "open"
    assert there.half_open_at == 110 and there.opened_count == 1
    assert not there.apply(here.record())  # not newer: nothing to do
    clock.now = 111
    assert there.acquire()
    there.success()  # the other instance's probe succeeded
    assert here.apply(there.record()) and here.state == "closed" and here.failures == 0
    here.reset()  # an operator's reset is announced even when already closed
    assert seen == ["open", "closed"]
    stale = {"state": "open", "at": 50.0, "opened_at": 50.0}
    assert not here.apply(stale) and here.state == "closed"
