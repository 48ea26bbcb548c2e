"""Evaluation: the cost-quality curve, by sweeping the cost target of the default profile.

Each point is a real replay: the router's allocation is solved on the TRAINING traffic for a
cost target (a share of what the strongest single model would cost there, `Router.with_budget`)
and the test rows are routed with it. So a point "at 25 %" is a budget chosen without looking
at the test half; its test cost is reported as measured.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from gateway.evaluate.replay import Prepared, replay
from gateway.routing import Router

COST_SHARES = (0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)


def sweep(router: Router, test: Sequence[Prepared], best_model: str) -> list[dict[str, Any]]:
    """One point per cost target: mean quality, mean cost, share of calls to `best_model`,
    and per group (benchmark) its mean quality and share of calls to `best_model`."""
    points = []
    n = max(len(test), 1)
    for share in COST_SHARES:
        r = replay(router.with_budget("auto", share), test, "auto")
        points.append(
            {
                "cost_share": share,
                "quality": r.quality,
                "cost_usd": r.cost_usd,
                "best_model_calls": r.picks[best_model] / n,
                "groups": {
                    g: {"quality": q / k, "best_model_calls": picks[best_model] / k}
                    for g, (q, k, picks) in r.by_group.items()
                },
            }
        )
    return points


def at_calls(points: Sequence[dict[str, Any]], calls: float, group: str | None = None) -> float | None:
    """Mean quality where `calls` of the calls go to the best model (linear between points)."""
    pts = []
    for p in points:
        src = p if group is None else p["groups"].get(group)
        if src is not None:
            pts.append((src["best_model_calls"], src["quality"]))
    pts.sort()
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        if x0 <= calls <= x1:
            return float(y0 if x1 == x0 else y0 + (y1 - y0) * (calls - x0) / (x1 - x0))
    return None
