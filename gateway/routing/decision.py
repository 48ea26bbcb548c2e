"""Routing, step 5: the decision and its explanation (JSON for `/v1/route`, text for a person)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config import ProfileWeights
from gateway.routing.classify import Classification
from gateway.routing.features import PromptFeatures
from gateway.routing.score import Candidate


@dataclass(frozen=True)
class Decision:
    """Where one `auto` request goes, and why."""

    model: str
    chain: tuple[str, ...]
    profile: str
    reason: str  # one line, for the `routing_reason` column and header
    estimated_cost_usd: float
    classification: Classification
    candidates: tuple[Candidate, ...]
    weights: ProfileWeights
    prompt_features: PromptFeatures
    local_first: bool = False
    escalation: str | None = None  # why a local-first request went to a commercial model
    learned_records: int = 0

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
            "local_first": self.local_first,
            "escalation": self.escalation,
            "learned_records": self.learned_records,
            "candidates": [c.to_json() for c in self.candidates],
        }


def _quality(c: Candidate) -> str:
    if c.learned is None:
        return f"{c.quality:.2f} (prior)"
    return f"{c.quality:.2f} ({c.prior:.2f} prior, {c.learned:.2f} learned x{c.learned_weight:.2f})"


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
    if d.escalation:
        lines.append(f"escalation  {d.escalation}")
    lines.append("")
    width = max([len(x.id) for x in d.candidates] + [5])
    lines.append(f"  {'model':<{width}}  score   {'quality':<41}{'cost $':<13}latency")
    for x in d.candidates:
        if x.excluded:
            continue
        lines.append(
            f"  {x.id:<{width}}  {x.score:.3f}   {_quality(x):<40} {x.cost_usd:<12.6f} "
            f"{x.latency_ms:>6.0f} ms"
        )
    excluded = [x for x in d.candidates if x.excluded]
    if excluded:
        lines.append("  excluded:")
        lines.extend(f"  {x.id:<{width}}  {x.excluded}" for x in excluded)
    return "\n".join(lines)
