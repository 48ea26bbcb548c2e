"""Routing: the `Router` ties the steps together: options, classify, estimate, score, plan.

Pure: values in, a `Decision` out, no I/O, no clock. Built once per config by the composition
root; a refit of the learned model swaps in a new Router with `with_learned` (cheap: the
catalog is shared).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.config import GatewayConfig, ProfileWeights
from gateway.errors import InvalidRequest
from gateway.routing.catalog import Catalog, default_usable
from gateway.routing.classify import Classification, classify
from gateway.routing.decision import Decision
from gateway.routing.features import PromptFeatures, extract
from gateway.routing.learn import LearnedModel
from gateway.routing.options import (
    LOCAL_PROFILE,
    NoRouteAvailable,
    RoutingOptions,
    parse_options,
    profile_name,
)
from gateway.routing.plan import fallback_chain
from gateway.routing.score import UNUSABLE, Candidate, Estimate, score_candidates

# Local-first routing keeps a request local while the best local model's estimated quality
# for this task and complexity is at least this (or the request's own min_quality).
LOCAL_MIN_QUALITY = 0.6


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
        # per catalog model the learner knows: (id, output column, blend weight, history)
        self._known = tuple(
            (e.id, col, self.learned.blend_weight(e.id), self.learned.history.get(e.id))
            for e in self.catalog.entries
            if (col := self.learned.column(e.id)) >= 0
        )
        self._usable = default_usable(config)
        self._profiles = config.routing.profiles

    def with_learned(self, learned: LearnedModel) -> Router:
        """The same router with a refitted learned model."""
        return Router(self.config, learned, catalog=self.catalog)

    def classify(self, body: Mapping[str, Any], task: str | None = None) -> Classification:
        """Task, complexity and needs of a request (also used for explicitly named models)."""
        return classify(body, task)

    def estimates(self, features: PromptFeatures) -> dict[str, Estimate]:
        """The learned view of every catalog model for one prompt."""
        if not self._known:
            return {}
        p = self.learned.predict(features).tolist()
        return {m: Estimate(p[col], weight, hist) for m, col, weight, hist in self._known}

    def _weights(
        self, profile: str | None, opts: RoutingOptions
    ) -> tuple[str, ProfileWeights, bool]:
        """(profile name, its weights, local first?) from the option, else the model name."""
        requested = opts.profile or profile_name(profile) or self.config.routing.default_profile
        local_first = requested == LOCAL_PROFILE or opts.prefer_local
        base = requested
        if requested == LOCAL_PROFILE and LOCAL_PROFILE not in self._profiles:
            base = self.config.routing.default_profile  # local = balanced weights, local first
        weights = self._profiles.get(base)
        if weights is None:
            known = ", ".join(f"auto:{p}" for p in [*self._profiles, LOCAL_PROFILE])
            raise InvalidRequest(
                f"unknown routing profile {requested!r} (one of {known})", param="model"
            )
        return requested, weights, local_first

    def decide(
        self,
        body: Mapping[str, Any],
        *,
        profile: str | None = None,
        usable: Mapping[str, bool] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Route one request. `profile` comes from the model name (`auto:cheap` or `cheap`),
        `usable` says which models can be called now (merged over the static answer: key
        present), `options` is the body's `routing` dict (read from the body if None).
        Raises InvalidRequest for bad options, NoRouteAvailable when no model fits."""
        opts = parse_options(body.get("routing") if options is None else options, self._profiles)
        name, weights, local_first = self._weights(profile, opts)
        c = classify(body, opts.task)
        features = extract(c)
        now_usable = {**self._usable, **usable} if usable else self._usable
        ranked = score_candidates(
            self.catalog.entries, c, weights, opts, now_usable, self.estimates(features)
        )
        live = [r for r in ranked if r.excluded is None]
        if not live:
            raise _no_route(ranked)
        winner, escalation = live[0], None
        if local_first:
            winner, escalation = _local_choice(live, opts, c)
        chain = fallback_chain(winner, ranked, self.catalog, escalate=local_first)
        return Decision(
            model=winner.id,
            chain=chain,
            profile=name,
            reason=_reason(name, c, winner, live, escalation),
            estimated_cost_usd=winner.cost_usd,
            classification=c,
            candidates=tuple(ranked),
            weights=weights,
            prompt_features=features,
            local_first=local_first,
            escalation=escalation,
            learned_records=self.learned.n_records,
        )


def _local_choice(
    live: list[Candidate], opts: RoutingOptions, c: Classification
) -> tuple[Candidate, str | None]:
    """The best local candidate if it is good enough for this request, else the best overall
    with the reason for escalating."""
    floor = opts.min_quality if opts.min_quality is not None else LOCAL_MIN_QUALITY
    local = [r for r in live if r.local]
    good = [r for r in local if r.quality >= floor]
    if good:
        return good[0], None
    remote = next((r for r in live if not r.local), live[0])
    if not local:
        return remote, "no local model can take it (see exclusions)"
    best = max(local, key=lambda r: r.quality)
    return remote, (
        f"best local {best.id} quality {best.quality:.2f} < {floor:g} "
        f"for {c.task} at complexity {c.complexity}"
    )


def _reason(
    profile: str, c: Classification, w: Candidate, live: list[Candidate], escalation: str | None
) -> str:
    text = (
        f"{profile}: {c.task} c{c.complexity} -> {w.id} score {w.score:.3f} "
        f"(q {w.quality:.2f}, ${w.cost_usd:.6f})"
    )
    runner = next((r for r in live if r.id != w.id), None)
    if runner is not None:
        text += f"; next {runner.id} {runner.score:.3f}"
    if escalation:
        text += "; escalated: " + escalation
    return text


def _no_route(ranked: list[Candidate]) -> NoRouteAvailable:
    """503 if some model would fit but is down; 400 if the request rules every model out
    (naming the routing option when one option alone did it)."""
    listed = "; ".join(f"{r.id}: {r.excluded}" for r in ranked[:12])
    if any(r.excluded == UNUSABLE for r in ranked):
        return NoRouteAvailable(f"No model is available for this request: {listed}", status=503)
    param = None
    for key in ("max_cost_usd", "min_quality", "max_latency_ms"):
        if all(key in (r.excluded or "") for r in ranked):
            param = f"routing.{key}"
    return NoRouteAvailable(
        f"No configured model fits this request: {listed}", status=400, param=param
    )
