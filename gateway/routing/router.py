"""Routing: the `Router` ties the steps together: options, classify, segment, estimate, score, plan.

Pure: values in, a `Decision` out, no I/O, no clock. Built once per config by the composition
root, which solves each profile's allocation over the traffic the learner has seen
(`allocate.py`); a refit of the learned model swaps in a new Router with `with_learned`.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gateway.config import GatewayConfig, ProfileWeights
from gateway.errors import InvalidRequest
from gateway.routing.allocate import (
    FREE_USD,
    Reference,
    SegmentMix,
    Solution,
    marginal_rank,
    mixes,
    solve,
    synthetic_key,
)
from gateway.routing.catalog import Catalog, default_unusable
from gateway.routing.classify import Classification, classify
from gateway.routing.decision import Allocation, Decision
from gateway.routing.estimate import Estimates, Estimator
from gateway.routing.features import extract
from gateway.routing.learn import LearnedModel
from gateway.routing.local import local_first
from gateway.routing.options import (
    LOCAL_PROFILE,
    NoRouteAvailable,
    RoutingOptions,
    parse_options,
    profile_name,
)
from gateway.routing.plan import fallback_chain
from gateway.routing.score import Candidate, score_candidates

# Exploration never sends a request to a model whose estimate is this far below the choice.
EXPLORE_MAX_REGRET = 0.2
NO_EXPLORING = ("best",)  # profiles that never explore


@dataclass(frozen=True)
class ProfilePlan:
    """One profile's solved allocation (`allocate.Solution`) and each segment's mix."""

    weights: ProfileWeights
    solution: Solution
    mixes: Mapping[int, SegmentMix]


class Router:
    """Decides where `model="auto"` requests go. See the package docstring for the steps."""

    def __init__(
        self,
        config: GatewayConfig,
        learned: LearnedModel | None = None,
        *,
        prices: Mapping[str, tuple[float, float]] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.config = config
        self.catalog = catalog or Catalog.from_config(config, prices)
        self.learned = learned or LearnedModel.empty()
        self.estimator = Estimator(self.catalog.entries, self.learned)
        self._unusable = default_unusable(config)
        self._profiles = dict(config.routing.profiles)
        if LOCAL_PROFILE not in self._profiles:  # local = the default weights, local first
            self._profiles[LOCAL_PROFILE] = self._profiles[config.routing.default_profile]
        self.reference = Reference.build(self.catalog.entries, self.estimator)
        self.plans = {name: self._plan(w, solve(self.reference, w)) for name, w in self._profiles.items()}

    def _plan(self, weights: ProfileWeights, sol: Solution) -> ProfilePlan:
        return ProfilePlan(weights, sol, mixes(self.reference, self.catalog.entries, weights, sol))

    def with_learned(self, learned: LearnedModel) -> Router:
        """The same router with a refitted learned model (allocations solved again)."""
        return Router(self.config, learned, catalog=self.catalog)

    def with_budget(self, profile: str, share: float) -> Router:
        """A copy whose `profile` spends at most `share` of what the strongest single model
        would on the reference traffic (the cost-quality curve of `gateway eval`)."""
        name = profile_name(profile) or self.config.routing.default_profile
        weights = self._profiles[name]
        out = copy.copy(self)
        out.plans = {**self.plans, name: self._plan(weights, solve(self.reference, weights, share))}
        return out

    def classify(self, body: Mapping[str, Any], task: str | None = None) -> Classification:
        """Task, complexity and needs of a request (also used for explicitly named models)."""
        return classify(body, task)

    def _profile(self, profile: str | None, opts: RoutingOptions) -> tuple[str, bool]:
        """(profile name, local first?) from the option, else the model name."""
        requested = opts.profile or profile_name(profile) or self.config.routing.default_profile
        if requested not in self._profiles:
            known = ", ".join(f"auto:{p}" for p in self._profiles)
            raise InvalidRequest(
                f"unknown routing profile {requested!r} (one of {known})", param="model"
            )
        return requested, requested == LOCAL_PROFILE or opts.prefer_local

    def decide(
        self,
        body: Mapping[str, Any],
        *,
        profile: str | None = None,
        unusable: Mapping[str, str] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Route one request. `profile` comes from the model name (`auto:cheap` or `cheap`),
        `unusable` names the models that cannot be called now, each with the reason (merged
        over the static ones: a missing key), `options` is the body's `routing` dict (read
        from the body if None). Raises InvalidRequest for bad options, NoRouteAvailable when
        no model fits."""
        opts = parse_options(body.get("routing") if options is None else options, self._profiles)
        name, local = self._profile(profile, opts)
        plan = self.plans[name]
        c = classify(body, opts.task)
        features = extract(c)
        segment = self.learned.segments.find(c.task, features.ids)
        p = self.learned.predict(features) if self.learned.models else None
        est = self.estimator.for_prompt(c.task, c.complexity, segment, p)
        down = {**self._unusable, **unusable} if unusable else self._unusable
        ranked, scores = self._rank(plan, segment, c, opts, down, est)
        live = [r for r in ranked if r.excluded is None]
        if not live:
            raise _no_route(ranked)
        winner, rule, escalated, explored = live[0], None, False, False
        if local:
            winner, rule, escalated = local_first(
                live, ranked, c.complexity, self.config.routing.local_max_complexity
            )
        elif name not in NO_EXPLORING and _draw(c, name) < self.config.routing.explore_share:
            winner, explored = _second_best(live)
        alloc = self._allocation(plan, segment, c.task, scores)
        return Decision(
            model=winner.id,
            chain=fallback_chain(winner, ranked, self.catalog, escalate=local),
            profile=name,
            reason=_reason(name, c, winner, alloc, explored, rule),
            estimated_cost_usd=winner.cost_usd,
            classification=c,
            candidates=tuple(ranked),
            weights=plan.weights,
            prompt_features=features,
            local_first=local,
            escalation=rule if escalated else None,
            learned_records=self.learned.n_records,
            allocation=alloc,
            explored=explored,
            local_attempts=self.config.routing.local_failures_before_escalation if local else 0,
            local_rule=rule,
            exchange_rate=plan.solution.mu,
        )

    def _rank(
        self, plan: ProfilePlan, segment: int | None, c: Classification, opts: RoutingOptions,
        down: Mapping[str, str], est: Estimates,
    ) -> tuple[list[Candidate], list[float]]:
        """Candidates ranked at the plan's rate, or at the next rate when this prompt is a
        marginal one that takes the fractional upgrade."""
        sol = plan.solution
        entries = self.catalog.entries
        ranked, scores = score_candidates(entries, c, plan.weights, opts, down, est, sol.mu)
        if sol.theta <= 0 or sol.mu_next == sol.mu:
            return ranked, scores
        # Scores are linear in the rate: the next rate's are this one's minus the extra cost
        # term, so the full ranking is redone only for a prompt that takes the upgrade.
        cost = {r.id: r.cost_usd for r in ranked}
        extra = sol.mu_next - sol.mu
        upper_scores = [s - extra * max(cost[e.id], FREE_USD)
                        for s, e in zip(scores, entries, strict=True)]
        live = {r.id for r in ranked if r.excluded is None}
        first = next((r.id for r in ranked if r.excluded is None), None)
        best = max((i for i, e in enumerate(entries) if e.id in live),
                   key=upper_scores.__getitem__, default=None)
        if best is None or entries[best].id == first:
            return ranked, scores
        if self._takes_upgrade(plan, segment, c, scores, upper_scores):
            return score_candidates(entries, c, plan.weights, opts, down, est, sol.mu_next)
        return ranked, scores

    def _takes_upgrade(
        self, plan: ProfilePlan, segment: int | None, c: Classification, lo: list[float],
        hi: list[float],
    ) -> bool:
        """A marginal prompt (its pick changes between the plan's two rates) takes the upgrade
        when it ranks in the top `theta` of its segment's marginal prompts."""
        sol = plan.solution
        mix = plan.mixes.get(segment if segment is not None else synthetic_key(c.task))
        a, b = int(np.argmax(lo)), int(np.argmax(hi))
        w = (sol.mu_mid - sol.mu) / (sol.mu_next - sol.mu)  # scores are linear in mu
        mid = [x + w * (y - x) for x, y in zip(lo, hi, strict=True)]
        claims = mix.claims if mix is not None else np.zeros(0)
        return marginal_rank(claims, mid[b] - mid[a], _draw(c, "rank")) < sol.theta

    def _allocation(
        self, plan: ProfilePlan, segment: int | None, task: str, scores: list[float]
    ) -> Allocation | None:
        key = segment if segment is not None else synthetic_key(task)
        mix = plan.mixes.get(key)
        if mix is None:
            return None
        entries = self.catalog.entries
        margin = scores[mix.alt] - scores[mix.base]
        rank = None
        if len(mix.margins) and mix.alt != mix.base:
            rank = 1.0 - float(np.searchsorted(mix.margins, margin, side="right")) / len(mix.margins)
        name = task + " (prior)" if segment is None else self.learned.segments.items[segment].name
        return Allocation(name, mix.shares, entries[mix.base].id, entries[mix.alt].id, rank)


