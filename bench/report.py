"""Benchmark report: the per-target table, the gateway's ratios to direct and peers, the targets."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

# The targets, checked on every run (gateway with routing and logging on).
# The targets (the relay is `--passthrough`: Starlette + aiohttp and nothing else, the floor
# for this stack): req/s as a share of the relay's, latency over the relay's, peers, memory.
MIN_X_RELAY_EXPLICIT = 0.70
MIN_X_RELAY_AUTO = 0.60
MAX_OVER_RELAY_MS = 0.5
MIN_X_PORTKEY = 2.0
MIN_X_LITELLM = 10.0
MAX_IDLE_RSS_MB = 80.0
# The Messages door's own cost over the chat door's (issue 9): added p50 and TTFT overhead.
MAX_MESSAGES_OVER_CHAT_MS = 0.3


@dataclass
class Figures:
    """What one target measured; NaN where it could not be measured (see `notes`)."""

    p50_ms: float = math.nan  # non-streaming latency at concurrency 1
    p99_ms: float = math.nan
    rps: float = math.nan  # requests/s at concurrency 64
    c64_p50_ms: float = math.nan
    c64_p99_ms: float = math.nan
    errors: int = 0  # failed requests in the wrk runs
    ttft_p50_ms: float = math.nan  # streaming: time to the first content delta
    ttft_p99_ms: float = math.nan
    cpu_ms_per_req: float = math.nan  # server process tree, during the c=64 run
    idle_rss_mb: float = math.nan
    peak_rss_mb: float = math.nan
    notes: list[str] = field(default_factory=list)
    rps_rounds: list[float] = field(default_factory=list)  # with --rounds: each round's req/s


def median_of(rounds: list[dict[str, Figures]]) -> dict[str, Figures]:
    """One Figures per target: the median of each figure over the rounds that measured it."""
    if len(rounds) == 1:
        return rounds[0]
    out: dict[str, Figures] = {}
    for name in rounds[0]:
        runs = [r[name] for r in rounds if name in r]
        fig = Figures(errors=sum(f.errors for f in runs), rps_rounds=[f.rps for f in runs])
        for key in ("p50_ms", "p99_ms", "rps", "c64_p50_ms", "c64_p99_ms", "ttft_p50_ms",
                    "ttft_p99_ms", "cpu_ms_per_req", "idle_rss_mb", "peak_rss_mb"):
            values = [getattr(f, key) for f in runs if not math.isnan(getattr(f, key))]
            setattr(fig, key, statistics.median(values) if values else math.nan)
        for i, f in enumerate(runs, 1):
            fig.notes.extend(f"round {i}: {n}" for n in f.notes)
        out[name] = fig
    return out


def _f(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def table(results: dict[str, Figures]) -> str:
    head = (f"{'target':<17}{'p50 c=1':>9}{'p99 c=1':>9}{'req/s c=64':>12}{'p99 c=64':>10}"
            f"{'TTFT p50':>10}{'CPU ms/req':>12}{'idle MB':>9}{'peak MB':>9}{'errors':>8}")
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        lines.append(
            f"{name:<17}{_f(r.p50_ms, 3):>9}{_f(r.p99_ms, 3):>9}{_f(r.rps, 0):>12}"
            f"{_f(r.c64_p99_ms, 1):>10}{_f(r.ttft_p50_ms, 3):>10}{_f(r.cpu_ms_per_req, 3):>12}"
            f"{_f(r.idle_rss_mb, 1):>9}{_f(r.peak_rss_mb, 1):>9}{r.errors:>8}"
        )
    lines.append("(latencies in ms; CPU and RSS are the server under test's whole process tree; "
                 "for 'direct' they are the fake upstream's)")
    for name, r in results.items():
        if len(r.rps_rounds) > 1 and not all(math.isnan(x) for x in r.rps_rounds):
            each = ", ".join(_f(x, 0) for x in r.rps_rounds)
            lines.append(f"note {name}: req/s at c=64 per round: {each} (the table: medians)")
        lines.extend(f"note {name}: {n}" for n in r.notes)
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


def comparisons(results: dict[str, Figures]) -> dict[str, dict[str, float]]:
    """Per proxy: added p50 and TTFT over direct, req/s as a multiple of each other target."""
    direct = results.get("direct", Figures())
    out: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        if name == "direct":
            continue
        row = {
            "added_p50_ms": r.p50_ms - direct.p50_ms,
            "added_p99_ms": r.p99_ms - direct.p99_ms,
            "ttft_overhead_ms": r.ttft_p50_ms - direct.ttft_p50_ms,
        }
        for other, o in results.items():
            if other != name:
                row[f"rps_x_{other}"] = _ratio(r.rps, o.rps)
        out[name] = row
    return out


def verdicts(results: dict[str, Figures], cmp: dict[str, dict[str, float]],
             ) -> dict[str, dict[str, Any]]:
    """The issue's targets for each gateway target: value, limit, met (None: not measured)."""
    out: dict[str, dict[str, Any]] = {}
    for name in ("gateway", "gateway-auto"):
        if name not in results:
            continue
        r, c = results[name], cmp[name]
        relay = results.get("passthrough")
        floor = MIN_X_RELAY_AUTO if name == "gateway-auto" else MIN_X_RELAY_EXPLICIT
        checks = {
            "rps_x_passthrough": (c.get("rps_x_passthrough", math.nan), ">=", floor),
            "added_p50_over_relay_ms": (r.p50_ms - relay.p50_ms if relay else math.nan, "<=",
                                        MAX_OVER_RELAY_MS),
            "ttft_over_relay_ms": (r.ttft_p50_ms - relay.ttft_p50_ms if relay else math.nan,
                                   "<=", MAX_OVER_RELAY_MS),
            "rps_x_portkey": (c.get("rps_x_portkey", math.nan), ">=", MIN_X_PORTKEY),
            "rps_x_litellm": (c.get("rps_x_litellm", math.nan), ">=", MIN_X_LITELLM),
            "idle_rss_mb": (r.idle_rss_mb, "<=", MAX_IDLE_RSS_MB),
        }
        out[name] = _checked(checks)
    if "gateway-messages" in results and "gateway" in results:
        m, chat = results["gateway-messages"], results["gateway"]
        out["gateway-messages"] = _checked({
            "p50_over_chat_ms": (m.p50_ms - chat.p50_ms, "<=", MAX_MESSAGES_OVER_CHAT_MS),
            "ttft_over_chat_ms": (m.ttft_p50_ms - chat.ttft_p50_ms, "<=",
                                  MAX_MESSAGES_OVER_CHAT_MS),
        })
    return out


