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
