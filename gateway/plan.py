"""Plan: which models to try for one request, in order, and what the request is.

`auto` and every `auto:<profile>` go to the router; an id or alias names a model, followed by
its configured fallbacks; an A/B experiment that takes the request replaces the requested model
with its arm's. Either way the request is classified (the log says what kind of request each
one was) and its tokens estimated once, for the budget and the attempts log. Names are resolved
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config import CONSENSUS_PROFILE, TASKS, GatewayConfig, ModelConfig, undated
from gateway.doors.base import DoorRequest
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.execution.legs import LegPlan, choose_legs, parallel_options
from gateway.experiments.assign import Assigner
from gateway.health import Health
from gateway.routing import Classification, Decision, LearnedModel, Router
from gateway.routing.tokens import estimate_text
from gateway.usage.estimate import Estimate
from gateway.usage.events import RequestRecord


@dataclass(frozen=True, slots=True)
class Step:
    """One candidate of a plan; `retries` overrides `reliability.retries` for it."""

    model: ModelConfig
    retries: int | None = None


@dataclass(frozen=True, slots=True)
class ParallelPlan:
    """Several legs at once, and how one answer is chosen from them."""

    legs: LegPlan
    strategy: str
    judge: ModelConfig | None


@dataclass(slots=True)
class Plan:
    steps: list[Step]
    estimate: Estimate
    classification: Classification | None = None  # None for embeddings: no prompt to classify
    decision: Decision | None = None
    parallel: ParallelPlan | None = None  # the steps are then the legs

    @property
    def models(self) -> list[ModelConfig]:
        return [s.model for s in self.steps]


class Planner:
    def __init__(self, config: GatewayConfig, router: Router, health: Health) -> None:
        self.config = config
        self.router = router
        self.health = health
        self.assigner = Assigner.from_config(config)
        self.route_names = frozenset(config.routing.route_names())
        self.names = [*config.routing.route_names(),
                      *(n for m in config.models for n in (m.id, *m.aliases))]
        self._chains: dict[str, list[Step]] = {}
        for m in config.models:
            chain = {m.id: m}
            for f in m.fallbacks:
                target = config.model(f)
                if target is not None:
                    chain.setdefault(target.id, target)
            steps = [Step(x) for x in chain.values()]
            for name in (m.id, *m.aliases):
                self._chains[name] = steps

    def learned(self, model: LearnedModel) -> None:
        """A refit of the learned model (the learner calls this; a decision reads it atomically)."""
        self.router = self.router.with_learned(model)

    def plan(self, req: DoorRequest, record: RequestRecord) -> Plan:
        """The models to try, in order; fills the record's routing columns."""
        if req.endpoint == "embeddings":
            return self._embeddings(req, record)
        if req.model == f"auto:{CONSENSUS_PROFILE}" or req.routing.get("parallel") is not None:
            return self._parallel(req, record)
        name = self._known(req.model)
        if self.assigner and (name in self.route_names or name in self._chains):
            c = self.router.classify(req.body, _task_option(req.routing))
            arm = self.assigner.assign(model=name, request_id=record.id, task=c.task,
                                       key=record.api_key, user=req.user,
                                       profile=_profile_option(req.routing))
            if arm is not None:
                record.experiment, record.arm = arm.experiment, arm.arm
                name = arm.model
        if name in self.route_names:
            decision = self.decide(req.body, name, req.routing)
            c = decision.classification
            record.task, record.complexity = c.task, c.complexity
            record.profile, record.routing_reason = decision.profile, decision.reason
            record.features, record.explored = decision.features, decision.explored
            steps = [Step(m) for i in decision.chain if (m := self.config.model(i)) is not None]
            if decision.local_attempts and steps and steps[0].model.is_local:
                # the first local model is tried that many times before the chain escalates
                local = decision.local_attempts
                steps = [Step(steps[0].model, local - 1), *steps[1:]]
            return Plan(steps, self._estimate(req.body, c), c, decision)
        chain = self._chains.get(name)
        if chain is None:
            raise ModelNotFound(name, self.names)
        c = self.router.classify(req.body)
        record.task, record.complexity = c.task, c.complexity
        record.routing_reason = f"explicit model {chain[0].model.id}"
        if record.experiment:
            record.routing_reason = f"experiment {record.experiment} arm {record.arm}: {chain[0].model.id}"
        return Plan(list(chain), self._estimate(req.body, c), c)

    def _parallel(self, req: DoorRequest, record: RequestRecord) -> Plan:
        """Legs chosen by the router for the task (different providers first) unless named."""
        options = parallel_options(req.routing.get("parallel"), self.config.routing.parallel)
        name = req.model if req.model in self.route_names else "auto"
        decision = self.decide(req.body, name, req.routing)
        legs = choose_legs(decision.candidates, options, self.router.catalog)
        models = [m for c in legs.legs if (m := self.config.model(c.id)) is not None]
        judge = self.config.model(legs.judge) if legs.judge else None
        c = decision.classification
        record.task, record.complexity, record.profile = c.task, c.complexity, decision.profile
        record.features = decision.features
        record.routing_reason = f"parallel {options.strategy} over {legs.header}; {decision.reason}"
        record.parallel = legs.header
        return Plan([Step(m) for m in models], self._estimate(req.body, c), c, decision,
                    ParallelPlan(legs, options.strategy, judge))

    def _embeddings(self, req: DoorRequest, record: RequestRecord) -> Plan:
        chain = self._chains.get(self._known(req.model))
        if chain is None:
            raise ModelNotFound(req.model, self.names)
        steps = [s for s in chain if "embeddings" in s.model.capabilities]
        if not steps or steps[0].model is not chain[0].model:
            raise InvalidRequest(f"model: {chain[0].model.id!r} has no embeddings capability "
                                 "(add `embeddings` to its capabilities)", param="model")
        record.routing_reason = f"explicit model {chain[0].model.id}"
        inputs = req.body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs if isinstance(inputs, list) else []
        tokens = sum(estimate_text(t) if isinstance(t, str) else len(t) if isinstance(t, list)
                     else 1 for t in texts)
        return Plan(steps, Estimate(tokens, 0, 0))

    def decide(self, body: dict[str, Any], name: str, options: Any) -> Decision:
        profile = name.partition(":")[2] or None
        if profile == CONSENSUS_PROFILE:
            profile = None  # the legs are chosen from this decision's ranking (`_parallel`)
        return self.router.decide(body, profile=profile, unusable=self.health.unusable(),
                                  options=options)

    def _known(self, name: str) -> str:
        """The configured name a client's name stands for: itself, or the name it dates."""
        if name in self._chains or name in self.route_names:
            return name
        base = undated(name)
        return base if base is not None and base in self._chains else name

    def usable_models(self) -> list[ModelConfig]:
        """The models that can be called now (a budget downgrade chooses among them)."""
        return [m for m in self.config.models if self.health.why_not(m) is None]

    def explain(self, req: DoorRequest) -> dict[str, Any]:
        """The routing decision for a request, as JSON, without calling any upstream."""
        name = self._known(req.model)
        if name not in self.route_names:
            if name not in self._chains:
                raise ModelNotFound(name, self.names)
            name = "auto"
        out: dict[str, Any] = self.decide(req.body, name, req.routing).to_json()
        return out

    @staticmethod
    def _estimate(body: dict[str, Any], c: Classification) -> Estimate:
        return Estimate.of(body, c.prompt_tokens, c.expected_output_tokens)


def _task_option(routing: Any) -> str | None:
    task = routing.get("task") if isinstance(routing, dict) else None
    return task if task in TASKS else None  # a bad option is the router's 400 to give


def _profile_option(routing: Any) -> str | None:
    profile = routing.get("profile") if isinstance(routing, dict) else None
    return profile.removeprefix("auto:") if isinstance(profile, str) else None
