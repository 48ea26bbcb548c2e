"""Evaluation: `gateway eval`: read, split or train, replay every profile and every single model,
time the decisions, sweep the curve; or score the classifier on a labelled file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gateway.config import DEFAULT_PROFILES, GatewayConfig
from gateway.evaluate.bench import decision_latency
from gateway.evaluate.curve import require_plot
from gateway.evaluate.data import LabelledSet, OutcomeSet, read
from gateway.evaluate.labels import MIN_SUPPORT, classifier_report
from gateway.evaluate.prices import Price, read_price_file, sibling_price_file
from gateway.evaluate.replay import (
    SPLIT_SEED,
    Prepared,
    eval_config,
    prepare,
    replay,
    router_prices,
    single_models,
    split,
    train_router,
)
from gateway.evaluate.sweep import sweep
from gateway.routing import OutcomeRecord, Router

MIN_GROUP = 100  # a benchmark needs this many test rows for its own gap figure


class EvalResult(dict[str, Any]):
    """The contract's JSON (the dict itself, exactly its keys) plus `details` for the human
    table: split, prices, picks, the sweep, the benchmark."""

    def __init__(self, data: dict[str, Any], details: dict[str, Any]) -> None:
        super().__init__(data)
        self.details = details


def _profiles(config: GatewayConfig | None) -> list[str]:
    names = list(config.routing.profiles) if config else list(DEFAULT_PROFILES)
    default = config.routing.default_profile if config else "balanced"
    return ["auto"] + [f"auto:{p}" for p in names if p != default]


def _given_prices(data: Path, models: str | None) -> tuple[dict[str, Price], str | None]:
    path = Path(models) if models else sibling_price_file(data)
    if path is None:
        return {}, None
    return read_price_file(path), str(path)


def _prepared(
    dataset: OutcomeSet, train: str | None, seed: str
) -> tuple[list[Prepared], list[Prepared], str]:
    if train is None:
        rows_train, rows_test = split(dataset.rows, seed)
        note = (
            f"no --train: deterministic 50/50 split of {dataset.name} by id hash; trained "
            f"on {len(rows_train)} rows, tested on the other {len(rows_test)}"
        )
        return prepare(rows_train), prepare(rows_test), note
    other = read(train)
    if not isinstance(other, OutcomeSet):
        raise ValueError(f"{train}: a training file needs per-model outcomes, not labels")
    note = (
        f"trained on all {len(other.rows)} rows of {other.name}, tested on all "
        f"{len(dataset.rows)} rows of {dataset.name}"
    )
    return prepare(other.rows), prepare(dataset.rows), note


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def evaluate_outcomes(
    dataset: OutcomeSet,
    path: Path,
    train: str | None,
    models: str | None,
    config: GatewayConfig | None,
    png: str | None,
    bench: bool = True,
    seed: str = SPLIT_SEED,
) -> EvalResult:
    given, price_file = _given_prices(path, models)
    train_rows, test, split_note = _prepared(dataset, train, seed)
    prices, price_source = router_prices(dataset, train_rows, given)
    cfg = eval_config(dataset.models, prices, config)
    half_life = config.routing.learn.half_life_days if config else 14.0
    router = train_router(cfg, train_rows, half_life)
    single = single_models(test, router)
    best = max(single, key=lambda m: (single[m]["quality"], -single[m]["cost_usd"]))
    profiles, picks, times = _replay_profiles(router, test, config, single[best])
    points = sweep(router, test, best)
    per_model = {
        m: {"quality": round(v["quality"], 6), "cost_usd": round(v["cost_usd"], 8)}
        for m, v in single.items()
    }
    result = {
        "best_model": best,
        "models": per_model,
        "profiles": profiles,
        "decision_ms": {
            "p50": round(float(np.percentile(times, 50)), 4),
            "p99": round(float(np.percentile(times, 99)), 4),
        },
    }
    details: dict[str, Any] = {
        "kind": "outcomes",
        "file": dataset.name,
        "split": split_note,
        "scale": dataset.scale,
        "price_file": price_file,
        "price_source": price_source,
        "picks": picks,
        "sweep": points,
        "segments": [s.name for s in router.learned.segments.items],
        "group_models": _group_models(test, single, best),
        "references": _references(dataset, test),
        "learned_records": router.learned.n_records,
        "router": router,
        "benchmark": decision_latency() if bench else None,
    }
    if png:
        from gateway.evaluate.curve import write_png

        title = f"{dataset.name}\n{split_note.removeprefix('no --train: ')}"
        write_png(png, title, points, per_model, profiles)
        details["png"] = png
    return EvalResult(result, details)


def _replay_profiles(
    router: Router, test: Sequence[Prepared], config: GatewayConfig | None, best: dict[str, float]
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]], list[float]]:
    """Every profile replayed: the contract's figures, its picks, and the decision times."""
    bq, bc = best["quality"], best["cost_usd"]
    profiles: dict[str, dict[str, float]] = {}
    picks: dict[str, dict[str, float]] = {}
    times: list[float] = []
    for name in _profiles(config):
        r = replay(router, test, name)
        times.extend(r.decision_ms)
        profiles[name] = {
            "quality": round(r.quality, 6),
            "cost_usd": round(r.cost_usd, 8),
            "quality_pct_of_best": _pct(r.quality, bq),
            "cost_pct_of_best": _pct(r.cost_usd, bc),
        }
        picks[name] = {m: round(n / max(len(test), 1), 4) for m, n in r.picks.most_common()}
    return profiles, picks, times


