"""Benchmark entry point: `python bench/run.py` measures direct, gateway, LiteLLM and Portkey.

The gateway is measured through two doors on the same OpenAI-kind upstream: chat completions
(`gateway`, `gateway-auto`) and Anthropic's Messages (`gateway-messages`, translated both ways).

The server under test runs alone on core 0; this script, wrk, the TTFT client and the fake
upstream share core 1. Each target gets a fresh process; every process started here is stopped
at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import hotspots
import loadgen
import peers
import procstat
from report import Figures, median_of, summary, table
from servers import Server, free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SERVER_CPU, LOAD_CPU = 0, 1
PROMPT = "Write a haiku about load testing an LLM gateway."
# The path each client API posts to.
PATHS = {"chat": "/v1/chat/completions", "messages": "/v1/messages"}


@dataclass(frozen=True)
class Target:
    """Where to send requests, and which process answers them."""

    name: str
    url: str  # where a request goes: a door of the gateway (PATHS), or the fake's own
    headers: Mapping[str, str]
    model: str
    pid: int  # the process whose CPU and memory are reported


def body(model: str, stream: bool) -> bytes:
    """One user turn with a token limit: the same body is valid in both APIs of PATHS."""
    b: dict[str, object] = {"model": model, "max_tokens": 32,
                            "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        b["stream"] = True
    return json.dumps(b).encode()


def post(t: Target, data: bytes) -> tuple[int, bytes]:
    req = urllib.request.Request(t.url, data=data, method="POST",
                                 headers={"content-type": "application/json", **t.headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def measure(t: Target, wrk: str, args: argparse.Namespace, tmp: Path, fake_pid: int,
            ) -> Figures:
    """All figures of one target, in a fixed order: idle memory, c=1, TTFT, c=64, peak memory."""
    fig = Figures()
    status, answer = post(t, body(t.model, False))
    if status != 200:
        fig.notes.append(f"probe answered HTTP {status}: {answer[:200]!r}")
        return fig
    for _ in range(20):  # "idle" = started and warmed by a few requests, not under load
        post(t, body(t.model, False))
    mem = procstat.memory(t.pid)
    fig.idle_rss_mb = mem.rss_mb
    path = tmp / f"body-{t.name}.json"
    path.write_bytes(body(t.model, False))
    run = functools.partial(loadgen.run_wrk, wrk, t.url, path, t.headers, cpu=LOAD_CPU)
    run(connections=16, seconds=args.warmup)  # connections, caches and JITs warmed

    c1 = run(connections=1, seconds=args.latency_duration)
    fig.p50_ms, fig.p99_ms, fig.errors = c1.p50_ms, c1.p99_ms, c1.errors

    ttft = loadgen.measure_ttft(t.url, body(t.model, True),
                                {"content-type": "application/json", **t.headers}, n=args.ttft_n)
    fig.ttft_p50_ms, fig.ttft_p99_ms = ttft.p50_ms, ttft.p99_ms
    if ttft.n < args.ttft_n:
        fig.notes.append(f"streaming: {ttft.n} of {args.ttft_n} measured, {ttft.errors} failed "
                         f"({ttft.error[:160]})")

    ours = procstat.Ours(server=t.pid, fake=fake_pid)
    cpu0, before = procstat.cpu_seconds(t.pid), ours.snapshot()
    c64 = run(connections=64, seconds=args.duration)
    cpu = procstat.cpu_seconds(t.pid) - cpu0
    for core, share in ours.foreign_share(before, c64.seconds).items():
        if share > 0.05:  # someone else's process took CPU from ours: say so beside the figures
            fig.notes.append(f"other processes used {100 * share:.0f}% of core {core} during "
                             "the c=64 run: this target's figures understate it")
    fig.rps, fig.c64_p50_ms, fig.c64_p99_ms = c64.rps, c64.p50_ms, c64.p99_ms
    fig.errors += c64.errors
    fig.cpu_ms_per_req = 1000 * cpu / c64.requests if c64.requests else math.nan
    fig.peak_rss_mb = procstat.memory(t.pid).hwm_mb
    if args.profile and t.name.startswith("gateway"):
        profile(t, run, args.profile, args.duration)
    if fig.errors:
        fig.notes.append(f"{fig.errors} failed requests under wrk (socket errors or non-2xx)")
    print(f"  {t.name}: c=1 p50 {fig.p50_ms:.3f} ms, c=64 {fig.rps:.0f} req/s, "
          f"TTFT p50 {fig.ttft_p50_ms:.3f} ms", flush=True)
    return fig


def profile(t: Target, run: Callable[..., loadgen.WrkResult], out: Path, seconds: float,
            ) -> None:
    """A separate c=64 run with py-spy attached, after the measured one; prints the hot frames."""
    out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        load = pool.submit(run, connections=64, seconds=seconds + 2)
        time.sleep(1)
        raw = hotspots.record(t.pid, seconds, out, t.name, LOAD_CPU)
        load.result()
    if raw is not None:
        print(f"  profile of {t.name} under c=64 ({raw}):")
        print("    " + hotspots.summarize(raw, top=20).replace("\n", "\n    "), flush=True)


@contextlib.contextmanager
def running(server: Server, ready_url: str, timeout_s: float,
            headers: Mapping[str, str] | None = None) -> Iterator[Server]:
    try:
        server.start().wait_ready(ready_url, timeout_s, headers)
        yield server
    finally:
        server.stop()


# (target, model, door): the chat door with an explicit model and with `auto`, and the Messages
# door with the same explicit model, so its figures sit next to the chat door's
GATEWAY_TARGETS = (("gateway", "bench-model", "chat"), ("gateway-auto", "auto", "chat"),
                   ("gateway-messages", "bench-model", "messages"))


def gateway_targets(tmp: Path, upstream_v1: str, only: frozenset[str] | None = None,
                    ) -> Iterator[tuple[str, Server, str, str, str]]:
    """(target name, server, ready URL, model, door) for the gateway, a fresh process each."""
    for name, model, door in GATEWAY_TARGETS:
        if only is not None and name not in only:
            continue
        port = free_port()
        env = {"BENCH_UPSTREAM": upstream_v1, "BENCH_DB": str(tmp / f"{name}-{port}.db")}
        cmd = [sys.executable, "-m", "gateway", "serve", "--config",
               str(HERE / "gateway.bench.yaml"), "--host", "127.0.0.1", "--port", str(port)]
        server = Server(name, cmd, cpu=SERVER_CPU, log=tmp / f"{name}.log", env=env, cwd=REPO)
        yield name, server, f"http://127.0.0.1:{port}/health", model, door


def bench_one(name: str, server: Server, ready: str, model: str, headers: Mapping[str, str],
              wrk: str, args: argparse.Namespace, tmp: Path, ready_s: float, fake_pid: int,
              door: str = "chat") -> Figures:
    base = ready.split("/", 3)[:3]
    url = "/".join(base) + PATHS[door]
    print(f"{name}: starting", flush=True)
    try:
        with running(server, ready, ready_s, headers):
            target = Target(name, url, headers, model, server.pid)
            fig = measure(target, wrk, args, tmp, fake_pid)
            if server.proc is not None and server.proc.poll() is not None:
                fig.notes.append(f"server exited during the run:\n{server.tail()}")
            return fig
    except Exception as exc:  # one target failing must not end the run; its row says why
        print(f"  {name}: failed: {exc}", flush=True)
        return Figures(notes=[f"could not be measured: {str(exc)[-400:]}"])


def run(args: argparse.Namespace) -> dict[str, Figures]:
    """Every target, `args.rounds` times over (each target in a fresh process each round)."""
    wrk = loadgen.ensure_wrk()
    rounds: list[dict[str, Figures]] = []
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmpname:
        tmp = Path(tmpname)
        fake_port = free_port()
        fake = Server("fake", [sys.executable, str(HERE / "fake_upstream.py"), "--port",
                               str(fake_port)], cpu=LOAD_CPU, log=tmp / "fake.log")
        upstream = f"http://127.0.0.1:{fake_port}/v1"
        with running(fake, f"http://127.0.0.1:{fake_port}/health", 20):
            for n in range(args.rounds):
                if args.rounds > 1:
                    print(f"-- round {n + 1} of {args.rounds}", flush=True)
                rounds.append(one_round(args, wrk, tmp, fake, upstream))
    return median_of(rounds)


def one_round(args: argparse.Namespace, wrk: str, tmp: Path, fake: Server, upstream: str,
              ) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    print("direct: the fake upstream", flush=True)
    direct = Target("direct", f"{upstream}/chat/completions", {}, "bench-model", fake.pid)
    results["direct"] = measure(direct, wrk, args, tmp, fake.pid)
    if args.passthrough:
        port = free_port()
        cmd = [sys.executable, str(HERE / "passthrough.py"), "--upstream", upstream,
               "--port", str(port)]
        server = Server("passthrough", cmd, cpu=SERVER_CPU, log=tmp / "passthrough.log")
        results["passthrough"] = bench_one(
            "passthrough", server, f"http://127.0.0.1:{port}/health", "bench-model", {},
            wrk, args, tmp, 30, fake.pid)
    only = frozenset(args.only.split(",")) if args.only else None
    for name, server, ready, model, door in gateway_targets(tmp, upstream, only):
        results[name] = bench_one(name, server, ready, model, {}, wrk, args, tmp, 60,
                                  fake.pid, door)
    if not args.skip_peers:
        results.update(bench_peers(upstream, wrk, args, tmp, fake.pid))
    return results


def bench_peers(upstream: str, wrk: str, args: argparse.Namespace, tmp: Path, fake_pid: int,
                ) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    try:
        exe = peers.ensure_litellm()
        port = free_port()
        cfg = peers.litellm_config(tmp / "litellm.yaml", upstream, "bench-model")
        server = Server("litellm", peers.litellm_command(exe, cfg, port), cpu=SERVER_CPU,
                        log=tmp / "litellm.log", env=peers.LITELLM_ENV, cwd=tmp)
        auth = {"Authorization": f"Bearer {peers.LITELLM_MASTER_KEY}"}
        out["litellm"] = bench_one("litellm", server, f"http://127.0.0.1:{port}/health/liveliness",
                                   "bench-model", auth, wrk, args, tmp, 180, fake_pid)
    except Exception as exc:  # a peer's install failing must not end the run
        out["litellm"] = Figures(notes=[f"not run: {exc}"])
    try:
        entry = peers.ensure_portkey()
        port = free_port()
        server = Server("portkey", peers.portkey_command(entry, port), cpu=SERVER_CPU,
                        log=tmp / "portkey.log", cwd=peers.PORTKEY_DIR)
        out["portkey"] = bench_one("portkey", server, f"http://127.0.0.1:{port}/",
                                   "bench-model", peers.portkey_headers(upstream), wrk, args,
                                   tmp, 60, fake_pid)
    except Exception as exc:
        out["portkey"] = Figures(notes=[f"not run: {exc}"])
    return out


def machine() -> dict[str, object]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release()}


def _no_nan(value: object) -> object:
    """NaN (not measured) as null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nan(v) for v in value]
    return value


