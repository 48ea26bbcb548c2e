"""Benchmark load: wrk runs (throughput, c=1 latency) and a sequential streaming TTFT client."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp

LUA = Path(__file__).with_name("post.lua")
TTFT_BUDGET_S = 90.0  # the TTFT loop of one target never takes longer than this
# The first delta that carries text (a chat chunk's `content`, a Messages `text_delta`'s `text`);
# proxies re-serialise with or without a space after ':'.
_CONTENT = re.compile(rb'"(?:content|text)":\s*"[^"]')


def ensure_wrk() -> str:
    """The wrk binary, installed from the Debian packages when missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: apt-get install -y wrk", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, timeout=300,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env, timeout=300,
                   stdout=subprocess.DEVNULL)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int  # socket errors + non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def run_wrk(
    wrk: str, url: str, body_file: Path, headers: Mapping[str, str], *,
    connections: int, seconds: float, cpu: int,
) -> WrkResult:
    """One wrk run with one thread pinned to `cpu`, POSTing `body_file` to `url`."""
    env = {**os.environ, "BENCH_BODY_FILE": str(body_file),
           "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items())}
    cmd = ["taskset", "-c", str(cpu), wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s",
           "--timeout", "10s", "-s", str(LUA), url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH_RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out.stdout[-500:]} {out.stderr[-500:]}")
    r = json.loads(line.removeprefix("BENCH_RESULT "))
    return WrkResult(
        requests=r["requests"], seconds=r["duration_us"] / 1e6,
        errors=sum(r["errors"].values()),
        p50_ms=r["p50_us"] / 1000, p90_ms=r["p90_us"] / 1000, p99_ms=r["p99_us"] / 1000,
    )


@dataclass(frozen=True)
class TtftResult:
    n: int
    errors: int
    p50_ms: float
    p99_ms: float
    error: str = ""  # the first failure, as the server said it


async def _ttft_once(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> float:
    """Seconds from sending the request to the first content delta of the SSE stream."""
    t0 = time.perf_counter()
    async with session.post(url, data=body, headers=dict(headers)) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        seen = b""
        first = 0.0
        async for data in resp.content.iter_any():
            if not first:
                seen += data
                if _CONTENT.search(seen):
                    first = time.perf_counter() - t0
        if not first:
            raise RuntimeError(f"no content delta in the stream: {seen[:200]!r}")
        return first  # the rest of the stream was drained so the connection is reused


async def _ttft(
    url: str, body: bytes, headers: Mapping[str, str], n: int, warmup: int
) -> TtftResult:
    times: list[float] = []
    errors, first_error = 0, ""
    conn = aiohttp.TCPConnector(limit=1)
    deadline = time.monotonic() + TTFT_BUDGET_S
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as session:
        for i in range(warmup + n):
            if time.monotonic() > deadline:  # a very slow target: keep what was measured
                first_error = first_error or f"stopped after {TTFT_BUDGET_S:.0f} s"
                break
            try:
                t = await _ttft_once(session, url, body, headers)
            except (TimeoutError, RuntimeError, aiohttp.ClientError) as exc:
                errors += 1
                first_error = first_error or str(exc)
                if errors >= 5 and not times:  # a target that cannot stream: stop early
                    break
                continue
            if i >= warmup:
                times.append(t * 1000)
    if not times:
        return TtftResult(0, errors, float("nan"), float("nan"), first_error)
    q = statistics.quantiles(times, n=100, method="inclusive") if len(times) > 1 else times * 99
    return TtftResult(len(times), errors, statistics.median(times), q[98], first_error)


def measure_ttft(
    url: str, body: bytes, headers: Mapping[str, str], *, n: int, warmup: int = 20
) -> TtftResult:
    """p50/p99 time to first content token over `n` sequential streamed requests."""
    return asyncio.run(_ttft(url, body, headers, n, warmup))
