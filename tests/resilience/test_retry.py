"""Retrying: which failures are retried, how long it waits, and streams retried only before
their first frame."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.config import ReliabilityConfig
from gateway.errors import (
    ContextLengthExceeded,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from gateway.resilience.retry import Retrying, RetryPolicy
from tests.fakes.upstream import ScriptedUpstream, answer, frame
from tests.providers.helpers import make_call, make_config

FAST = ReliabilityConfig(retries=2, backoff={"initial_s": 0.01, "max_s": 0.02,
                                             "retry_after_max_s": 1})


def http(status: int, retry_after: float | None = None) -> UpstreamHTTPError:
    return UpstreamHTTPError(f"HTTP {status}", http_status=status, retry_after_s=retry_after)


@pytest.mark.parametrize(("exc", "failures", "wanted"), [
    (http(503), 1, True),
    (http(503), 2, True),
    (http(503), 3, False),  # retries: 2
    (http(429), 1, True),
    (http(400), 1, False),
    (http(401), 1, False),
    (ContextLengthExceeded("too long"), 1, False),
    (UpstreamConnectionError("reset"), 1, True),
    (UpstreamTimeout("slow", kind="first_token"), 1, False),  # timeout_retries: 0
    (http(429, retry_after=0.5), 1, True),
    (http(429, retry_after=5), 1, False),  # longer than retry_after_max_s: fall back instead
])
def test_what_is_retried(exc: Exception, failures: int, wanted: bool) -> None:
    assert RetryPolicy(FAST, FAST.retries).wants(exc, failures) is wanted


def test_timeouts_have_their_own_budget() -> None:
    policy = RetryPolicy(ReliabilityConfig(retries=3, timeout_retries=1), 3)
    timeout = UpstreamTimeout("slow")
    assert policy.wants(timeout, 1) and not policy.wants(timeout, 2)


def test_retry_after_wins_over_backoff() -> None:
    policy = RetryPolicy(FAST, 2)
    assert policy.delay(http(429, retry_after=0.7), 1) == 0.7
    assert 0.005 <= policy.delay(http(503), 1) <= 0.01  # jittered in [ceiling/2, ceiling]


def call(stream: bool = False):  # type: ignore[no-untyped-def]
    return make_call(make_config("openai", "http://127.0.0.1:9/v1"), {"messages": []},
                     stream=stream)


def test_complete_is_retried_then_succeeds() -> None:
    up = ScriptedUpstream("up", [http(503)], [http(502)], answer("ok"))
    result = asyncio.run(Retrying(up, RetryPolicy(FAST, 2)).complete(call()))
    assert result.usage.prompt_tokens == 10 and len(up.calls) == 3


def test_complete_gives_up_with_the_last_error() -> None:
    up = ScriptedUpstream("up", [http(503)], [http(503)], [http(500)])
    with pytest.raises(UpstreamHTTPError) as info:
        asyncio.run(Retrying(up, RetryPolicy(FAST, 2)).complete(call()))
    assert info.value.http_status == 500 and len(up.calls) == 3


def test_retry_after_is_waited_for() -> None:
    up = ScriptedUpstream("up", [http(429, retry_after=0.3)], answer("ok"))
    started = time.monotonic()
    asyncio.run(Retrying(up, RetryPolicy(FAST, 2)).complete(call()))
    assert time.monotonic() - started >= 0.3


async def drain(retrying: Retrying) -> list[object]:
    return [item async for item in retrying.stream(call(stream=True))]


def test_a_stream_is_retried_before_its_first_frame() -> None:
    up = ScriptedUpstream("up", [UpstreamConnectionError("reset")], answer("hi"))
    items = asyncio.run(drain(Retrying(up, RetryPolicy(FAST, 2))))
    assert frame("hi") in items and len(up.calls) == 2


def test_a_stream_is_not_retried_after_its_first_frame() -> None:
    # after the first frame the chain's resume takes over: the error goes up as it is
    up = ScriptedUpstream("up", [frame("", role=True), frame("a"), UpstreamConnectionError("cut")])
    with pytest.raises(UpstreamConnectionError):
        asyncio.run(drain(Retrying(up, RetryPolicy(FAST, 2))))
    assert len(up.calls) == 1
