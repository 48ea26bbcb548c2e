"""Benchmark, several instances: what shared state (`state.url`, Redis) and `--workers 2` cost
or buy, with the same load generator, fake upstream and figures as `bench/run.py`.

    python bench/instances.py                       # every target once, ~2 minutes
    python bench/instances.py --rounds 3 --json bench/instances.json

Targets, each a fresh `gateway serve` in front of the fake, with a client key that carries
`rpm`, `tpm` and `daily_usd` and a global daily budget, so every request takes its rate
limits, reserves its worst case and settles (the admit step's whole work):

| target      | server                       | state                         | server's cores |
| ----------- | ---------------------------- | ----------------------------- | -------------- |
| `direct`    | the fake upstream itself     |                               | 1 (with load)  |
| `1p-memory` | one process                  | in the process                | 0              |
| `1p-redis`  | one process                  | Redis (`state.url`)           | 0              |
| `2w-sqlite` | `--workers 2`                | the workers' SQLite file      | 0 and 1        |
| `2w-redis`  | `--workers 2`                | Redis                         | 0 and 1        |

wrk, the TTFT client, the fake upstream and Redis all run on core 1. A single process has core
0 to itself; two workers get core 0 and whatever the load generator leaves of core 1, so their
speed-up over one process is what a second worker buys on a 2-core machine that also runs its
load, not what it would buy on a machine of its own. The summary prints how many cores the
server used during the c=64 run (its CPU seconds per second) to make that visible.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import loadgen
import yaml
from report import Figures, median_of, table
from run import LOAD_CPU, Target, _no_nan, bench_one, machine, measure, running
from servers import Server, free_port

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.servers import RedisServer  # noqa: E402  (the tests' Redis: one way to start it)

KEY = "sk-bench-instances"
HEADERS = {"Authorization": f"Bearer {KEY}"}
TARGETS = (("1p-memory", 1, False), ("1p-redis", 1, True), ("2w-sqlite", 2, False),
           ("2w-redis", 2, True))  # name, workers, Redis


def config(tmp: Path, redis_url: str | None) -> Path:
    """`gateway.bench.yaml` (one source for the models) with a limited key and budgets."""
    tree = yaml.safe_load((HERE / "gateway.bench.yaml").read_text())
    tree["auth"] = {"api_keys": [{"name": "bench", "key": KEY, "role": "client",
                                  "rpm": 100_000_000, "tpm": 10**12, "daily_usd": 1e9}]}
    tree["budgets"] = {"daily_usd": 1e9}
    if redis_url:
        tree["state"] = {"url": redis_url}
    path = tmp / f"gateway-{'redis' if redis_url else 'local'}.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


@contextlib.contextmanager
def redis_on_load_core() -> Iterator[RedisServer]:
    """A Redis without persistence (its writes are not what is measured), pinned to core 1."""
    redis = RedisServer().start()
    try:
        assert redis.proc is not None
        os.sched_setaffinity(redis.proc.pid, {LOAD_CPU})
        yield redis
    finally:
        redis.close()


def gateway(name: str, workers: int, cfg: Path, tmp: Path, upstream: str) -> tuple[Server, str]:
    port = free_port()
    env = {"BENCH_UPSTREAM": upstream, "BENCH_DB": str(tmp / f"{name}-{port}.db")}
    cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(cfg), "--host",
           "127.0.0.1", "--port", str(port)]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    cores = "0" if workers == 1 else "0,1"  # one process alone on core 0; workers on both
    server = Server(name, cmd, cpu=cores, log=tmp / f"{name}.log", env=env, cwd=HERE.parent)
    return server, f"http://127.0.0.1:{port}/health"


def one_round(args: argparse.Namespace, wrk: str, tmp: Path, fake: Server, upstream: str,
              redis_url: str) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    print("direct: the fake upstream", flush=True)
    direct = Target("direct", f"{upstream}/chat/completions", {}, "bench-model", fake.pid)
    results["direct"] = measure(direct, wrk, args, tmp, fake.pid)
    for name, workers, with_redis in TARGETS:
        cfg = config(tmp, redis_url if with_redis else None)
        server, ready = gateway(name, workers, cfg, tmp, upstream)
        results[name] = bench_one(name, server, ready, "bench-model", HEADERS, wrk, args, tmp,
                                  60, fake.pid)
        time.sleep(1)  # a stopped target's sockets and CPU settle before the next one
    return results


def compare(results: dict[str, Figures]) -> str:
    def cores(f: Figures) -> float:
        return f.rps * f.cpu_ms_per_req / 1000

    def line(name: str, base: str) -> str:
        r, b = results[name], results[base]
        rps = r.rps / b.rps if b.rps else math.nan
        return (f"{name} vs {base}: req/s x{rps:.2f} ({r.rps:.0f} vs {b.rps:.0f}), "
                f"p50 c=1 {r.p50_ms - b.p50_ms:+.3f} ms, p50 c=64 "
                f"{r.c64_p50_ms - b.c64_p50_ms:+.2f} ms, CPU/req "
                f"{r.cpu_ms_per_req - b.cpu_ms_per_req:+.3f} ms; server used "
                f"{cores(r):.2f} cores (vs {cores(b):.2f}) of 2")

    pairs = (("1p-redis", "1p-memory"), ("2w-sqlite", "1p-memory"), ("2w-redis", "1p-redis"),
             ("2w-redis", "2w-sqlite"))
    out = [line(a, b) for a, b in pairs if a in results and b in results]
    out.append("The rest of the 2 cores ran wrk, the fake upstream and Redis: with 2 workers "
               "the server competes with them for core 1.")
    return "\n".join(out)


def _stop_on_term(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, so servers are stopped


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10, help="seconds of the c=64 run")
    p.add_argument("--latency-duration", type=float, default=5, help="seconds of the c=1 run")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load per target")
    p.add_argument("--ttft-n", type=int, default=200, help="streamed requests for TTFT")
    p.add_argument("--rounds", type=int, default=1, help="rounds (medians are reported)")
    p.add_argument("--nice", type=int, default=-10, help="niceness (default -10, needs root)")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    args = p.parse_args()
    args.profile = None  # run.measure's option; no profiling here
    if (os.cpu_count() or 1) < 2:
        print("needs 2 cores: the server under test on core 0, the load on core 1")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_term)
    os.sched_setaffinity(0, {LOAD_CPU})
    try:
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    except PermissionError:
        print(f"cannot raise priority to nice {args.nice} (not root): running at normal priority")
    started = time.monotonic()
    wrk = loadgen.ensure_wrk()
    rounds: list[dict[str, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="gateway-bench-instances-") as name:
        tmp = Path(name)
        fake_port = free_port()
        fake = Server("fake", [sys.executable, str(HERE / "fake_upstream.py"), "--port",
                               str(fake_port)], cpu=LOAD_CPU, log=tmp / "fake.log")
        upstream = f"http://127.0.0.1:{fake_port}/v1"
        with running(fake, f"http://127.0.0.1:{fake_port}/health", 20), \
                redis_on_load_core() as redis:
            for n in range(args.rounds):
                if args.rounds > 1:
                    print(f"-- round {n + 1} of {args.rounds}", flush=True)
                rounds.append(one_round(args, wrk, tmp, fake, upstream, redis.url))
    results = median_of(rounds)
    print()
    print(table(results))
    print()
    print(compare(results))
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        data = {"targets": {k: asdict(v) for k, v in results.items()}, "machine": machine(),
                "settings": {k: str(v) for k, v in vars(args).items()}}
        args.json.write_text(json.dumps(_no_nan(data), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
