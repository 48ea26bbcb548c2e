"""Routing, step 5: the decision and its explanation (JSON for `/v1/route`, text for a person)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import ProfileWeights
from gateway.routing.classify import Classification
from gateway.routing.features import PromptFeatures
from gateway.routing.score import Candidate


@dataclass(frozen=True)
class Allocation:
    """The task's (segment's) allocation under the profile, and where this prompt ranked."""

    segment: str  # "code", "open_qa/c3"; a task with no learned traffic yet is "code (prior)"
    shares: Mapping[str, float]  # model -> share of the segment's prompts
    base: str  # the model most of the segment goes to
    alt: str  # the next one
    rank: float | None  # share of the segment's prompts with a stronger claim on `alt`

    def to_json(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "shares": dict(self.shares),
            "base": self.base,
            "alt": self.alt,
            "rank": None if self.rank is None else round(self.rank, 4),
        }

    def summary(self) -> str:
        mix = " / ".join(f"{m} {100 * s:.0f}%" for m, s in sorted(self.shares.items(), key=lambda kv: -kv[1]))
        text = f"{self.segment} [{mix}]"
        if self.rank is not None and self.alt != self.base:
            text += f", claim on {self.alt} over {self.base} beats {100 * (1 - self.rank):.0f}%"
        return text


@dataclass(frozen=True)
class Decision:
    """Where one `auto` request goes, and why."""

    model: str
    chain: tuple[str, ...]
    profile: str
    reason: str  # one line, for the `routing_reason` column and header
    estimated_cost_usd: float  # THE estimate (Entry.cost_usd) for `model`
    classification: Classification
    candidates: tuple[Candidate, ...]
    weights: ProfileWeights
    prompt_features: PromptFeatures
    local_first: bool = False
    escalation: str | None = None  # why a local-first request went to a hosted model
    learned_records: int = 0
    allocation: Allocation | None = None
    explored: bool = False  # sent to the second-best choice to keep evidence about it
    local_attempts: int = 0  # failed local attempts the executor makes before escalating
    local_rule: str | None = None  # which local-first rule applied
    exchange_rate: float = 0.0  # the profile's utility per USD (allocate.py)

    @property
    def task(self) -> str:
        return self.classification.task

    @property
    def complexity(self) -> int:
        return self.classification.complexity

    @property
    def features(self) -> dict[str, Any]:
        """Small JSON-able dict for the log row; `records_from_log` learns from it later."""
        return self.prompt_features.to_json()

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "chain": list(self.chain),
            "profile": self.profile,
            "reason": self.reason,
            "estimated_cost_usd": round(self.estimated_cost_usd, 8),
            **self.classification.to_json(),
            "weights": self.weights.model_dump(),
            "allocation": None if self.allocation is None else self.allocation.to_json(),
            "exchange_rate_per_usd": round(self.exchange_rate, 4),
            "explored": self.explored,
            "local_first": self.local_first,
            "local_rule": self.local_rule,
            "local_attempts": self.local_attempts,
            "escalation": self.escalation,
            "learned_records": self.learned_records,
            "candidates": [c.to_json() for c in self.candidates],
        }


def _quality(c: Candidate) -> str:
    if c.learned is None:
        return f"{c.quality:.2f} (prior)"
    return f"{c.quality:.2f} ({c.prior:.2f} prior, {c.learned:.2f} learned, n={c.evidence:.0f})"


def render_decision(d: Decision) -> str:
    """The decision as `gateway route` prints it."""
    c = d.classification
    lines = [
        f"model       {d.model}   (profile {d.profile}{', local first' if d.local_first else ''})",
        f"task        {c.task}  [{c.task_source}: {', '.join(c.task_signals[:6]) or '-'}]",
        f"complexity  {c.complexity}/10  [{', '.join(c.complexity_signals) or 'baseline'}]",
        f"needs       {', '.join(sorted(c.needs)) or '-'}   prompt ~{c.prompt_tokens:,} tokens,"
        f" answer ~{c.expected_output_tokens:,}",
        f"est. cost   ${d.estimated_cost_usd:.6f}",
        f"chain       {' -> '.join(d.chain)}",
        f"reason      {d.reason}",
    ]
    if d.allocation is not None:
        lines.append(f"allocation  {d.allocation.summary()}")
    if d.local_rule:
        lines.append(f"local       {d.local_rule}; {d.local_attempts} local attempt(s) before escalating")
    if d.explored:
        lines.append("explored    sent to the second-best choice (routing.explore_share)")
    lines.append("")
    width = max([len(x.id) for x in d.candidates] + [5])
    lines.append(f"  {'model':<{width}}  score    {'quality':<40}{'cost $':<13}latency")
    for x in d.candidates:
        if x.excluded:
            continue
        lines.append(
            f"  {x.id:<{width}}  {x.score:+.4f}  {_quality(x):<39} {x.cost_usd:<12.6f} "
            f"{x.latency_ms:>6.0f} ms"
        )
    excluded = [x for x in d.candidates if x.excluded]
    if excluded:
        lines.append("  excluded:")
        lines.extend(f"  {x.id:<{width}}  {x.excluded}" for x in excluded)
    return "\n".join(lines)