def _stop_on_term(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`, so servers are stopped


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10, help="seconds of the c=64 run")
    p.add_argument("--latency-duration", type=float, default=5, help="seconds of the c=1 run")
    p.add_argument("--warmup", type=float, default=2, help="seconds of warm-up load per target")
    p.add_argument("--ttft-n", type=int, default=200, help="streamed requests for TTFT")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure every target N times (fresh processes) and report medians")
    p.add_argument("--skip-peers", action="store_true", help="skip LiteLLM and Portkey")
    p.add_argument("--passthrough", action="store_true",
                   help="also measure a bare Starlette+aiohttp passthrough (bench/passthrough.py)")
    p.add_argument("--nice", type=int, default=-10,
                   help="niceness of every process of the benchmark (default -10, needs root)")
    p.add_argument("--json", type=Path, help="also write every figure to this file")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="after each gateway target, profile it under c=64 with py-spy into DIR")
    p.add_argument("--only", metavar="NAMES",
                   help="measure only these gateway targets (comma-separated, e.g. "
                        "gateway,gateway-messages); direct is always measured")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run that proves the script works (1 s runs, 20 streamed "
                        "requests, no peers): its figures mean nothing")
    args = p.parse_args()
    if args.quick:
        args.duration = args.latency_duration = 1.0
        args.warmup, args.ttft_n, args.skip_peers = 1.0, 20, True  # wrk takes whole seconds
    if (os.cpu_count() or 1) < 2:
        print("needs 2 cores: the server under test on core 0, the load on core 1")
        return 2
    signal.signal(signal.SIGTERM, _stop_on_term)
    os.sched_setaffinity(0, {LOAD_CPU})  # the TTFT client and the probes share the load core
    try:  # inherited by every process started here: a busy machine's other work yields to ours
        os.setpriority(os.PRIO_PROCESS, 0, args.nice)
    except PermissionError:
        print(f"cannot raise priority to nice {args.nice} (not root): running at normal priority")
    started = time.monotonic()
    results = run(args)
    print()
    print(table(results))
    print()
    text, data = summary(results)
    print(text)
    print(f"\n(total {time.monotonic() - started:.0f} s)")
    if args.json:
        data["machine"] = machine()
        data["settings"] = {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in vars(args).items()}
        args.json.write_text(json.dumps(_no_nan(data), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
