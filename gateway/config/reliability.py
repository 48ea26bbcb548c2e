"""Configuration: retries, backoff, circuit breakers, timeouts, stream resume."""

from __future__ import annotations

from pydantic import Field

from gateway.config.base import Frozen


class Timeouts(Frozen):
    """Each limit means one thing: connecting; the first byte of an answer (a stream's first
    token, or a whole non-streamed answer's status line); silence between two stream chunks;
    and the whole call."""

    connect_s: float = Field(5, gt=0)
    first_token_s: float = Field(10, gt=0)
    idle_s: float = Field(5, gt=0)
    total_s: float = Field(600, gt=0)


class TimeoutsOverride(Frozen):
    connect_s: float | None = Field(None, gt=0)
    first_token_s: float | None = Field(None, gt=0)
    idle_s: float | None = Field(None, gt=0)
    total_s: float | None = Field(None, gt=0)


class Backoff(Frozen):
    initial_s: float = Field(0.2, ge=0)
    max_s: float = Field(8, ge=0)
    retry_after_max_s: float = Field(30, ge=0)


class BreakerConfig(Frozen):
    failure_threshold: int = Field(5, ge=1)
    cooldown_s: float = Field(60, gt=0)


class ReliabilityConfig(Frozen):
    retries: int = Field(2, ge=0)  # per model, on retryable errors, before falling back
    # A timeout says the upstream is sick: by default it is not retried, the chain moves on.
    timeout_retries: int = Field(0, ge=0)
    backoff: Backoff = Backoff()
    circuit_breaker: BreakerConfig = BreakerConfig()
    timeouts: Timeouts = Timeouts()
    resume_streams: bool = True  # continue a stream cut mid-answer on the next candidate
    # Ask upstreams for a stream even when the client did not, and assemble the answer: the
    # first-token and idle limits then bound non-streamed calls too, and a call cut halfway
    # falls back before the client has seen anything.
    stream_upstream: bool = True
