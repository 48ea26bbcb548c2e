"""The dashboard's queries against a large request log: fill a SQLite log, time each admin query.

    python bench/dashboard_log.py --rows 1000000 --days 30 --db /tmp/big.db         # fill + time
    python bench/dashboard_log.py --db /tmp/big.db --no-fill                        # time again

The rows are synthetic but shaped like a real log: the shipped models, thirteen tasks, a few
keys, 3 % errors, log-normal latencies, streams with a time to first token, a quarter of the
traffic with `auto`. Every query is the `LogReader` method the `/admin/*` endpoint calls, run
through the same async engine; each is timed over `--repeat` runs and the median printed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.usage.reports import LogReader, parse_since
from gateway.usage.schema import attempts, metadata, requests

MODELS = [("gpt-4.1-mini", "openai", 0.4, 1.6), ("gpt-4.1", "openai", 2.0, 8.0),
          ("claude-sonnet-4-5", "anthropic", 3.0, 15.0), ("claude-haiku-4-5", "anthropic", 1.0, 5.0),
          ("gemini-2.5-flash", "gemini", 0.3, 2.5), ("local", "lmstudio", 0.0, 0.0),
          ("mistral-small", "mistral", 0.1, 0.3), ("codestral", "mistral", 0.3, 0.9)]
TASKS = ["code", "math", "reasoning", "open_qa", "closed_qa", "summarization", "extraction",
         "classification", "rewrite", "generation", "brainstorming", "chat", "tool_use"]
KEYS = ["ops", "team-a", "team-b", "ci", None]
CHUNK = 20_000


def synthetic_rows(n: int, days: float, seed: int = 1) -> Any:
    rnd = random.Random(seed)
    end = datetime.now(UTC).replace(tzinfo=None)
    span = days * 86400
    for i in range(n):
        model, provider, pin, pout = rnd.choice(MODELS)
        auto = rnd.random() < 0.25
        error = rnd.random() < 0.03
        stream = rnd.random() < 0.4
        p, c = rnd.randint(20, 4000), rnd.randint(5, 800)
        latency = rnd.lognormvariate(6.5, 0.6)
        yield {
            "id": f"req_{i:012d}", "created_at": end - timedelta(seconds=span * (i / n)),
            "api_key": rnd.choice(KEYS), "requested_model": "auto" if auto else model,
            "model": model, "provider": provider, "task": rnd.choice(TASKS),
            "complexity": rnd.randint(1, 10), "profile": "balanced" if auto else None,
            "stream": stream, "status": "error" if error else "success",
            "http_status": 502 if error else 200, "error": "upstream failed" if error else None,
            "attempts": 1, "prompt_tokens": p, "completion_tokens": c,
            "cost_usd": None if error else (p * pin + c * pout) / 1e6,
            "latency_ms": latency, "ttft_ms": latency * 0.3 if stream else None,
            "routing_reason": f"best score for {model}" if auto else f"explicit model {model}",
            "endpoint": "chat",
        }


def fill(db: Path, rows: int, days: float) -> None:
    engine = create_engine(f"sqlite:///{db}")
    metadata.create_all(engine)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for row in synthetic_rows(rows, days):
            batch.append(row)
            if len(batch) == CHUNK:
                conn.execute(insert(requests), batch)
                conn.execute(insert(attempts), [_attempt(r) for r in batch])
                batch.clear()
        if batch:
            conn.execute(insert(requests), batch)
            conn.execute(insert(attempts), [_attempt(r) for r in batch])
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print(f"filled {rows:,} rows over {days:g} days in {time.perf_counter() - started:.0f} s "
          f"({db.stat().st_size / 1e6:.0f} MB)")


def _attempt(r: dict[str, Any]) -> dict[str, Any]:
    return {"request_id": r["id"], "n": 1, "model": r["model"], "provider": r["provider"],
            "status": r["status"], "http_status": r["http_status"], "error": r["error"],
            "latency_ms": r["latency_ms"], "cost_usd": r["cost_usd"], "started_at": r["created_at"]}


async def timings(db: Path, windows: list[str], repeat: int) -> list[tuple[str, str, float]]:
    reader = LogReader(f"sqlite+aiosqlite:///{db}")
    out = []
    try:
        for window in windows:
            since = parse_since(window)
            queries = {
                "usage by model": lambda s=since: reader.usage_report(s, "model"),
                "usage by key": lambda s=since: reader.usage_report(s, "key"),
                "series by model": lambda s=since: reader.series(s, "model"),
                "series by key": lambda s=since: reader.series(s, "key"),
                "latency": lambda s=since: reader.latency(s),
                "routing matrix": lambda s=since: reader.routing_matrix(s),
                "recent 20": lambda s=since: reader.recent(20, s),
            }
            for name, run in queries.items():
                seconds = []
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    await run()
                    seconds.append(time.perf_counter() - t0)
                out.append((window, name, statistics.median(seconds) * 1000))
                print(f"{window:>4}  {name:<16} {out[-1][2]:8.1f} ms", flush=True)
    finally:
        await reader.aclose()
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--days", type=float, default=30)
    p.add_argument("--no-fill", action="store_true")
    p.add_argument("--windows", default="1h,24h,7d,30d")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    if not args.no_fill:
        if args.db.exists():
            args.db.unlink()
        fill(args.db, args.rows, args.days)
    asyncio.run(timings(args.db, args.windows.split(","), args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
