"""Routing, step 3: filter the candidates by hard constraints, then score the rest.

Filters first, each with a reason a person can read: capabilities the request needs, context
window, the request's `max_cost_usd`, `min_quality`, `max_latency_ms`, and last whether the
model can be called now (the caller's reason when it cannot: a missing key, a local server
that did not answer, an open circuit). Every candidate then gets the profile's utility

    score = w_quality * quality + w_latency * latency + w_history * history - mu * cost

where quality is the estimate of `estimate.py`, cost THE cost estimate of the request
(`Entry.cost_usd` of the classifier's token counts), latency 1 at the fastest candidate minus
1/LATENCY_DOUBLINGS per doubling, history the model's track record on this kind of request,
and `mu` the profile's exchange rate between utility and dollars, solved per profile by
`allocate.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from gateway.config import ProfileWeights
from gateway.routing.allocate import FREE_USD, latency_part
from gateway.routing.catalog import Entry
from gateway.routing.classify import Classification
from gateway.routing.estimate import Estimates
from gateway.routing.options import RoutingOptions

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
    learned: float | None  # the learned estimate (segment + prompt), None if none
    evidence: float  # recency-weighted outcomes of this model in the prompt's segment
    cost_usd: float
    latency_ms: float
    history: float
    parts: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # PARTS, summing to score
    stderr: float = 0.0
    down: bool = False  # excluded only because it cannot be called now

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
                "evidence": round(self.evidence, 1),
                "stderr": round(self.stderr, 4),
            },
            "latency_ms": self.latency_ms,
        }
        if self.excluded:
            out["excluded"] = self.excluded
        else:
            out["score"] = round(self.score, 4)
            out["breakdown"] = {k: round(v, 6) for k, v in zip(PARTS, self.parts, strict=True)}
        return out


def _exclusion(
    entry: Entry, c: Classification, opts: RoutingOptions, unusable: str | None, cost: float,
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
    return unusable  # checked last: "unusable" then means "would fit, but is down"


def score_candidates(
    entries: tuple[Entry, ...],
    c: Classification,
    weights: ProfileWeights,
    opts: RoutingOptions,
    unusable: Mapping[str, str],
    est: Estimates,
    mu: float,
) -> tuple[list[Candidate], list[float]]:
    """Every entry scored or excluded, best first (excluded last, in catalog order), and
    every entry's score in catalog order (excluded ones too, for the explanation)."""
    tokens_in, tokens_out = c.prompt_tokens, c.expected_output_tokens
    costs = [e.cost_usd(tokens_in, tokens_out) for e in entries]
    why = [
        _exclusion(e, c, opts, unusable.get(e.id), cost, float(q))
        for e, cost, q in zip(entries, costs, est.quality.tolist(), strict=True)
    ]
    live = [i for i, w in enumerate(why) if w is None]
    lat = np.array([e.latency_ms for e in entries], np.float64)
    lat_part = np.zeros(len(entries))
    if live:
        lat_part[live] = latency_part(lat[live])
    else:
        lat_part = latency_part(lat)
    scores: list[float] = []
    out: list[Candidate] = []
    quality, prior, learned = est.quality.tolist(), est.prior.tolist(), est.learned.tolist()
    history = est.history.tolist()
    for i, e in enumerate(entries):
        parts = (
            weights.quality * quality[i],
            -mu * max(costs[i], FREE_USD),
            weights.latency * float(lat_part[i]),
            weights.history * float(history[i]),
        )
        score = parts[0] + parts[1] + parts[2] + parts[3]
        scores.append(score)
        out.append(
            Candidate(
                e.id, e.provider, e.local, why[i], score, quality[i], prior[i],
                None if learned[i] != learned[i] else learned[i],  # NaN: nothing learned
                float(est.evidence[i]), costs[i], e.latency_ms, float(history[i]), parts,
                float(est.stderr[i]), why[i] is not None and why[i] == unusable.get(e.id),
            )
        )
    out.sort(key=lambda k: (k.excluded is not None, -k.score))
    return out, scores
