"""Experiments report as `gateway experiments` prints it: per experiment, one row per figure
and one column per arm (a value over its 95 % interval), then for each arm a column with its
difference from the control and the p-value, starred where significant; the verdict below.

Figures as rows keep the table narrow enough for a terminal with two or three arms, and put
the numbers a reader compares side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

Fmt = Callable[[float], str]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _score(x: float) -> str:
    return f"{x:.2f}"


def _usd(x: float) -> str:
    return "$0" if x == 0 else f"${x:.3g}"


def _ms(x: float) -> str:
    return f"{x:,.0f}"


def _pts(x: float) -> str:
    return f"{100 * x:+.1f} pts"


# (row label, figure key, value format, difference format)
ROWS: tuple[tuple[str, str, Fmt, Fmt], ...] = (
    ("error rate", "error_rate", _pct, _pts),
    ("success (rated)", "success_rate", _pct, _pts),
    ("feedback score", "feedback_score", _score, lambda d: f"{d:+.2f}"),
    ("mean cost", "cost_usd", _usd, lambda d: ("+" if d >= 0 else "-") + _usd(abs(d))),
    ("p50 latency ms", "p50_latency_ms", _ms, lambda d: f"{d:+,.0f} ms"),
)


def cell(figure: Mapping[str, Any] | None, fmt: Fmt) -> str:
    """`2.1%` over `[1.5%-3.0%]`; `-` without data; no second line where there is no interval."""
    if not figure or figure.get("value") is None:
        return "-"
    text = fmt(figure["value"])
    if figure.get("low") is not None and figure.get("high") is not None:
        text += f"\n[{fmt(figure['low'])}-{fmt(figure['high'])}]"
    return text


def p_text(p: float | None) -> str:
    if p is None:
        return "-"
    return "p<0.0001" if p < 1e-4 else f"p={p:.2g}"


def diff_cell(c: Mapping[str, Any] | None, fmt: Fmt) -> Text:
    if c is None or c.get("difference") is None:
        return Text("-")
    text = f"{fmt(c['difference'])}\n{p_text(c.get('p_value'))}"
    return Text(text + " *", style="bold") if c.get("significant") else Text(text)


def _title(exp: Mapping[str, Any]) -> str:
    state = "" if exp.get("enabled") else (
        " (disabled)" if exp.get("configured") else " (no longer configured)")
    match = ", ".join(f"{k}={v}" for k, v in (exp.get("match") or {}).items()) or "all traffic"
    return f"{exp['name']}{state}: {match}, unit {exp.get('unit') or '-'}"


def _table(exp: Mapping[str, Any]) -> Table:
    arms = exp.get("arms") or []
    tests = {(c["arm"], c["metric"]): c for c in exp.get("comparisons") or ()}
    total_weight = sum(a.get("weight") or 0 for a in arms) or 1.0
    table = Table(title=_title(exp), title_justify="left")
    table.add_column("")
    for i, arm in enumerate(arms):
        share = "" if arm.get("weight") is None else f", {100 * arm['weight'] / total_weight:.0f}%"
        role = " (control)" if i == 0 and len(arms) > 1 else ""
        table.add_column(f"{arm['name']}{role}\n{arm.get('model') or '-'}{share}", justify="right")
    control = arms[0]["name"] if arms else ""
    for arm in arms[1:]:
        table.add_column(f"{arm['name']} vs {control}", justify="right")
    table.add_row("requests", *(f"{a.get('requests', 0):,}" for a in arms), *("" for _ in arms[1:]))
    table.add_row("rated", *(f"{a.get('feedback', 0):,}" for a in arms), *("" for _ in arms[1:]))
    for label, key, fmt, dfmt in ROWS:
        table.add_row(label, *(cell(a.get(key), fmt) for a in arms),
                      *(diff_cell(tests.get((a["name"], key)), dfmt) for a in arms[1:]))
    return table


def render_experiments(report: Mapping[str, Any]) -> RenderableType:
    """Every experiment's table with its verdict; a line saying so when there are none."""
    exps = report.get("experiments") or []
    if not exps:
        return Text("No experiments: add `experiments:` to gateway.yaml.")
    parts: list[RenderableType] = []
    for exp in exps:
        parts += [_table(exp), Text(f"verdict: {exp.get('verdict')}", style="bold"), Text("")]
    parts.append(Text(
        f"[low-high]: {100 * report.get('confidence', 0.95):.0f} % interval. * differs from the "
        f"control at p < {report.get('alpha', 0.05)} (Fisher's exact test for rates, Welch's t "
        "for means, Mann-Whitney U for latency; Bonferroni over arms)."
    ))
    if report.get("since"):
        parts.append(Text(f"since {report['since']}"))
    return Group(*parts)
