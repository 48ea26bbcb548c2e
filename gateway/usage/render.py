"""Usage rendering: the cost report as a table and the log as lines, for the `gateway` commands."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table

_BY_TITLE = {"key": "api key"}


def usd(value: float | None) -> str:
    """Dollars with as many decimals as small amounts need."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        return f"${value:.6f}"
    if abs(value) < 100:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_costs(report: Mapping[str, Any]) -> Table:
    """The `usage_report` dict as a table: one row per group, then the total."""
    by = str(report.get("by", "model"))
    since = report.get("since")
    title = f"Costs by {_BY_TITLE.get(by, by)} " + (f"since {since}" if since else "(all time)")
    total = report.get("total") or {}
    show_unpriced = bool(total.get("unpriced"))
    table = Table(title=title, show_footer=True, title_justify="left")
    table.add_column(_BY_TITLE.get(by, by), footer="total")
    for name, field, fmt in (
        ("requests", "requests", _num),
        ("errors", "errors", _num),
        ("tokens in", "prompt_tokens", _num),
        ("tokens out", "completion_tokens", _num),
        ("USD", "cost_usd", usd),
        *((("unpriced", "unpriced", _num),) if show_unpriced else ()),
        ("p50 ms", "p50_latency_ms", _ms),
    ):
        table.add_column(name, justify="right", footer=fmt(total.get(field)))
    for group in report.get("groups") or []:
        cells = [
            "-" if group.get("key") is None else str(group["key"]),
            _num(group.get("requests")),
            _num(group.get("errors")),
            _num(group.get("prompt_tokens")),
            _num(group.get("completion_tokens")),
            usd(group.get("cost_usd")),
            *((_num(group.get("unpriced")),) if show_unpriced else ()),
            _ms(group.get("p50_latency_ms")),
        ]
        table.add_row(*cells)
    if not report.get("groups"):
        table.caption = "no requests in the log for this period"
    elif total.get("explored"):
        spent = total.get("cost_usd") or 0.0
        share = f" ({100 * total['explored_cost_usd'] / spent:.1f}% of spend)" if spent else ""
        table.caption = (
            f"exploring: {total['explored']:,} requests sent to auto's second-best choice cost "
            f"{usd(total.get('explored_cost_usd'))}{share}"
        )
    return table


def to_text(renderable: RenderableType, width: int = 120) -> str:
    """Plain text of a rich renderable (no colour), e.g. for tests or piping."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, force_terminal=False).print(renderable)
    return out.getvalue()


def _when(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "-"


def _tokens(row: Mapping[str, Any]) -> str:
    p, c = row.get("prompt_tokens"), row.get("completion_tokens")
    if p is None and c is None:
        return "-"
    return f"{p or 0}+{c or 0}tok"


def render_logs(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line per request, oldest first (as `tail` shows them):
    time, id, model, status, http status, tokens in+out, cost, latency."""
    ordered = sorted(rows, key=lambda r: str(r.get("created_at") or ""))
    lines = []
    for row in ordered:
        status = str(row.get("status") or "-")
        line = "  ".join(
            (
                _when(row.get("created_at")),
                str(row.get("id") or "-"),
                str(row.get("model") or row.get("requested_model") or "-"),
                status,
                str(row.get("http_status") or "-"),
                _tokens(row),
                usd(row.get("cost_usd")),
                f"{_ms(row.get('latency_ms'))}ms",
            )
        )
        if status != "success" and row.get("error"):
            line += f"  {str(row['error']).splitlines()[0][:160]}"
        lines.append(line)
    return "\n".join(lines) + ("\n" if lines else "")