def _second_best(live: list[Candidate]) -> tuple[Candidate, bool]:
    """The exploration pick: the runner-up, unless its estimate is far below the choice."""
    first = live[0]
    second = next((r for r in live[1:] if r.quality >= first.quality - EXPLORE_MAX_REGRET), None)
    return (first, False) if second is None else (second, True)


def _draw(c: Classification, salt: str) -> float:
    """A deterministic draw in 0..1 per prompt: the same request is always decided the same
    way (so `/v1/route` shows what a chat request does), and draws spread evenly over distinct
    prompts (a share `s` of them draws below `s`)."""
    text = c.text.low[-1000:] + "\x00" + salt
    return zlib.crc32(text.encode("utf-8", "surrogatepass")) / 2**32


def _reason(
    profile: str, c: Classification, w: Candidate, alloc: Allocation | None, explored: bool,
    rule: str | None,
) -> str:
    text = f"{profile}: {c.task} c{c.complexity}"
    if alloc is not None:
        text += f"; {alloc.summary()}"
    text += f" -> {w.id} (q {w.quality:.2f}, ${w.cost_usd:.6f})"
    if explored:
        text += "; explored: second-best choice"
    if rule:
        text += f"; local: {rule}"
    return text


def _no_route(ranked: list[Candidate]) -> NoRouteAvailable:
    """503 if some model would fit but cannot be called now (each named with its reason);
    400 if the request rules every model out (naming the routing option when one option alone
    did it)."""
    listed = "; ".join(f"{r.id}: {r.excluded}" for r in ranked[:12])
    if any(r.down for r in ranked):
        return NoRouteAvailable(f"No model is available for this request: {listed}", status=503)
    param = None
    for key in ("max_cost_usd", "min_quality", "max_latency_ms"):
        if all(key in (r.excluded or "") for r in ranked):
            param = f"routing.{key}"
    return NoRouteAvailable(
        f"No configured model fits this request: {listed}", status=400, param=param
    )
