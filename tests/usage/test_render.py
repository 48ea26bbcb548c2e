"""Rendering the cost report and the log for the `gateway costs` / `gateway logs` commands."""

from __future__ import annotations

from typing import Any

from gateway.usage.render import render_costs, render_logs, to_text, usd

REPORT: dict[str, Any] = {
    "since": "2025-06-14T12:00:00+00:00",
    "by": "model",
    "groups": [
        {"key": "gpt-4o", "requests": 1200, "errors": 3, "prompt_tokens": 1_234_567,
         "completion_tokens": 89_012, "cost_usd": 3.97, "unpriced": 0, "p50_latency_ms": 812.4},
        {"key": None, "requests": 2, "errors": 2, "prompt_tokens": 0, "completion_tokens": 0,
         "cost_usd": 0.0, "unpriced": 2, "p50_latency_ms": None},
    ],
    "total": {"requests": 1202, "errors": 5, "prompt_tokens": 1_234_567,
              "completion_tokens": 89_012, "cost_usd": 3.97, "unpriced": 2,
              "p50_latency_ms": 811.0},
}  # fmt: skip


def test_costs_table_has_a_row_per_group_and_a_total() -> None:
    text = to_text(render_costs(REPORT))
    assert "Costs by model since 2025-06-14T12:00:00+00:00" in text
    lines = text.splitlines()
    gpt = next(line for line in lines if "gpt-4o" in line)
    for cell in ("1,200", "3", "1,234,567", "89,012", "$3.9700", "812"):
        assert cell in gpt
    total = next(line for line in lines if "total" in line)
    for cell in ("1,202", "5", "$3.9700", "811"):
        assert cell in total
    assert "unpriced" in text  # shown because some requests have no price


def test_costs_table_for_an_empty_log_says_so() -> None:
    empty = {"since": None, "by": "day", "groups": [], "total": {"requests": 0, "cost_usd": 0.0}}
    text = to_text(render_costs(empty))
    assert "(all time)" in text and "no requests in the log" in text
    assert "unpriced" not in text


def test_usd_keeps_small_amounts_readable() -> None:
    assert [usd(v) for v in (None, 0, 0.000123, 0.5, 1234.5)] == [
        "-",
        "$0",
        "$0.000123",
        "$0.5000",
        "$1,234.50",
    ]


def test_logs_are_one_line_per_request_oldest_first() -> None:
    rows = [
        {"created_at": "2025-06-15T12:00:01+00:00", "id": "req-2", "model": "gpt-4o",
         "status": "error", "http_status": 502, "prompt_tokens": None, "completion_tokens": None,
         "cost_usd": None, "latency_ms": 30.2, "error": "every candidate failed\ndetails"},
        {"created_at": "2025-06-15T12:00:00+00:00", "id": "req-1", "model": "gpt-4o",
         "status": "success", "http_status": 200, "prompt_tokens": 12, "completion_tokens": 34,
         "cost_usd": 0.00042, "latency_ms": 850.0},
    ]  # fmt: skip
    lines = render_logs(rows).splitlines()
    assert lines == [
        "2025-06-15 12:00:00  req-1  gpt-4o  success  200  12+34tok  $0.000420  850ms",
        "2025-06-15 12:00:01  req-2  gpt-4o  error  502  -  -  30ms  every candidate failed",
    ]
    assert render_logs([]) == ""
