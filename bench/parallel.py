"""What `first_success` costs over a single call: `python bench/parallel.py`.

A gateway on three simulated upstreams (no network, deterministic) whose answers take about
50, 150 and 300 ms; the same request is sent, one at a time, to the fastest model alone and as
`first_success` over all three. The extra latency of first_success is its p50 minus the single
call's: the legs race, the winner answers, the slow legs are cancelled. 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from servers import Server, free_port

HERE = Path(__file__).resolve().parent
CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
database: {{url: "sqlite+aiosqlite:///{db}"}}
providers:
  fast: {{kind: simulated, simulate: {{latency_ms: 50, tokens_per_s: 100000}}}}
  mid: {{kind: simulated, simulate: {{latency_ms: 150, tokens_per_s: 100000}}}}
  slow: {{kind: simulated, simulate: {{latency_ms: 300, tokens_per_s: 100000}}}}
models:
  - {{id: m-fast, provider: fast, quality: 0.8, input_usd_per_mtok: 1, output_usd_per_mtok: 2}}
  - {{id: m-mid, provider: mid, quality: 0.85, input_usd_per_mtok: 1, output_usd_per_mtok: 2}}
  - {{id: m-slow, provider: slow, quality: 0.9, input_usd_per_mtok: 1, output_usd_per_mtok: 2}}
routing: {{learn: {{enabled: false}}}}
"""


def post(url: str, body: dict[str, object]) -> float:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"content-type": "application/json"})
    started = time.perf_counter()
    with urllib.request.urlopen(req, timeout=30) as resp:
        resp.read()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=60, help="requests per case")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cfg = Path(tmp) / "gateway.yaml"
        cfg.write_text(CONFIG.format(port=port, db=Path(tmp) / "log.db"))
        gw = Server("gateway", [sys.executable, "-m", "gateway", "serve", "--config", str(cfg)],
                    cpu=0, log=Path(tmp) / "gateway.log", cwd=HERE.parent)
        gw.start()
        try:
            gw.wait_ready(f"http://127.0.0.1:{port}/health", 30)
            url = f"http://127.0.0.1:{port}/v1/chat/completions"
            cases = {
                "single call to m-fast": {"model": "m-fast"},
                "first_success over 3": {"model": "auto", "routing": {"parallel": {
                    "models": ["m-fast", "m-mid", "m-slow"], "strategy": "first_success"}}},
                "vote over 3 (waits for all)": {"model": "auto", "routing": {"parallel": {
                    "models": ["m-fast", "m-mid", "m-slow"], "strategy": "vote"}}},
            }
            p50 = {}
            for name, extra in cases.items():
                def body(i: int, extra: dict[str, object] = extra, name: str = name
                         ) -> dict[str, object]:
                    # a new prompt each time: the simulated upstreams answer repeats sooner
                    return {"messages": [{"role": "user", "content": f"Say hello, {name} {i}."}],
                            **extra}
                for i in range(5):
                    post(url, body(-i))
                times = [post(url, body(i)) for i in range(args.n)]
                p50[name] = statistics.median(times)
                print(f"{name:30s} p50 {p50[name]:7.1f} ms   p90 "
                      f"{statistics.quantiles(times, n=10)[-1]:7.1f} ms")
            extra_ms = p50["first_success over 3"] - p50["single call to m-fast"]
            print(f"first_success over a single call to the fastest leg: {extra_ms:+.1f} ms")
        finally:
            gw.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
