"""Soak under faults: `python bench/soak.py` sends N requests through the gateway to a faulty primary.

Starts a faulty fake upstream (`soak_upstream.py --fault-rate F`) behind model `primary`
(fallbacks: [backup]) and a healthy one behind `backup`, a gateway logging to SQLite in a temp
dir, then sends `--requests` chat calls (half streamed) at `--concurrency` with aiohttp, model
`primary`. It then SIGTERMs the gateway (the log flushes) and reports client-visible failures,
mid-stream errors, log rows vs requests and latency percentiles. 127.0.0.1 only; a global
timeout bounds the run; every process started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sqlite3
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from servers import Server, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
database: {{url: "sqlite+aiosqlite:///{db}"}}
providers:
  faulty: {{kind: openai, base_url: "http://127.0.0.1:{faulty}/v1"}}
  healthy: {{kind: openai, base_url: "http://127.0.0.1:{healthy}/v1"}}
models:
  - {{id: primary, provider: faulty, upstream: soak, input_usd_per_mtok: 0.1,
      output_usd_per_mtok: 0.4, context_window: 32000, capabilities: [streaming],
      quality: 0.8, latency_ms: 100, fallbacks: [backup]}}
  - {{id: backup, provider: healthy, upstream: soak, input_usd_per_mtok: 0.1,
      output_usd_per_mtok: 0.4, context_window: 32000, capabilities: [streaming],
      quality: 0.7, latency_ms: 100}}
reliability:
  retries: 2
  backoff: {{initial_s: 0.05, max_s: 0.5}}
  circuit_breaker: {{failure_threshold: 5, cooldown_s: 2}}
  timeouts: {{connect_s: 1, first_token_s: 1, idle_s: 1, total_s: 5}}
"""


def classify_stream(raw: bytes) -> str:
    """'ok', 'midstream_error' (error event after content reached us), 'stream_error', 'truncated'."""
    content, done = False, False
    for line in raw.decode(errors="replace").splitlines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            return "truncated"
        if isinstance(event, dict) and "error" in event:
            return "midstream_error" if content else "stream_error"
        for choice in event.get("choices") or []:
            if (choice.get("delta") or {}).get("content"):
                content = True
    return "ok" if done else "truncated"


async def one(session: aiohttp.ClientSession, url: str, i: int) -> tuple[str, float, str, bool]:
    """(outcome, seconds, detail) of one request; odd-numbered requests stream."""
    stream = i % 2 == 1
    body: dict[str, Any] = {"model": "primary", "max_tokens": 16,
                            "messages": [{"role": "user", "content": f"soak request {i}"}]}
    if stream:
        body["stream"] = True
    t0 = time.perf_counter()
    try:
        async with session.post(url, json=body) as resp:
            raw = await resp.read()
            took = time.perf_counter() - t0
            if resp.status != 200:
                return f"http_{resp.status}", took, raw[:300].decode(errors="replace"), stream
            if not stream:
                ok = bool(json.loads(raw).get("choices"))
                return ("ok" if ok else "bad_body"), took, "" if ok else raw[:300].decode(), False
            kind = classify_stream(raw)
            detail = "" if kind == "ok" else raw[-300:].decode(errors="replace")
            return kind, took, detail, True
    except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
        return f"exc_{type(exc).__name__}", time.perf_counter() - t0, repr(exc)[:300], stream


async def load(url: str, n: int, concurrency: int) -> list[tuple[str, float, str, bool]]:
    results: list[tuple[str, float, str, bool]] = []
    queue = iter(range(n))
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        async def worker() -> None:
            for i in queue:  # a shared iterator: each index is taken by exactly one worker
                results.append(await one(session, url, i))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000 if s else float("nan")


