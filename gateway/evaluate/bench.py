"""Evaluation: the decision-latency benchmark: one 2,000-character prompt, 15 candidate models.

Times `Router.decide` end to end (options, classify, features, learned estimate for every
candidate, scoring, plan) on synthetic models and a learned model fitted to synthetic
outcomes, so the figure does not depend on which data file is being evaluated.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import numpy as np

from gateway.config import parse_config
from gateway.routing import LearnedModel, OutcomeRecord, Router, extract

N_MODELS = 15
PROMPT_CHARS = 2000

_PARAGRAPH = (
    "I maintain a small Python service that ingests CSV exports from three vendors, "
    "normalises the columns, and writes the rows into PostgreSQL. Since last week the nightly "
    "job sometimes takes four hours instead of twenty minutes, and the logs show long pauses "
    "between batches. Please review the function below, explain the likely cause, and propose "
    "a faster design that keeps memory bounded. Consider indexes, batching, COPY, and whether "
    "the pandas conversion is needed at all. Give the answer as numbered steps, then code.\n"
    "def load(path, conn):\n    df = pd.read_csv(path)\n    for _, row in df.iterrows():\n"
    "        conn.execute(INSERT, tuple(row))\n    conn.commit()\n"
)


def bench_prompt() -> str:
    text = ""
    while len(text) < PROMPT_CHARS:
        text += _PARAGRAPH
    return text[:PROMPT_CHARS]


def bench_router() -> Router:
    """15 models over 5 providers, with a learned model that knows all of them."""
    providers = {
        f"p{i}": {"kind": "openai", "base_url": f"http://127.0.0.1:9/v{i}"} for i in range(5)
    }
    models = [
        {
            "id": f"model-{i}",
            "provider": f"p{i % 5}",
            "input_usd_per_mtok": 0.1 * (i + 1),
            "output_usd_per_mtok": 0.4 * (i + 1),
            "context_window": 128_000,
            "capabilities": ["tools", "json", "streaming"],
            "quality": {"default": 0.5 + 0.03 * i, "code": 0.55 + 0.025 * i},
            "latency_ms": 300 + 50 * i,
            "fallbacks": [f"model-{(i + 1) % N_MODELS}"],
        }
        for i in range(N_MODELS)
    ]
    config = parse_config({"providers": providers, "models": models}, env={})
    router = Router(config)
    rng = random.Random(7)
    vocab = bench_prompt().split()
    records = []
    for _ in range(300):
        text = " ".join(rng.choices(vocab, k=120))
        features = extract(router.classify({"messages": [{"role": "user", "content": text}]}))
        for m in models:
            records.append(OutcomeRecord(features, str(m["id"]), float(rng.random() < 0.6)))
    now = datetime.now(UTC)
    return router.with_learned(LearnedModel.fit(records, now=now))


def decision_latency(router: Router | None = None, n: int = 3000) -> dict[str, float]:
    """p50 / p99 / mean of one decision, in milliseconds."""
    router = router or bench_router()
    body = {"messages": [{"role": "user", "content": bench_prompt()}]}
    for _ in range(200):  # warm caches and the allocator
        router.decide(body)
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        router.decide(body)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    return {
        "p50": float(np.percentile(times, 50)),
        "p99": float(np.percentile(times, 99)),
        "mean": float(times.mean()),
        "candidates": float(len(router.catalog.entries)),
        "prompt_chars": float(PROMPT_CHARS),
    }
