"""Execution: build each candidate's call stack and run the plan's chain.

    Retrying ─► Guarded (breakers) ─► [Assembled] ─► Recorded (attempt row) ─► Timed ─► provider

Every layer is an Upstream wrapping the next, so a stream's bookkeeping ends where it began:
each layer's own `finally` settles its part (the breaker's verdict, the attempt row) whichever
way the stream ends. `Assembled` turns a stream into a non-streamed answer.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.config import GatewayConfig, ModelConfig
from gateway.doors.base import DoorRequest
from gateway.errors import InvalidRequest, ProviderError
from gateway.execution.assemble import Assembled
from gateway.execution.attempts import AttemptLog, Recorded
from gateway.execution.calls import Embed, Native
from gateway.execution.chain import Chain, OpenStream
from gateway.health import Health
from gateway.plan import Plan, Step
from gateway.resilience.breaker import Breakers
from gateway.resilience.guard import Guarded
from gateway.resilience.retry import Retrying, RetryPolicy
from gateway.resilience.timeouts import Timed
from gateway.usage.events import RequestRecord
from gateway.usage.pricing import PriceBook
from providers.base import (
    Completion,
    Embedder,
    NativeMessages,
    Provider,
    Upstream,
    UpstreamCall,
)


@dataclass
class Run:
    """One request's execution: its chain, its call, and what its calls cost (`log`)."""

    chain: Chain
    call: UpstreamCall
    log: AttemptLog

    async def complete(self) -> tuple[ModelConfig, Completion]:
        return await self.chain.complete(self.call)

    async def open(self) -> OpenStream:
        return await self.chain.open(self.call)


class Executor:
    def __init__(
        self,
        config: GatewayConfig,
        providers: Mapping[str, Provider],
        breakers: Breakers,
        health: Health,
        prices: PriceBook,
        *,
        on_upstream_error: Callable[[str, ProviderError], None] = lambda p, exc: None,
        on_resume: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.breakers = breakers
        self.health = health
        self.prices = prices
        self.on_upstream_error = on_upstream_error
        self.on_resume = on_resume
        self._policies: dict[int, RetryPolicy] = {}

    def _policy(self, retries: int | None) -> RetryPolicy:
        n = self.config.reliability.retries if retries is None else retries
        policy = self._policies.get(n)
        if policy is None:
            policy = self._policies[n] = RetryPolicy(self.config.reliability, n)
        return policy

    def stack(self, step: Step, log: AttemptLog, req: DoorRequest, *, assemble: bool) -> Upstream:
        """The wrappers around one candidate's call, outermost first."""
        m = step.model
        up: Upstream = Recorded(Timed(self.call_for(m, req)), log, m, m.provider)
        if assemble and wire_of(up) == "openai":
            up = Assembled(up)
        up = Guarded(up, (self.breakers.providers[m.provider], self.breakers.models[m.id]),
                     functools.partial(self.on_upstream_error, m.provider))
        return Retrying(up, self._policy(step.retries))

    def call_for(self, model: ModelConfig, req: DoorRequest) -> Upstream:
        """The provider call this request needs from this model's provider."""
        provider = self.providers[model.provider]
        if req.endpoint == "embeddings":
            if not isinstance(provider, Embedder):
                raise InvalidRequest(f"provider {model.provider!r} cannot embed", param="model")
            return Embed(provider)
        if req.native is not None and isinstance(provider, NativeMessages):
            return Native(provider, req.native, req.native_headers)
        return provider

    def start(self, plan: Plan, req: DoorRequest, record: RequestRecord) -> Run:
        log = AttemptLog(record, self.prices.cost_usd, plan.estimate.prompt_tokens)
        assemble = not req.stream and self.config.reliability.stream_upstream
        chain = Chain(
            plan.steps, log,
            build=lambda step: self.stack(step, log, req, assemble=assemble),
            why_not=self.health.why_not, timeouts=self.config.timeouts_for,
            wire=lambda step: wire_of(self.call_for(step.model, req)),
            resume=req.stream and self.config.reliability.resume_streams,
            retries=self.config.reliability.retries, on_resume=self.on_resume,
        )
        first = plan.steps[0].model
        call = UpstreamCall(body=req.body, model=first, timeouts=self.config.timeouts_for(first),
                            stream=req.stream, include_usage=req.include_usage)
        return Run(chain, call, log)


def wire_of(upstream: object) -> str:
    """The format an upstream call answers in (wrappers pass their inner call's through)."""
    while hasattr(upstream, "inner"):
        upstream = upstream.inner
    wire = getattr(upstream, "wire", "openai")
    return wire if isinstance(wire, str) else "openai"