def _group_models(
    test: Sequence[Prepared], single: dict[str, dict[str, float]], best: str
) -> dict[str, tuple[float, float]]:
    """For a strong/weak pair: (strong, weak) mean quality on the whole file ("") and on each
    group (benchmark) with at least MIN_GROUP test rows, for the gap recovered at 50 % strong
    calls."""
    if len(single) != 2:
        return {}
    weak = next(m for m in single if m != best)
    out = {"": (single[best]["quality"], single[weak]["quality"])}
    for group in sorted({p.row.group for p in test} - {""}):
        rows = [p for p in test if p.row.group == group]
        if len(rows) < MIN_GROUP:
            continue
        out[group] = tuple(sum(p.row.outcomes[m] for p in rows) / len(rows) for m in (best, weak))  # type: ignore[assignment]
    return out


def _references(dataset: OutcomeSet, test: Sequence[Prepared]) -> dict[str, float]:
    """Mean outcome of routers recorded in the file (e.g. commercial routers on MT-Bench)."""
    out = {}
    for ref in dataset.references:
        vals = [p.row.outcomes[ref] for p in test if ref in p.row.outcomes]
        if vals:
            out[ref] = round(sum(vals) / len(vals), 4)
    return out


def run_eval(
    data: str,
    train: str | None = None,
    models: str | None = None,
    config: GatewayConfig | None = None,
    png: str | None = None,
    *,
    save_state: str | None = None,
    bench: bool = True,
    split_seed: str = SPLIT_SEED,
) -> EvalResult:
    """`gateway eval`. Outcome file: the contract's `{best_model, models, profiles,
    decision_ms}`; labelled file: `{accuracy, macro_f1, per_class}`. With `save_state`, the
    learned model is written there as JSON (e.g. `config.routing.learn.state_path`);
    `split_seed` picks another deterministic split, to see how much the figures vary."""
    path = Path(data)
    if png:
        require_plot()  # fail before the replay, not after it
    dataset = read(path)
    if isinstance(dataset, LabelledSet):
        report = classifier_report(dataset)
        details = {k.lstrip("_"): report.pop(k) for k in list(report) if k.startswith("_")}
        details.update(kind="labels", file=dataset.name, notes=dataset.notes, min_support=MIN_SUPPORT)
        return EvalResult(report, details)
    result = evaluate_outcomes(dataset, path, train, models, config, png, bench, split_seed)
    if save_state:
        router: Router = result.details["router"]
        Path(save_state).write_text(json.dumps(router.learned.to_json()))
        result.details["saved_state"] = save_state
    return result


def training_records(path: str) -> list[OutcomeRecord]:
    """Every (prompt, model, outcome) of an outcome file as records, for a refit that mixes
    offline files with the request log (the same `LearnedModel.fit`)."""
    dataset = read(path)
    if not isinstance(dataset, OutcomeSet):
        raise ValueError(f"{path}: not an outcome file")
    return [
        OutcomeRecord(features=p.features, model=m, score=s)
        for p in prepare(dataset.rows)
        for m, s in p.row.outcomes.items()
        if m in dataset.models
    ]
