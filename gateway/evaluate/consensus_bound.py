"""Evaluation: the most that parallel legs could buy, an upper bound from recorded outcomes.

For each test prompt the trained router decides as for a live `auto` request (`Router.decide`),
`choose_legs` picks the legs `auto:consensus` would run from that ranking, and a *perfect,
free* judge takes the best recorded outcome among them. Quality is the mean of those best
outcomes, cost the sum of the legs' recorded (or priced) costs. No real strategy reaches it:
a vote or a judge picks the best leg only sometimes, and a judge call costs money. It is
reported next to the best single model, `auto`, a fixed trio (the three best single models,
same perfect judge) and the oracle over every model, on the same test rows.

Outcome files hold no answers, so the strategies themselves (vote, judge) cannot be replayed:
this is the ceiling they work under. The evaluation config puts every model on one provider,
so "different providers first" has nothing to act on here and the legs are the top of the
ranking.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gateway.config import GatewayConfig, ParallelConfig
from gateway.evaluate.data import OutcomeSet, read
from gateway.evaluate.prices import Price, read_price_file, sibling_price_file
from gateway.evaluate.replay import (
    SPLIT_SEED,
    Prepared,
    eval_config,
    prepare,
    router_prices,
    row_cost,
    single_models,
    split,
    train_router,
)
from gateway.execution.legs import choose_legs
from gateway.routing import Router


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _row(quality: float, cost: float, best_q: float, best_c: float) -> dict[str, float]:
    return {
        "quality": round(quality, 6),
        "cost_usd": round(cost, 8),
        "quality_pct_of_best": round(100 * quality / best_q, 2) if best_q else 0.0,
        "cost_pct_of_best": round(100 * cost / best_c, 2) if best_c else 0.0,
    }


def _replay(router: Router, test: Sequence[Prepared], legs: int, prices: Mapping[str, Price],
            trio: Sequence[str]) -> dict[str, list[float]]:
    """Per test row: auto's outcome and cost; the legs' best outcome and summed cost; the
    trio's; the best outcome of any model and what the cheapest model reaching it cost."""
    out: dict[str, list[float]] = {k: [] for k in (
        "auto_q", "auto_c", "legs_q", "legs_c", "legs_mean_q", "trio_q", "trio_c", "oracle_q",
        "oracle_c")}
    options = ParallelConfig(models=legs, strategy="vote")
    entries = {e.id: e for e in router.catalog.entries}

    def cost(p: Prepared, model: str) -> float:
        return row_cost(p, entries[model])

    for p in test:
        # Only models: a file may also record routers' outcomes (MT-Bench), never routed to.
        outcomes = {m: v for m, v in p.row.outcomes.items() if m in entries}
        unusable = {m: "no outcome recorded" for m in entries if m not in outcomes}
        d = router.decide(p.row.body, profile="auto", unusable=unusable, options={})
        chosen = [c.id for c in choose_legs(d.candidates, options, router.catalog).legs]
        out["auto_q"].append(outcomes[d.model])
        out["auto_c"].append(cost(p, d.model))
        out["legs_q"].append(max(outcomes[m] for m in chosen))
        out["legs_mean_q"].append(_mean([outcomes[m] for m in chosen]))
        out["legs_c"].append(sum(cost(p, m) for m in chosen))
        present = [m for m in trio if m in outcomes]
        out["trio_q"].append(max((outcomes[m] for m in present), default=0.0))
        out["trio_c"].append(sum(cost(p, m) for m in present))
        top = max(outcomes.values())
        out["oracle_q"].append(top)
        out["oracle_c"].append(min(cost(p, m) for m, v in outcomes.items()
                                   if v == top))
    return out


def consensus_bound(
    data: str,
    *,
    train: str | None = None,
    models: str | None = None,
    config: GatewayConfig | None = None,
    legs: int = 3,
    split_seed: str = SPLIT_SEED,
) -> dict[str, Any]:
    """The bound on `data` (an outcome file), trained like `gateway eval` (on `train`, else a
    deterministic half of `data`) and measured on the other rows."""
    dataset = read(data)
    if not isinstance(dataset, OutcomeSet):
        raise ValueError(f"{data}: the bound needs per-model outcomes, not task labels")
    if train is None:
        rows_train, rows_test = split(dataset.rows, split_seed)
    else:
        other = read(train)
        if not isinstance(other, OutcomeSet):
            raise ValueError(f"{train}: a training file needs per-model outcomes")
        rows_train, rows_test = list(other.rows), list(dataset.rows)
    train_rows, test = prepare(rows_train), prepare(rows_test)
    price_path = Path(models) if models else sibling_price_file(Path(data))
    given = read_price_file(price_path) if price_path else {}
    prices, _ = router_prices(dataset, train_rows, given)
    cfg = eval_config(dataset.models, prices, config)
    half_life = config.routing.learn.half_life_days if config else 14.0
    router = train_router(cfg, train_rows, half_life)
    single = single_models(test, router)
    ranked = sorted(single, key=lambda m: (-single[m]["quality"], single[m]["cost_usd"]))
    best, trio = ranked[0], ranked[:legs]
    bq, bc = single[best]["quality"], single[best]["cost_usd"]
    r = _replay(router, test, min(legs, len(dataset.models)), prices, trio)
    return {
        "file": dataset.name,
        "test_rows": len(test),
        "legs": min(legs, len(dataset.models)),
        "best_model": best,
        "trio": trio,
        "rows": {
            "best_single": _row(bq, bc, bq, bc),
            "auto": _row(_mean(r["auto_q"]), _mean(r["auto_c"]), bq, bc),
            "legs_one_at_random": _row(_mean(r["legs_mean_q"]), _mean(r["legs_c"]), bq, bc),
            "legs_perfect_judge": _row(_mean(r["legs_q"]), _mean(r["legs_c"]), bq, bc),
            "trio_perfect_judge": _row(_mean(r["trio_q"]), _mean(r["trio_c"]), bq, bc),
            "oracle_cheapest_best": _row(_mean(r["oracle_q"]), _mean(r["oracle_c"]), bq, bc),
        },
    }


LABELS = {
    "best_single": "best single model ({best})",
    "auto": "auto (one model per prompt)",
    "legs_one_at_random": "{n} auto:consensus legs, a random one kept",
    "legs_perfect_judge": "{n} auto:consensus legs, perfect judge (BOUND)",
    "trio_perfect_judge": "{n} best single models, perfect judge",
    "oracle_cheapest_best": "oracle: cheapest model with the best outcome",
}


def render_bound(result: Mapping[str, Any]) -> str:
    """The bound as a text table (quality and cost per prompt, % of the best single model)."""
    n, best = result["legs"], result["best_model"]
    lines = [
        f"{result['file']}: {result['test_rows']} test prompts. Legs cost their sum; the judge "
        "is perfect and free, so the legs' row is an UPPER BOUND, not a measurement.",
        f"{'':<50} {'quality':>8} {'% best':>7} {'$/prompt':>11} {'% cost':>7}",
    ]
    for key, row in result["rows"].items():
        label = LABELS[key].format(n=n, best=best)
        lines.append(f"{label:<50} {row['quality']:>8.4f} {row['quality_pct_of_best']:>6.1f}% "
                     f"{row['cost_usd']:>11.6f} {row['cost_pct_of_best']:>6.1f}%")
    return "\n".join(lines)
