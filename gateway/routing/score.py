"""Routing, step 3: filter the candidates by hard constraints, then score the rest.

Filters first, each with a reason a person can read: usable now, capabilities the request
needs, context window, and the request's `max_cost_usd`, `min_quality`, `max_latency_ms`.
Every survivor gets

    score = w_quality * quality + w_cost * cost + w_latency * latency + w_history * history

with the profile's weights (normalised to sum 1) and each part in 0..1:
- quality: the estimated chance of a good answer (the configured prior for the task, sharpened
  by complexity, blended with the learned estimate by how much evidence the learner has);
- cost: 1 at the cheapest candidate, minus 1/COST_DECADES for every 10x of estimated price;
- latency: 1 at the fastest typical time to first token, minus 1/LATENCY_DOUBLINGS per 2x;
- history: the model's recent track record (mean outcome), its prior when it has none.
Log scales make the trade scale-free: paying 10x more must buy the same quality whether the
cheap model costs $0.0001 or $0.01.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from gateway.config import ProfileWeights
from gateway.routing.catalog import Entry
from gateway.routing.classify import Classification
from gateway.routing.options import RoutingOptions

COST_DECADES = 4.5
LATENCY_DOUBLINGS = 4.0
# A free (local) model counts as this cheap: about a short prompt on the cheapest hosted model.
# Local compute is not free (power, a busy GPU), and a floor keeps the log scale finite.
FREE_USD = 2e-5
COMPLEXITY_PIVOT = 4  # complexity at which the prior is taken as configured
UNUSABLE = "not usable now (no API key, circuit open, or server unreachable)"


class Estimate(NamedTuple):
    """What the learner says about one model for this prompt."""

    learned: float | None  # P(good), None when it has no outcomes of this model
    weight: float  # 0..1: its share against the prior
    history: float | None  # recent mean outcome, None without outcomes


NO_ESTIMATE = Estimate(learned=None, weight=0.0, history=None)
PARTS = ("quality", "cost", "latency", "history")


class Candidate(NamedTuple):
    """One model's standing in one decision: its score breakdown, or why it was excluded."""

    id: str
    provider: str
    local: bool
    excluded: str | None
    score: float
    quality: float
    prior: float
    learned: float | None
    learned_weight: float
    cost_usd: float
    latency_ms: float
    history: float
    raw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # PARTS, each 0..1
    shares: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # PARTS weights, sum 1

    @property
    def parts(self) -> dict[str, float]:
        """The weighted parts; they sum to `score`."""
        return {k: w * v for k, w, v in zip(PARTS, self.shares, self.raw, strict=True)}

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "model": self.id,
            "provider": self.provider,
            "local": self.local,
            "estimated_cost_usd": round(self.cost_usd, 8),
            "quality": round(self.quality, 4),
            "quality_sources": {
                "prior": round(self.prior, 4),
                "learned": None if self.learned is None else round(self.learned, 4),
                "learned_weight": round(self.learned_weight, 3),
            },
            "latency_ms": self.latency_ms,
        }
        if self.excluded:
            out["excluded"] = self.excluded
        else:
            out["score"] = round(self.score, 4)
            out["breakdown"] = {k: round(v, 4) for k, v in self.parts.items()}
        return out


def prior_quality(entry: Entry, task: str, complexity: int) -> float:
    """The configured quality for the task, sharpened by complexity: q ** gamma with gamma
    doubling every 4 levels above the pivot, so hard prompts widen the gap between strong and
    weak models and easy ones narrow it."""
    q = entry.quality.get(task, entry.quality["default"])
    return float(q ** _gamma(complexity))


def _gamma(complexity: int) -> float:
    return float(2.0 ** ((complexity - COMPLEXITY_PIVOT) / 4.0))


def _exclusion(
    entry: Entry,
    c: Classification,
    opts: RoutingOptions,
    usable: bool,
    cost: float,
    quality: float,
) -> str | None:
    if c.needs and not c.needs <= entry.capabilities:
        return "lacks " + ", ".join(sorted(c.needs - entry.capabilities))
    need = c.prompt_tokens + min(c.expected_output_tokens, 256)
    if need > entry.context_window:
        return f"~{c.prompt_tokens:,} prompt tokens do not fit context {entry.context_window:,}"
    if opts.max_cost_usd is not None and cost > opts.max_cost_usd:
        return f"est. ${cost:.6f} > max_cost_usd ${opts.max_cost_usd:g}"
    if opts.min_quality is not None and quality < opts.min_quality:
        return f"quality {quality:.2f} < min_quality {opts.min_quality:g}"
    if opts.max_latency_ms is not None and entry.latency_ms > opts.max_latency_ms:
        return f"latency {entry.latency_ms:g} ms > max_latency_ms {opts.max_latency_ms:g}"
    if not usable:  # checked last: "unusable" then means "would fit, but is down"
        return UNUSABLE
    return None


def score_candidates(
    entries: tuple[Entry, ...],
    c: Classification,
    weights: ProfileWeights,
    opts: RoutingOptions,
    usable: Mapping[str, bool],
    estimates: Mapping[str, Estimate],
) -> list[Candidate]:
    """Every entry, scored or excluded, best first (excluded last, in catalog order)."""
    rows = []
    gamma = _gamma(c.complexity)
    tokens_in, tokens_out = c.prompt_tokens, c.expected_output_tokens
    for e in entries:
        est = estimates.get(e.id, NO_ESTIMATE)
        prior = float(e.quality.get(c.task, e.quality["default"]) ** gamma)
        quality = prior
        if est.learned is not None:
            quality = est.weight * est.learned + (1 - est.weight) * prior
        cost = (tokens_in * e.input_usd_per_mtok + tokens_out * e.output_usd_per_mtok) / 1e6
        why = _exclusion(e, c, opts, usable.get(e.id, False), cost, quality)
        rows.append((e, est, prior, quality, cost, why))
    live = [r for r in rows if r[5] is None]
    cheapest = min((max(r[4], FREE_USD) for r in live), default=FREE_USD)
    fastest = min((max(r[0].latency_ms, 1.0) for r in live), default=1.0)
    total = (weights.quality + weights.cost + weights.latency + weights.history) or 1.0
    shares = (
        weights.quality / total,
        weights.cost / total,
        weights.latency / total,
        weights.history / total,
    )
    out = []
    for e, est, prior, quality, cost, why in rows:
        history = e.quality["default"] if est.history is None else est.history
        raw = (0.0, 0.0, 0.0, 0.0)
        if why is None:
            cost_part = 1 - math.log10(max(cost, FREE_USD) / cheapest) / COST_DECADES
            lat_part = 1 - math.log2(max(e.latency_ms, 1.0) / fastest) / LATENCY_DOUBLINGS
            raw = (quality, max(cost_part, 0.0), max(lat_part, 0.0), history)
        score = shares[0] * raw[0] + shares[1] * raw[1] + shares[2] * raw[2] + shares[3] * raw[3]
        out.append(
            Candidate(
                e.id,
                e.provider,
                e.local,
                why,
                score,
                quality,
                prior,
                est.learned,
                est.weight if est.learned is not None else 0.0,
                cost,
                e.latency_ms,
                history,
                raw,
                shares,
            )
        )
    out.sort(key=lambda k: (k.excluded is not None, -k.score))
    return out
