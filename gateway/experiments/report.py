"""Experiments report: per arm requests, error rate, feedback, cost and latency with 95 %
intervals, and whether each arm differs significantly from the first (the control).

Read off the request path (`gateway experiments`, `GET /admin/experiments`): the rows come
from `LogReader.experiment_rows` (requests joined with their latest `/v1/feedback`), the
figures from `stats` (scipy). What each figure is computed over:

- error rate: every request of the arm (`status != success`);
- feedback score: requests with feedback, `feedback_score` of the latest row (0..1);
- success rate: requests with feedback whose outcome is `success`;
- mean cost: requests with a known cost (an unpriced request is not a free one);
- p50 latency: successful requests (a fast failure is not a fast answer).

Each non-control arm is tested against the control on each figure; with several such arms the
p-values are Bonferroni-adjusted (multiplied by their number), so "significant" still means a
5 % chance of a false alarm per figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.config import ExperimentConfig
from gateway.routing.learn import feedback_score

if TYPE_CHECKING:
    from gateway.usage.reports import LogReader

ALPHA = 0.05
METRICS = ("error_rate", "success_rate", "feedback_score", "cost_usd", "p50_latency_ms")
LABELS = {
    "error_rate": "error rate",
    "success_rate": "success rate",
    "feedback_score": "feedback score",
    "cost_usd": "mean cost",
    "p50_latency_ms": "p50 latency",
}


@dataclass
class ArmData:
    """The raw figures of one arm, gathered from its log rows."""

    name: str
    model: str | None
    weight: float | None
    requests: int = 0
    errors: int = 0
    scores: list[float] = field(default_factory=list)
    successes: int = 0
    costs: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def add(self, row: Mapping[str, Any]) -> None:
        self.requests += 1
        ok = row.get("status") == "success"
        self.errors += not ok
        if any(row.get(k) is not None for k in ("outcome", "score", "rating")):
            score = feedback_score(row)
            if score is not None:
                self.scores.append(score)
                self.successes += row.get("outcome") == "success"
        if row.get("cost_usd") is not None:
            self.costs.append(float(row["cost_usd"]))
        if ok and row.get("latency_ms") is not None:
            self.latencies.append(float(row["latency_ms"]))


def _arms(config: ExperimentConfig | None, rows: Iterable[Mapping[str, Any]]) -> list[ArmData]:
    """The configured arms in config order, then any arm the log has that the config no
    longer does (renamed or removed: its traffic is still reported)."""
    arms = {a.name: ArmData(a.name, a.model, a.weight) for a in (config.arms if config else ())}
    for row in rows:
        name = str(row.get("arm"))
        arm = arms.get(name)
        if arm is None:
            arm = arms[name] = ArmData(name, None, None)
        arm.add(row)
    return list(arms.values())


def _figures(arm: ArmData) -> dict[str, Any]:
    from gateway.experiments import stats

    return {
        "error_rate": stats.rate(arm.errors, arm.requests).to_json(),
        "success_rate": stats.rate(arm.successes, len(arm.scores)).to_json(),
        "feedback_score": stats.mean(arm.scores).to_json(),
        "cost_usd": stats.mean(arm.costs).to_json(10),
        "p50_latency_ms": stats.median(arm.latencies).to_json(1),
    }


def _tests(a: ArmData, control: ArmData) -> dict[str, Any]:
    from gateway.experiments import stats

    return {
        "error_rate": stats.two_rates(a.errors, a.requests, control.errors, control.requests),
        "success_rate": stats.two_rates(
            a.successes, len(a.scores), control.successes, len(control.scores)
        ),
        "feedback_score": stats.two_means(a.scores, control.scores),
        "cost_usd": stats.two_means(a.costs, control.costs),
        "p50_latency_ms": stats.two_distributions(a.latencies, control.latencies),
    }


def _comparisons(arms: Sequence[ArmData], figures: Sequence[Mapping[str, Any]]
                 ) -> list[dict[str, Any]]:
    control, others = arms[0], arms[1:]
    out = []
    for i, arm in enumerate(others, 1):
        for metric, test in _tests(arm, control).items():
            mine, theirs = figures[i][metric]["value"], figures[0][metric]["value"]
            p = None if test.p_value is None else min(1.0, test.p_value * len(others))
            out.append({
                "arm": arm.name,
                "vs": control.name,
                "metric": metric,
                "difference": None if mine is None or theirs is None else mine - theirs,
                "test": test.name,
                "p_value": None if p is None else round(p, 6),
                "significant": p is not None and p < ALPHA,
            })
    return out


def _verdict(arms: Sequence[ArmData], comparisons: Sequence[Mapping[str, Any]]) -> str:
    if len(arms) < 2 or not all(a.requests for a in arms):
        return "not enough traffic yet: every arm needs requests"
    found = [c for c in comparisons if c["significant"]]
    if not found:
        n = sum(a.requests for a in arms)
        return f"no significant difference between arms yet ({n:,} requests)"
    parts = []
    for c in found:
        direction = "higher" if (c["difference"] or 0) > 0 else "lower"
        p = c["p_value"]
        parts.append(f"{c['arm']} has {direction} {LABELS[c['metric']]} than {c['vs']} "
                     + ("(p<0.0001)" if p < 1e-4 else f"(p={p:.2g})"))
    return "; ".join(parts)


def experiment_report(
    config: ExperimentConfig | None, rows: Sequence[Mapping[str, Any]], name: str | None = None
) -> dict[str, Any]:
    """One experiment's report from its log rows (`config` None: it is no longer configured)."""
    arms = _arms(config, rows)
    figures = [_figures(a) for a in arms]
    comparisons = _comparisons(arms, figures) if len(arms) > 1 else []
    return {
        "name": config.name if config else name,
        "configured": config is not None,
        "enabled": bool(config and config.enabled),
        "unit": config.unit if config else None,
        "match": config.match.model_dump(exclude_none=True) if config else None,
        "arms": [
            {"name": a.name, "model": a.model, "weight": a.weight, "requests": a.requests,
             "errors": a.errors, "feedback": len(a.scores), **f}
            for a, f in zip(arms, figures, strict=True)
        ],
        "comparisons": comparisons,
        "verdict": _verdict(arms, comparisons),
    }


def build_report(
    experiments: Sequence[ExperimentConfig],
    rows: Iterable[Mapping[str, Any]],
    since: datetime | None = None,
) -> dict[str, Any]:
    """Every configured experiment (with or without traffic), then any the log still holds."""
    by_name: dict[str, list[Mapping[str, Any]]] = {e.name: [] for e in experiments}
    for row in rows:
        by_name.setdefault(str(row.get("experiment")), []).append(row)
    configs = {e.name: e for e in experiments}
    return {
        "since": None if since is None else since.isoformat(),
        "confidence": 0.95,
        "alpha": ALPHA,
        "experiments": [experiment_report(configs.get(n), rs, n) for n, rs in by_name.items()],
    }


async def experiments_report(
    reader: LogReader, experiments: Sequence[ExperimentConfig], since: datetime | None = None
) -> dict[str, Any]:
    """The report `gateway experiments --json` prints and `GET /admin/experiments` returns.
    The statistics run in a worker thread: a large log must not stall the event loop."""
    rows = await reader.experiment_rows(since)
    return await asyncio.to_thread(build_report, experiments, rows, since)
