"""Reading the request log back: the cost report's arithmetic, recent rows, spend, outcomes;
on SQLite and on a real PostgreSQL (`log_url`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.config import DatabaseConfig
from gateway.errors import AttemptInfo
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.reports import LogReader, parse_since
from gateway.usage.store import SqlSink

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def R(i: int, days_ago: float = 0, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"model": "a", "provider": "p1", "task": "code", "status": "success"}
    return RequestRecord(id=f"r{i}", created_at=NOW - timedelta(days=days_ago), **{**base, **kw})


# model a: 3 requests (1 error), costs 0.1 + 0.2 + null, latencies 10, 30, 20 -> p50 20
# model b: 2 requests, costs 0.3 + 0.000000123, latencies 100, 200 -> p50 150 (even: mean)
ROWS = [
    R(1, 0, prompt_tokens=100, completion_tokens=10, cost_usd=0.1, latency_ms=10, api_key="k1"),
    R(2, 1, prompt_tokens=200, completion_tokens=20, cost_usd=0.2, latency_ms=30, api_key="k1"),
    R(3, 2, status="error", http_status=502, error="boom", latency_ms=20, api_key="k2"),
    R(4, 0.1, model="b", provider="p2", task="chat", prompt_tokens=1, completion_tokens=2,
      cost_usd=0.3, latency_ms=100, api_key="k2"),
    R(5, 10, model="b", provider="p2", task="chat", prompt_tokens=7, completion_tokens=0,
      cost_usd=0.000000123, latency_ms=200),
]  # fmt: skip


def with_log(
    url: str,
    records: list[RequestRecord],
    check: Callable[[LogReader], Coroutine[Any, Any, None]],
    fb: list[FeedbackRecord] = [],  # noqa: B006 (read-only)
) -> None:
    async def main() -> None:
        sink = SqlSink(DatabaseConfig(url=url))
        await sink.start()
        for r in records:
            sink.put(r)
        for f in fb:
            sink.put_feedback(f)
        await sink.close()
        reader = LogReader(url)
        try:
            await check(reader)
        finally:
            await reader.aclose()

    asyncio.run(main())


def test_report_by_model_sums_exactly(log_url: str) -> None:
    async def check(reader: LogReader) -> None:
        report = await reader.usage_report(None, "model")
        assert report["since"] is None and report["by"] == "model"
        assert report["groups"] == [
            {"key": "b", "requests": 2, "errors": 0, "prompt_tokens": 8,
             "completion_tokens": 2, "cost_usd": 0.300000123, "unpriced": 0,
             "explored": 0, "explored_cost_usd": 0.0, "p50_latency_ms": 150.0},
            {"key": "a", "requests": 3, "errors": 1, "prompt_tokens": 300,
             "completion_tokens": 30, "cost_usd": 0.3, "unpriced": 1,
             "explored": 0, "explored_cost_usd": 0.0, "p50_latency_ms": 20.0},
        ]  # fmt: skip
        assert report["total"] == {
            "requests": 5, "errors": 1, "prompt_tokens": 308, "completion_tokens": 32,
            "cost_usd": 0.600000123, "unpriced": 1, "explored": 0, "explored_cost_usd": 0.0,
            "p50_latency_ms": 30.0,
        }  # fmt: skip

    with_log(log_url, ROWS, check)


def test_report_counts_the_cost_of_exploring(log_url: str) -> None:
    rows = [
        R(1, cost_usd=0.5, explored=False),
        R(2, cost_usd=0.25, explored=True),
        R(3, model="b", cost_usd=0.125, explored=True),
        R(4, model="b", cost_usd=1.0),  # logged before the column existed: NULL
    ]

    async def check(reader: LogReader) -> None:
        report = await reader.usage_report(None, "model")
        assert (report["total"]["explored"], report["total"]["explored_cost_usd"]) == (2, 0.375)
        by = {g["key"]: (g["explored"], g["explored_cost_usd"]) for g in report["groups"]}
        assert by == {"a": (1, 0.25), "b": (1, 0.125)}
        from gateway.usage.render import render_costs, to_text

        text = to_text(render_costs(report))
        assert "exploring: 2 requests" in text and "$0.375" in text and "20.0% of spend" in text

    with_log(log_url, rows, check)


def test_report_since_and_other_groupings(log_url: str) -> None:
    async def check(reader: LogReader) -> None:
        since = NOW - timedelta(days=1, hours=1)
        by_task = await reader.usage_report(since, "task")
        assert by_task["since"] == since.isoformat()
        assert [(g["key"], g["requests"], g["cost_usd"]) for g in by_task["groups"]] == [
            ("code", 2, 0.3),
            ("chat", 1, 0.3),
        ]
        assert by_task["total"]["requests"] == 3
        by_day = await reader.usage_report(None, "day")
        assert [(g["key"], g["requests"]) for g in by_day["groups"]] == [
            ("2025-06-05", 1),
            ("2025-06-13", 1),
            ("2025-06-14", 1),
            ("2025-06-15", 2),
        ]
        by_key = await reader.usage_report(None, "key")
        assert {g["key"]: g["requests"] for g in by_key["groups"]} == {"k1": 2, "k2": 2, None: 1}
        by_provider = await reader.usage_report(None, "provider")
        assert {g["key"]: g["errors"] for g in by_provider["groups"]} == {"p1": 1, "p2": 0}
        with pytest.raises(ValueError, match="use one of model, provider, task, day, key"):
            await reader.usage_report(None, "colour")

    with_log(log_url, ROWS, check)


def test_an_empty_window_reports_zero(log_url: str) -> None:
    async def check(reader: LogReader) -> None:
        report = await reader.usage_report(NOW + timedelta(days=1), "model")
        assert report["groups"] == []
        assert report["total"]["requests"] == 0 and report["total"]["p50_latency_ms"] is None

    with_log(log_url, ROWS, check)


def test_a_missing_database_reads_as_empty_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here.db"

    async def main() -> None:
        reader = LogReader.from_config(DatabaseConfig(url=f"sqlite+aiosqlite:///{path}"))
        report = await reader.usage_report(None, "day")
        assert report["groups"] == [] and report["total"]["requests"] == 0
        assert await reader.recent(10, None) == []
        assert await reader.request_owner("r1") is None
        assert await reader.spend(NOW) == 0.0
        assert await reader.outcomes(None) == []
        await reader.aclose()

    asyncio.run(main())
    assert not path.exists()


def test_a_database_without_tables_reads_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.write_bytes(b"")

    async def main() -> None:
        reader = LogReader(f"sqlite+aiosqlite:///{path}")
        assert (await reader.usage_report(None, "model"))["total"]["requests"] == 0
        await reader.aclose()

    asyncio.run(main())


def test_recent_is_newest_first_with_attempts(log_url: str) -> None:
    tries = [
        AttemptInfo(1, "x", "px", "error", 429, "rate limited", 3.0),
        AttemptInfo(2, "a", "p1", "success", 200, None, 9.0),
    ]
    records = [*ROWS, R(6, 0.5, attempts=2, attempt_rows=tries, features={"chars": 5})]

    async def check(reader: LogReader) -> None:
        rows = await reader.recent(3, None)
        assert [r["id"] for r in rows] == ["r1", "r4", "r6"]
        assert rows[2]["created_at"] == (NOW - timedelta(days=0.5)).isoformat()
        assert rows[2]["features_json"] == {"chars": 5}
        assert [(a["n"], a["model"], a["http_status"]) for a in rows[2]["attempt_rows"]] == [
            (1, "x", 429),
            (2, "a", 200),
        ]
        # JSON-ready, with plain str keys (orjson refuses str subclasses as keys).
        assert orjson.loads(orjson.dumps(rows)) == rows
        old = await reader.recent(100, NOW - timedelta(days=1, hours=1))
        assert {r["id"] for r in old} == {"r1", "r2", "r4", "r6"}

    with_log(log_url, records, check)


def test_exists_and_spend(log_url: str) -> None:
    async def check(reader: LogReader) -> None:
        assert await reader.request_owner("r3") is not None
        assert await reader.request_owner("nope") is None
        assert await reader.spend(NOW - timedelta(days=30)) == 0.600000123
        assert await reader.spend(NOW - timedelta(days=1, hours=1)) == 0.6
        assert await reader.spend(NOW - timedelta(days=30), api_key="k1") == 0.3
        assert await reader.spend(NOW - timedelta(days=30), api_key="nobody") == 0.0

    with_log(log_url, ROWS, check)


def test_outcomes_join_the_latest_feedback(log_url: str) -> None:
    fb = [
        FeedbackRecord("r1", "failure", score=0.0, created_at=NOW),
        FeedbackRecord("r1", "success", score=0.9, rating=5, created_at=NOW),  # the latest wins
        FeedbackRecord("r4", "partial", rating=3, created_at=NOW),
    ]
    records = [*ROWS[:4], R(7, 3, features={"task": "code", "chars": 42})]

    async def check(reader: LogReader) -> None:
        rows = await reader.outcomes(None)
        assert [r["id"] for r in rows] == ["r7", "r3", "r2", "r4", "r1"]  # oldest first
        by_id = {r["id"]: r for r in rows}
        assert (by_id["r1"]["outcome"], by_id["r1"]["score"], by_id["r1"]["rating"]) == (
            "success",
            0.9,
            5,
        )
        assert (by_id["r4"]["outcome"], by_id["r4"]["rating"]) == ("partial", 3)
        assert by_id["r2"]["outcome"] is None
        assert by_id["r7"]["features_json"] == {"task": "code", "chars": 42}
        assert by_id["r3"]["status"] == "error" and by_id["r3"]["model"] == "a"
        assert orjson.loads(orjson.dumps(rows)) == rows
        recent = await reader.outcomes(NOW - timedelta(hours=3))
        assert {r["id"] for r in recent} == {"r1", "r4"}

    with_log(log_url, records, check, fb)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("30d", NOW - timedelta(days=30)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 1.5H ", NOW - timedelta(hours=1.5)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T08:30:00", datetime(2025, 1, 31, 8, 30, tzinfo=UTC)),
        ("2025-01-31T08:30:00Z", datetime(2025, 1, 31, 8, 30, tzinfo=UTC)),
        ("2025-01-31T10:30:00+02:00", datetime(2025, 1, 31, 8, 30, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime) -> None:
    got = parse_since(text, now=NOW)
    assert got == expected and got.tzinfo is not None
    assert got.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "7 days", "-3d", "2025-13-01"])
def test_parse_since_rejects_nonsense_clearly(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid since .*use a duration like 90m, 24h, 7d"):
        parse_since(text)


def test_what_postgresql_would_refuse_is_stored_trimmed(log_url: str) -> None:
    long_name = "x" * 1000  # a client may ask for any model name; the row must not be lost
    records = [R(8, requested_model=long_name, error="bad\x00byte", attempt_rows=[
        AttemptInfo(1, "a", "p1", "error", 500, "upstream said \x00", 1.0)])]

    async def check(reader: LogReader) -> None:
        (row,) = await reader.recent(1)
        assert row["requested_model"] == "x" * 255
        assert row["error"] == "bad\ufffdbyte"
        assert row["attempt_rows"][0]["error"] == "upstream said \ufffd"

    with_log(log_url, records, check)
