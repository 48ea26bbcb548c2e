"""Execution: build each candidate's call stack and run the plan's chain.

    Retrying ─► Guarded (breakers) ─► Recorded (attempt row) ─► [Assembled] ─► [Timed] ─► provider

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
from gateway.execution.deployed import Deployed
from gateway.execution.deployments import DeploymentPicker, Target, served_as
from gateway.execution.parallel import OnConsensus, Parallel
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
    """One request's execution: its runner (a chain, or parallel legs), its call, and what its
    calls cost (`log`)."""

    runner: Chain | Parallel
    call: UpstreamCall
    log: AttemptLog

    async def complete(self) -> tuple[ModelConfig, Completion]:
        return await self.runner.complete(self.call)

    async def open(self) -> OpenStream:
        return await self.runner.open(self.call)


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
        on_consensus: OnConsensus = lambda legs, outcome, record: None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.breakers = breakers
        self.health = health
        self.prices = prices
        self.on_upstream_error = on_upstream_error
        self.on_resume = on_resume
        self.on_consensus = on_consensus
        self._policies: dict[int, RetryPolicy] = {}
        self._targets: dict[Target, ModelConfig] = {}
        self.picker = DeploymentPicker(config.models, is_up=self._up)

    def _policy(self, retries: int | None) -> RetryPolicy:
        n = self.config.reliability.retries if retries is None else retries
        policy = self._policies.get(n)
        if policy is None:
            policy = self._policies[n] = RetryPolicy(self.config.reliability, n)
        return policy

    def stack(self, step: Step, log: AttemptLog, req: DoorRequest, *, assemble: bool) -> Upstream:
        """The wrappers around one candidate's call, outermost first."""
        m = step.model
        if len(m.deployments) > 1:
            up: Upstream = Deployed(
                m, self.picker, req.user,
                lambda t: self._layers(self._at(t), t.provider, t.name, log, req, assemble),
                lambda call, t: call.to(self._at(t), self.config.timeouts_for(self._at(t), t.provider)))
        else:
            up = self._layers(m, m.provider, m.id, log, req, assemble)
        return Retrying(up, self._policy(step.retries))

    def _layers(self, m: ModelConfig, provider: str, breaker: str, log: AttemptLog,
                req: DoorRequest, assemble: bool) -> Upstream:
        call: Upstream = self.call_for(provider, req)
        if not getattr(call, "bounds_waits", False):
            call = Timed(call)
        if assemble and wire_of(call) == "openai":
            call = Assembled(call)  # below the attempt row: frames go through one layer only
        up = Recorded(call, log, m, provider)
        return Guarded(up, (self.breakers.providers[provider], self.breakers.models[breaker]),
                       functools.partial(self.on_upstream_error, provider))

    def _at(self, t: Target) -> ModelConfig:
        """The model as deployment `t` serves it (its provider, its upstream name)."""
        m = self._targets.get(t)
        if m is None:
            base = self.config.model(t.model)
            assert base is not None
            m = self._targets[t] = served_as(base, t)
        return m

    def _up(self, t: Target) -> bool:
        return (self.config.providers[t.provider].has_key
                and self.breakers.providers[t.provider].available()
                and self.breakers.models[t.name].available())

    def call_for(self, provider_name: str, req: DoorRequest) -> Upstream:
        """The provider call this request needs from this provider."""
        provider = self.providers[provider_name]
        if req.endpoint == "embeddings":
            if not isinstance(provider, Embedder):
                raise InvalidRequest(f"provider {provider_name!r} cannot embed", param="model")
            return Embed(provider)
        if req.native is not None and isinstance(provider, NativeMessages):
            return Native(provider, req.native, req.native_headers)
        return provider

    def start(self, plan: Plan, req: DoorRequest, record: RequestRecord) -> Run:
        log = AttemptLog(record, self.prices.cost_usd, plan.estimate.prompt_tokens)
        # Non-streamed calls are streamed upstream and assembled (the wrapper passes streams on)
        assemble = self.config.reliability.stream_upstream

        def chain(steps: list[Step]) -> Chain:
            return Chain(
                steps, log,
                build=lambda step: self.stack(step, log, req, assemble=assemble),
                why_not=self.health.why_not, timeouts=self.config.timeouts_for,
                wire=lambda step: wire_of(self.call_for(step.model.provider, req)),
                resume=req.stream and self.config.reliability.resume_streams,
                retries=self.config.reliability.retries, on_resume=self.on_resume,
                native=req.native,
            )

        first = plan.steps[0].model
        call = UpstreamCall(body=req.body, model=first, timeouts=self.config.timeouts_for(first),
                            stream=req.stream, include_usage=req.include_usage)
        if plan.parallel is None:
            return Run(chain(plan.steps), call, log)
        p = plan.parallel
        runner = Parallel(p.legs, plan.models, p.judge, p.strategy,
                          lambda m: chain([Step(m)]), record, self.on_consensus)
        return Run(runner, call, log)


def wire_of(upstream: object) -> str:
    """The format an upstream call answers in (wrappers pass their inner call's through)."""
    while hasattr(upstream, "inner"):
        upstream = upstream.inner
    wire = getattr(upstream, "wire", "openai")
    return wire if isinstance(wire, str) else "openai"
