"""The batched writer against real SQLite files: batching, bounds, outages, shutdown, schema."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from gateway.config import DatabaseConfig
from gateway.errors import AttemptInfo
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.sink import Sink
from gateway.usage.store import SqlSink

FAST = {"backoff_s": (0.01, 0.05), "warn_every_s": 0.0}


def db(path: Path, **kw: float) -> DatabaseConfig:
    return DatabaseConfig(url=f"sqlite+aiosqlite:///{path}", **kw)


def rec(i: int, **kw: object) -> RequestRecord:
    return RequestRecord(id=f"req-{i}", model="m", status="success", **kw)  # type: ignore[arg-type]


def count(path: Path, table: str = "requests") -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def ids(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM requests ORDER BY id")]


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_sql_sink_is_a_sink(tmp_path: Path) -> None:
    assert isinstance(SqlSink(db(tmp_path / "x.db")), Sink)


def test_a_full_batch_is_written_at_once_a_partial_one_waits(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=50, flush_interval_s=30))
        await sink.start()
        for i in range(49):
            sink.put(rec(i))
        await asyncio.sleep(0.2)
        assert (sink.written, sink.pending) == (0, 49)  # not full: waits for the 30 s interval
        sink.put(rec(49))
        await until(lambda: sink.written == 50)  # full: written without waiting
        for i in range(50, 55):
            sink.put(rec(i))
        await asyncio.sleep(0.2)
        assert (sink.written, sink.pending, sink.batches) == (50, 5, 1)
        await sink.close()
        assert (sink.written, sink.pending, sink.batches) == (55, 0, 2)

    run(main)
    assert count(path) == 55


def test_a_backlog_is_written_in_batches_of_batch_size(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=50, flush_interval_s=30))
        await sink.start()
        for i in range(120):
            sink.put(rec(i))
        await until(lambda: sink.written == 120)
        assert sink.batches == 3  # 50 + 50 + 20, one transaction each
        await sink.close()

    run(main)
    assert count(path) == 120


def test_partial_batch_is_flushed_after_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=1000, flush_interval_s=0.05))
        await sink.start()
        for i in range(7):
            sink.put(rec(i))
        assert sink.pending == 7
        await until(lambda: sink.written == 7, within_s=2)
        assert sink.batches == 1
        assert count(path) == 7  # visible to another connection before close (WAL, committed)
        await sink.close()

    run(main)


def test_one_row_per_put_under_200_concurrent_puts(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def one(sink: SqlSink, i: int) -> None:
        await asyncio.sleep(0.001 * (i % 7))
        attempt = AttemptInfo(1, "m", "p", "success", 200, None, 12.5)
        sink.put(rec(i, attempts=1, attempt_rows=[attempt]))

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=16, flush_interval_s=0.01))
        await sink.start()
        await asyncio.gather(*(one(sink, i) for i in range(200)))
        await sink.close()
        assert (sink.written, sink.dropped) == (200, 0)

    run(main)
    assert ids(path) == sorted(f"req-{i}" for i in range(200))
    assert count(path, "attempts") == 200


def test_close_flushes_everything_still_buffered(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=10_000, flush_interval_s=60))
        await sink.start()
        for i in range(500):
            sink.put(rec(i))
        sink.put_feedback(FeedbackRecord("req-3", "success", score=1.0, rating=5))
        await asyncio.sleep(0.05)
        assert sink.written == 0
        await sink.close()
        assert sink.pending == 0

    run(main)
    assert count(path) == 500
    assert count(path, "feedback") == 1


def test_rows_put_before_start_are_written(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path))
        sink.put(rec(1))
        await sink.start()
        await sink.close()

    run(main)
    assert ids(path) == ["req-1"]


def test_unwritable_path_keeps_rows_and_writes_them_once_it_is_fixed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A regular file where the database's directory should be: mkdir fails (even for root).
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    path = blocker / "sub" / "log.db"
    caplog.set_level(logging.WARNING, logger="gateway.usage")

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=5, flush_interval_s=0.01), **FAST)  # type: ignore[arg-type]
        await sink.start()  # does not raise
        for i in range(30):
            sink.put(rec(i))  # does not raise
        await asyncio.sleep(0.3)
        assert (sink.written, sink.pending, sink.dropped) == (0, 30, 0)
        assert "cannot write to" in caplog.text and "keeping" in caplog.text
        blocker.unlink()  # the directory can now be created
        await until(lambda: sink.written == 30)
        await sink.close()

    run(main)
    assert ids(path) == sorted(f"req-{i}" for i in range(30))
    assert "writable again" in caplog.text


def test_locked_database_delays_rows_without_blocking_the_loop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log.db"
    caplog.set_level(logging.WARNING, logger="gateway.usage")

    async def main() -> None:
        sink = SqlSink(
            db(path, batch_size=5, flush_interval_s=0.01),
            busy_timeout_ms=600,
            **FAST,  # type: ignore[arg-type]
        )
        await sink.start()
        locker = sqlite3.connect(path, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        lag = 0.0
        for i in range(20):
            sink.put(rec(i))
        end = time.monotonic() + 1.5
        while time.monotonic() < end:  # the loop keeps ticking while the writer waits
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            lag = max(lag, time.perf_counter() - t - 0.005)
        assert sink.written == 0 and sink.pending == 20
        assert "database is locked" in caplog.text
        # a writer on the loop would block it for the whole 600 ms busy wait
        assert lag < 0.3, f"event loop blocked for {lag * 1000:.0f} ms"
        locker.execute("COMMIT")
        locker.close()
        await until(lambda: sink.written == 20)
        await sink.close()

    run(main)
    assert count(path) == 20


def test_buffer_bound_drops_the_oldest_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "log.db"
    caplog.set_level(logging.WARNING, logger="gateway.usage")

    async def main() -> None:
        sink = SqlSink(db(path, buffer_max=10, batch_size=100))
        for i in range(25):
            sink.put(rec(i))
        assert (sink.pending, sink.dropped) == (10, 15)
        await sink.start()
        await sink.close()

    run(main)
    assert ids(path) == sorted(f"req-{i}" for i in range(15, 25))
    assert "dropped the 15 oldest rows" in caplog.text


def test_close_gives_up_after_its_time_limit_and_logs_the_loss(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")

    async def main() -> None:
        sink = SqlSink(db(blocker / "log.db", flush_interval_s=0.01), **FAST)  # type: ignore[arg-type]
        await sink.start()
        for i in range(3):
            sink.put(rec(i))
        t = time.monotonic()
        await sink.close(timeout_s=0.3)
        assert time.monotonic() - t < 2
        assert (sink.pending, sink.dropped) == (0, 3)
        sink.put(rec(99))  # after close: counted, never raised
        assert sink.dropped == 4

    run(main)
    assert "3 rows could not be written" in caplog.text


def test_a_bad_row_is_dropped_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "log.db"

    async def main() -> None:
        sink = SqlSink(db(path, batch_size=100))
        await sink.start()
        sink.put(rec(1))
        await sink.flush()
        sink.put(rec(2))
        sink.put(rec(1))  # duplicate id
        sink.put(rec(3, attempt_rows=["not an attempt"]))  # malformed
        sink.put(rec(4))
        await sink.close()
        assert (sink.written, sink.dropped) == (3, 2)

    run(main)
    assert ids(path) == ["req-1", "req-2", "req-4"]
    assert "row req-1 rejected" in caplog.text and "row req-3 rejected" in caplog.text


def test_schema_matches_the_contract(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "log.db"  # parent directories are created

    async def main() -> None:
        sink = SqlSink(db(path))
        await sink.start()
        when = datetime(2025, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
        sink.put(
            rec(
                1,
                created_at=when,
                stream=True,
                usage_json={"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}},
                features={"len": 12, "task": "code"},
                attempt_rows=[
                    AttemptInfo(1, "a", "pa", "error", 503, "boom", 5.0),
                    AttemptInfo(2, "m", "pm", "success", 200, None, 7.0),
                ],
            )
        )
        await sink.close()

    run(main)
    with sqlite3.connect(path) as conn:
        cols = {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES}
        indexes = [
            tuple(i[2] for i in conn.execute(f"PRAGMA index_info({name})"))
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='requests'")
        ]
        row = conn.execute(
            "SELECT created_at, stream, usage_json, features_json FROM requests"
        ).fetchone()
        attempt = conn.execute("SELECT n, model, http_status, error FROM attempts").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    for table, wanted in TABLES.items():
        assert set(wanted) <= set(cols[table]), table
    assert {"cost_note", "overhead_ms", "usage_json", "features_json"} <= set(cols["requests"])
    leading = {cols[0] for cols in indexes if cols}
    assert {"created_at", "api_key"} <= leading
    # A time window is one index range: the covering index has what the reports read.
    window = next(c for c in indexes if c and c[0] == "created_at")
    assert {"model", "api_key", "task", "status", "cost_usd", "latency_ms"} <= set(window)
    # No single-column index on a grouped column: SQLite would pick it for GROUP BY and scan.
    assert ("model",) not in indexes and ("api_key",) not in indexes
    assert row[0].startswith("2025-03-01 12:00:00")  # stored in UTC
    assert row[1] == 1
    assert '"cached_tokens":1' in row[2] and '"task":"code"' in row[3]
    assert attempt == [(1, "a", 503, "boom"), (2, "m", 200, None)]
    assert mode == "wal"


def test_columns_added_since_an_older_schema_are_created(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE requests (id VARCHAR(128) PRIMARY KEY, created_at DATETIME NOT NULL,"
            " status VARCHAR(16) NOT NULL, stream BOOLEAN NOT NULL, attempts INTEGER NOT NULL)"
        )

    async def main() -> None:
        sink = SqlSink(db(path))
        await sink.start()
        sink.put(rec(1, cost_usd=0.5, features={"a": 1}))
        await sink.close()
        assert sink.written == 1

    run(main)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT model, cost_usd FROM requests").fetchone() == ("m", 0.5)


def test_created_at_defaults_to_now_in_utc(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    before = datetime.now(UTC).replace(tzinfo=None)

    async def main() -> None:
        sink = SqlSink(db(path))
        await sink.start()
        sink.put(rec(1))
        await sink.close()

    run(main)
    with sqlite3.connect(path) as conn:
        stored = datetime.fromisoformat(
            conn.execute("SELECT created_at FROM requests").fetchone()[0]
        )
    assert before <= stored <= datetime.now(UTC).replace(tzinfo=None)


def test_sustains_2000_rows_per_second(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    n = 6000

    async def main() -> None:
        sink = SqlSink(db(path))  # the default batch size and interval
        await sink.start()
        t = time.perf_counter()
        for i in range(n):
            sink.put(rec(i, prompt_tokens=10, completion_tokens=5, cost_usd=0.001, features={}))
            if i % 100 == 99:
                await asyncio.sleep(0)  # requests arrive over time, not in one burst
        await until(lambda: sink.written == n, within_s=30)
        rate = n / (time.perf_counter() - t)
        await sink.close()
        assert rate >= 2000, f"{rate:.0f} rows/s"

    run(main)
    assert count(path) == n


TABLES = {
    "requests": [
        "id", "created_at", "api_key", "requested_model", "model", "provider", "task",
        "complexity", "profile", "stream", "status", "http_status", "error", "attempts",
        "prompt_tokens", "completion_tokens", "cost_usd", "latency_ms", "ttft_ms",
        "routing_reason",
    ],
    "attempts": ["request_id", "n", "model", "provider", "status", "http_status", "error",
                 "latency_ms"],
    "feedback": ["request_id", "created_at", "outcome", "score", "rating"],
}  # fmt: skip