def _checked(checks: dict[str, tuple[float, str, float]]) -> dict[str, dict[str, Any]]:
    return {k: {"value": v, "limit": lim,
                "met": None if math.isnan(v) else (v >= lim if op == ">=" else v <= lim)}
            for k, (v, op, lim) in checks.items()}


def summary(results: dict[str, Figures]) -> tuple[str, dict[str, Any]]:
    """The text printed after the table, and the same figures for --json."""
    cmp = comparisons(results)
    ver = verdicts(results, cmp)
    lines = []
    for name, row in cmp.items():
        xs = ", ".join(f"{k.removeprefix('rps_x_')} {_f(v)}x" for k, v in row.items()
                       if k.startswith("rps_x_"))
        lines.append(f"{name:<17} added p50 {_f(row['added_p50_ms'], 3)} ms, "
                     f"p99 {_f(row['added_p99_ms'], 3)} ms; TTFT overhead "
                     f"{_f(row['ttft_overhead_ms'], 3)} ms; req/s vs {xs}")
    for name, checks in ver.items():
        parts = []
        for k, c in checks.items():
            mark = {True: "ok", False: "MISSED", None: "n/a"}[c["met"]]
            parts.append(f"{k} {_f(c['value'])} (limit {c['limit']:g}) {mark}")
        lines.append(f"targets {name}: " + "; ".join(parts))
    data = {"targets": {k: asdict(v) for k, v in results.items()},
            "comparisons": cmp, "verdicts": ver}
    return "\n".join(lines), data
