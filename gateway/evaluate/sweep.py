"""Evaluation: the cost-quality curve, by sweeping the weight of cost against quality.

Every candidate's unweighted score parts are independent of the profile weights, so one
replay's candidates give the router's pick under any weights: pick = argmax over the
candidates of (1 - w) * quality + w * cost. No second replay is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.evaluate.prices import Price
from gateway.evaluate.replay import Prepared, row_cost

COST_WEIGHTS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def sweep(
    test: Sequence[Prepared],
    candidates: Sequence[Sequence[tuple[str, tuple[float, float, float, float]]]],
    prices: Mapping[str, Price],
    best_model: str,
) -> list[dict[str, Any]]:
    """One point per cost weight: mean quality, mean cost, share of calls to `best_model`."""
    points = []
    n = max(len(test), 1)
    for w in COST_WEIGHTS:
        quality = cost = 0.0
        best_calls = 0
        for p, cands in zip(test, candidates, strict=True):
            pick = max(cands, key=lambda c: (1 - w) * c[1][0] + w * c[1][1])[0]
            quality += p.row.outcomes[pick]
            cost += row_cost(p, pick, prices)
            best_calls += pick == best_model
        points.append(
            {
                "cost_weight": w,
                "quality": quality / n,
                "cost_usd": cost / n,
                "best_model_calls": best_calls / n,
            }
        )
    return points
