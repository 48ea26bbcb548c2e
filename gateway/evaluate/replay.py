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
    Entry,
    LearnedModel,
    OutcomeRecord,
    PromptFeatures,
    Router,
    classify,
)
from gateway.routing.features import extract

SPLIT_SEED = "gateway-eval-v1"
EVAL_PROVIDER = "eval"
NOT_RECORDED = "no outcome recorded for this row"
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
    # Exploration buys the learner evidence; a replay does not learn, so it would only add noise.
    routing["explore_share"] = 0.0
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


def row_cost(p: Prepared, entry: Entry) -> float:
    """What answering this row with `entry` cost: recorded, else priced by the gateway's one
    estimator (`Entry.cost_usd`) from the prompt's tokens and the answer's (recorded output
    tokens when the file has them, else the task's typical length)."""
    if p.row.costs and entry.id in p.row.costs:
        return p.row.costs[entry.id]
    out = (p.row.output_tokens or {}).get(entry.id, p.classification.expected_output_tokens)
    return entry.cost_usd(p.classification.prompt_tokens, int(out))


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
    explored: int = 0
    # group (benchmark) -> (summed outcome, rows, picks)
    by_group: dict[str, tuple[float, int, Counter[str]]] = field(default_factory=dict)


def replay(router: Router, test: Sequence[Prepared], profile: str) -> Replay:
    """Route every test row with `profile`; score the picks against the recorded outcomes.
    A model the row has no outcome for is offered as unusable, with that reason."""
    quality = cost = 0.0
    picks: Counter[str] = Counter()
    times: list[float] = []
    groups: dict[str, tuple[float, int, Counter[str]]] = {}
    explored = 0
    absent = dict.fromkeys((e.id for e in router.catalog.entries), NOT_RECORDED)
    for p in test:
        unusable = {m: why for m, why in absent.items() if m not in p.row.outcomes}
        t0 = time.perf_counter_ns()
        d = router.decide(p.row.body, profile=profile, unusable=unusable, options={})
        times.append((time.perf_counter_ns() - t0) / 1e6)
        got = p.row.outcomes[d.model]
        quality += got
        entry = router.catalog.get(d.model)
        assert entry is not None
        cost += row_cost(p, entry)
        picks[d.model] += 1
        explored += d.explored
        q, k, seen = groups.get(p.row.group) or (0.0, 0, Counter())
        seen[d.model] += 1
        groups[p.row.group] = (q + got, k + 1, seen)
    n = max(len(test), 1)
    return Replay(quality / n, cost / n, picks, times, explored, groups)


def single_models(test: Sequence[Prepared], router: Router) -> dict[str, dict[str, float]]:
    """Mean outcome and cost of always using one model (over the rows that record it)."""
    out = {}
    for e in router.catalog.entries:
        rows = [p for p in test if e.id in p.row.outcomes]
        if rows:
            out[e.id] = {
                "quality": sum(p.row.outcomes[e.id] for p in rows) / len(rows),
                "cost_usd": sum(row_cost(p, e) for p in rows) / len(rows),
            }
    return out