def count_rows(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        cols = [r[1] for r in conn.execute("PRAGMA table_info(requests)")]
        by: dict[str, int] = {}
        for col in ("model", "status"):
            if col in cols:
                for key, cnt in conn.execute(f"SELECT {col}, count(*) FROM requests GROUP BY 1"):
                    by[f"{col}={key}"] = cnt
    return {"rows": total, "breakdown": by}


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    faulty_port, healthy_port, gw_port = free_port(), free_port(), free_port()
    db = tmp / "soak.db"
    cfg = tmp / "soak.yaml"
    cfg.write_text(CONFIG.format(port=gw_port, db=db, faulty=faulty_port, healthy=healthy_port))
    up = [sys.executable, str(HERE / "soak_upstream.py")]
    faulty = Server("faulty", [*up, "--port", str(faulty_port), "--fault-rate",
                               str(args.fault_rate), "--stall-s", str(args.stall_s)],
                    cpu=1, log=tmp / "faulty.log")
    healthy = Server("healthy", [*up, "--port", str(healthy_port), "--fault-rate", "0"],
                     cpu=1, log=tmp / "healthy.log")
    gateway = Server("gateway", [sys.executable, "-m", "gateway", "serve", "--config", str(cfg),
                                 "--port", str(gw_port)], cpu=0, log=tmp / "gateway.log", cwd=REPO)
    servers = [faulty, healthy, gateway]
    try:
        for s, port in ((faulty, faulty_port), (healthy, healthy_port), (gateway, gw_port)):
            s.start().wait_ready(f"http://127.0.0.1:{port}/health", 30)
        url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        t0 = time.perf_counter()
        results = asyncio.run(asyncio.wait_for(load(url, args.requests, args.concurrency),
                                               args.timeout))
        wall = time.perf_counter() - t0
        upstream = {name: json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{p}/stats", timeout=5).read())
            for name, p in (("faulty", faulty_port), ("healthy", healthy_port))}
        gateway.stop()  # SIGTERM: the gateway drains and flushes its log before exiting
        rows = count_rows(db)
    finally:
        for s in servers:
            s.stop()
    return summarize(args, results, wall, upstream, rows, gateway.log)


def summarize(args: argparse.Namespace, results: list[tuple[str, float, str, bool]], wall: float,
              upstream: dict[str, Any], rows: dict[str, Any], log: Path) -> dict[str, Any]:
    outcomes = collections.Counter(r[0] for r in results)
    samples: dict[str, str] = {}
    for kind, _, detail, _ in results:
        if kind != "ok":
            samples.setdefault(kind, detail)
    lat = [r[1] for r in results]
    by_kind = {"stream": [r[1] for r in results if r[3]],
               "plain": [r[1] for r in results if not r[3]]}
    failures = sum(c for k, c in outcomes.items() if k not in ("ok", "midstream_error"))
    return {
        "requests": args.requests, "concurrency": args.concurrency, "fault_rate": args.fault_rate,
        "completed": len(results), "wall_s": round(wall, 2),
        "client_visible_failures": failures,
        "midstream_errors": outcomes.get("midstream_error", 0),
        "outcomes": dict(outcomes), "failure_samples": samples,
        "rows": rows["rows"], "rows_breakdown": rows["breakdown"],
        "latency_ms": {"p50": round(pct(lat, 0.5), 1), "p90": round(pct(lat, 0.9), 1),
                       "p99": round(pct(lat, 0.99), 1), "max": round(pct(lat, 1.0), 1),
                       **{f"{k}_p{q}": round(pct(v, q / 100), 1)
                          for k, v in by_kind.items() for q in (50, 99)}},
        "upstream_calls": upstream,
        "gateway_log_tail": log.read_text(errors="replace").splitlines()[-5:]
        if log.exists() else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--stall-s", type=float, default=6.0,
                        help="injected stall; > total_s (5) so plain calls time out too")
    parser.add_argument("--timeout", type=float, default=600, help="global bound, seconds")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, db)")
    args = parser.parse_args()
    if args.keep:
        tmp = Path(tempfile.mkdtemp(prefix="gateway-soak-"))
        out = run(args, tmp)
        out["tmp"] = str(tmp)
    else:
        with tempfile.TemporaryDirectory(prefix="gateway-soak-") as name:
            out = run(args, Path(name))
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"{out['completed']}/{out['requests']} requests, c={out['concurrency']}, "
          f"fault rate {out['fault_rate']:.0%}, {out['wall_s']} s")
    print(f"client-visible failures: {out['client_visible_failures']}   "
          f"mid-stream errors: {out['midstream_errors']}   rows: {out['rows']}")
    print(f"latency ms: {out['latency_ms']}")
    print(f"outcomes: {out['outcomes']}")
    print(f"upstream calls: {out['upstream_calls']}")
    for kind, detail in out["failure_samples"].items():
        print(f"  sample {kind}: {detail}")


if __name__ == "__main__":
    main()
