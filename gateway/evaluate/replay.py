"""Evaluation, step 3: train the router on one set of rows and replay another through it.

No upstream is called: each test prompt goes through `Router.decide` exactly as a live request
would (same classifier, features, learned estimate, scoring), offered only the models whose
outcome the row records; the chosen model's recorded outcome and cost are what the router
"got". Training goes through `LearnedModel.fit`, the path the request log and feedback use.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.config import GatewayConfig, parse_config
from gateway.evaluate.data import EvalRow, OutcomeSet
from gateway.evaluate.prices import Price, fit_prices, list_price
from gateway.routing import (
    Classification,
    LearnedModel,
    OutcomeRecord,
    PromptFeatures,
    Router,
    classify,
)
from gateway.routing.features import extract

SPLIT_SEED = "gateway-eval-v1"
EVAL_PROVIDER = "eval"
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)  # evaluation records carry no time: all equally recent


def split(rows: Sequence[EvalRow], seed: str = SPLIT_SEED) -> tuple[list[EvalRow], list[EvalRow]]:
    """A deterministic 50/50 split by a hash of each row's id (stable across runs and files)."""
    train: list[EvalRow] = []
    test: list[EvalRow] = []
    for row in rows:
        digest = hashlib.md5((seed + row.id).encode(), usedforsecurity=False).digest()
        (train if digest[0] < 128 else test).append(row)
    return train, test


@dataclass
class Prepared:
    """A row classified once: its classification and features are reused by every replay."""

    row: EvalRow
    classification: Classification
    features: PromptFeatures


def prepare(rows: Sequence[EvalRow]) -> list[Prepared]:
    out = []
    for row in rows:
        c = classify(row.body)
        out.append(Prepared(row, c, extract(c)))
    return out


def eval_config(
    models: Sequence[str], prices: Mapping[str, Price], base: GatewayConfig | None
) -> GatewayConfig:
    """A config holding the file's models. A model the base config also lists keeps its
    priors (quality, latency, capabilities); the others get neutral ones."""
    entries = []
    for m in models:
        known = base.model(m) if base else None
        entry: dict[str, Any] = {
            "id": m,
            "provider": EVAL_PROVIDER,
            "input_usd_per_mtok": prices[m][0],
            "output_usd_per_mtok": prices[m][1],
            "context_window": 10_000_000,
            "capabilities": ["tools", "vision", "json", "streaming"],
        }
        if known is not None:
            entry.update(quality=dict(known.quality), latency_ms=known.latency_ms)
        entries.append(entry)
    routing = base.routing.model_dump() if base else {}
    return parse_config(
        {
            "providers": {EVAL_PROVIDER: {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "models": entries,
            "routing": routing,
        },
        env={},
    )


def router_prices(
    data: OutcomeSet, train: Sequence[Prepared], given: Mapping[str, Price]
) -> tuple[dict[str, Price], dict[str, str]]:
    """Prices the router believes, and where each came from. Recorded costs win: fitted to
    the training rows against the router's own token estimates."""
    prices: dict[str, Price] = {}
    source: dict[str, str] = {}
    for m in data.models:
        rows = [p for p in train if p.row.costs and m in p.row.costs]
        if len(rows) >= 10:
            prices[m] = fit_prices(
                [p.classification.prompt_tokens for p in rows],
                [p.classification.expected_output_tokens for p in rows],
                [p.row.costs[m] for p in rows if p.row.costs],
            )
            source[m] = "fitted to recorded cost_usd"
        elif m in given:
            prices[m], source[m] = given[m], "--models file"
        else:
            price, where = list_price(m)
            prices[m], source[m] = price or (1.0, 1.0), where if price else "unknown: $1/Mtok"
    return prices, source


def row_cost(p: Prepared, model: str, prices: Mapping[str, Price]) -> float:
    """What answering this row with `model` cost: recorded, else priced from token counts
    (recorded output tokens when the file has them, else the task's typical length)."""
    if p.row.costs and model in p.row.costs:
        return p.row.costs[model]
    out = (p.row.output_tokens or {}).get(model, p.classification.expected_output_tokens)
    price = prices[model]
    return (p.classification.prompt_tokens * price[0] + out * price[1]) / 1e6


def train_router(config: GatewayConfig, train: Sequence[Prepared], half_life_days: float) -> Router:
    records = [
        OutcomeRecord(features=p.features, model=m, score=s, at=EPOCH)
        for p in train
        for m, s in p.row.outcomes.items()
        if m in {e.id for e in config.models}
    ]
    learned = LearnedModel.fit(records, now=EPOCH, half_life_days=half_life_days)
    return Router(config, learned)


@dataclass
class Replay:
    """One profile's replay over the test rows."""

    quality: float
    cost_usd: float
    picks: Counter[str]
    decision_ms: list[float]
    candidates: list[list[tuple[str, tuple[float, float, float, float]]]] = field(
        default_factory=list
    )


def replay(
    router: Router,
    test: Sequence[Prepared],
    profile: str,
    truth_prices: Mapping[str, Price],
    keep_candidates: bool = False,
) -> Replay:
    """Route every test row with `profile`; score the picks against the recorded outcomes."""
    quality = cost = 0.0
    picks: Counter[str] = Counter()
    times: list[float] = []
    kept: list[list[tuple[str, tuple[float, float, float, float]]]] = []
    all_models = {e.id: False for e in router.catalog.entries}
    for p in test:
        usable = {**all_models, **dict.fromkeys(p.row.outcomes, True)}
        t0 = time.perf_counter_ns()
        d = router.decide(p.row.body, profile=profile, usable=usable, options={})
        times.append((time.perf_counter_ns() - t0) / 1e6)
        quality += p.row.outcomes[d.model]
        cost += row_cost(p, d.model, truth_prices)
        picks[d.model] += 1
        if keep_candidates:
            kept.append([(c.id, c.raw) for c in d.candidates if c.excluded is None])
    n = max(len(test), 1)
    return Replay(quality / n, cost / n, picks, times, kept)


def single_models(
    test: Sequence[Prepared], models: Sequence[str], prices: Mapping[str, Price]
) -> dict[str, dict[str, float]]:
    """Mean outcome and cost of always using one model (over the rows that record it)."""
    out = {}
    for m in models:
        rows = [p for p in test if m in p.row.outcomes]
        if rows:
            out[m] = {
                "quality": sum(p.row.outcomes[m] for p in rows) / len(rows),
                "cost_usd": sum(row_cost(p, m, prices) for p in rows) / len(rows),
            }
    return out
