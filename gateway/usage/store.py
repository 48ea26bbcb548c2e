"""Request log storage: the SQL schema, the engine, and the batched background writer (`SqlSink`).

The request path only calls `SqlSink.put()`, which appends to a bounded deque and returns. A
background task drains the deque in batches (one transaction, one executemany per table) every
`flush_interval_s`, or sooner when a batch is full. When the database is down, locked or not
writable, the writer keeps the rows, logs a warning and retries with backoff; when the buffer
bound is hit, the oldest rows go first, and the writer says how many. `close()` flushes what is
left, within a time limit, so rows still in memory at shutdown reach the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.config import DatabaseConfig
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.migrate import upgrade
from gateway.usage.schema import (
    attempts,
    feedback,
    feedback_row,
    insert_statement,
    is_row_error,
    make_engine,
    request_rows,
    requests,
)

log = logging.getLogger("gateway.usage")

Item = RequestRecord | FeedbackRecord


class SqlSink:
    """The request log's SQL implementation of `Sink`: buffer in memory, write in batches.

    `put`/`put_feedback` must be called from the event loop's thread. `dropped` counts rows lost
    (buffer bound hit, rejected by the database, or unwritten at shutdown), `written` rows
    stored, `pending` rows waiting in memory, `batches` transactions committed.
    """

    def __init__(
        self,
        db: DatabaseConfig,
        *,
        busy_timeout_ms: int = 5000,
        close_timeout_s: float = 10.0,
        backoff_s: tuple[float, float] = (0.1, 5.0),
        warn_every_s: float = 30.0,
    ) -> None:
        self.db = db
        self.dropped = 0
        self.written = 0
        self.batches = 0  # transactions committed, to see the batching at work
        self._busy_timeout_ms = busy_timeout_ms
        self._close_timeout_s = close_timeout_s
        self._backoff = backoff_s
        self._warn_every_s = warn_every_s
        self._buf: deque[Item] = deque()
        self._inflight = 0
        self._unreported_drops = 0
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._engine: AsyncEngine | None = None
        self._ready = False
        self._closed = False
        self._failing_since: float | None = None
        self._statements: dict[str, str] = {}
        self._last_warning = 0.0

    def __repr__(self) -> str:
        return f"<SqlSink {self.db.url!r} pending={self.pending} dropped={self.dropped}>"

    @property
    def pending(self) -> int:
        return len(self._buf) + self._inflight

    # -- the hot path: O(1), never raises, never awaits ------------------------------------------

    def put(self, record: RequestRecord) -> None:
        self._push(record)

    def put_feedback(self, fb: FeedbackRecord) -> None:
        self._push(fb)

    def _push(self, item: Item) -> None:
        if self._closed:
            self.dropped += 1
            log.error("request log is closed: row for %s not recorded", _item_id(item))
            return
        if len(self._buf) >= self.db.buffer_max:
            self._buf.popleft()
            self.dropped += 1
            self._unreported_drops += 1
        self._buf.append(item)
        if len(self._buf) >= self.db.batch_size:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the engine, create or upgrade the tables if it can, and start the writer task.

        An unusable URL (unknown dialect, driver not installed) raises: that is a configuration
        error. An unreachable or unwritable database only logs: the writer keeps retrying.
        """
        if self._task is not None:
            return
        try:
            self._engine = make_engine(self.db.url, busy_timeout_ms=self._busy_timeout_ms)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise ValueError(f"database.url: cannot use {self.db.url!r}: {exc}") from exc
        try:
            await upgrade(self._engine, self.db.url)
            self._ready = True
        except (SQLAlchemyError, OSError) as exc:
            self._warn(exc)
        self._task = asyncio.create_task(self._run(), name="gateway.usage.writer")

    async def flush(self) -> bool:
        """Write everything buffered now; True when nothing is left pending."""
        return await self._drain() and not self._buf

    async def close(self, timeout_s: float | None = None) -> None:
        """Stop the writer and flush what remains, giving up after `timeout_s` (logged)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        limit = self._close_timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + limit
        try:
            async with asyncio.timeout(limit):
                if self._task is not None:
                    await self._task
                await self._final_flush(deadline)
        except TimeoutError:
            pass
        self._task = None
        if self.pending:
            self.dropped += self.pending
            log.error(
                "request log: %d rows could not be written within %.1fs at shutdown; lost",
                self.pending,
                limit,
            )
            self._buf.clear()
            self._inflight = 0
        self._report_drops()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _final_flush(self, deadline: float) -> None:
        delay = self._backoff[0]
        while self.pending and self._engine is not None:
            if await self._drain():
                return
            await asyncio.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 2, self._backoff[1])

    # -- the writer ------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._backoff[0]
        while not self._stop.is_set():
            if len(self._buf) < self.db.batch_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.db.flush_interval_s):
                        await self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                ok = await self._drain()
            except Exception:  # a bug here must not kill the writer: rows would pile up
                log.exception("request log writer failed; retrying")
                ok = False
            if ok:
                delay = self._backoff[0]
                continue
            with contextlib.suppress(TimeoutError):  # back off; close() cuts the wait short
                async with asyncio.timeout(delay):
                    await self._stop.wait()
            delay = min(delay * 2, self._backoff[1])

    async def _drain(self) -> bool:
        """Write the buffer in batches; False (rows kept) when the database failed."""
        self._report_drops()
        while self._buf:
            n = min(self.db.batch_size, len(self._buf))
            batch = [self._buf.popleft() for _ in range(n)]
            self._inflight += n
            try:
                await self._write(batch)
            except asyncio.CancelledError:
                self._requeue(batch)
                raise
            except Exception as exc:  # locked, unwritable, unreachable: keep the rows, retry
                self._requeue(batch)
                self._warn(exc)
                return False
            finally:
                self._inflight -= n
        if self._failing_since is not None:
            log.warning("request log: database writable again; pending rows written")
            self._failing_since = None
        return True

    def _requeue(self, batch: Sequence[Item]) -> None:
        """Put a failed batch back in front; if the buffer filled meanwhile, it is the oldest."""
        for item in reversed(batch):
            if len(self._buf) >= self.db.buffer_max:
                self.dropped += 1
                self._unreported_drops += 1
            else:
                self._buf.appendleft(item)

    async def _write(self, batch: list[Item]) -> None:
        """Store `batch`, emptying it as rows are stored (what is left is retried)."""
        assert self._engine is not None
        if not self._ready:
            await upgrade(self._engine, self.db.url)
            self._ready = True
        try:
            await self._insert(batch)
            self.written += len(batch)
            batch.clear()
            return
        except SQLAlchemyError as exc:
            if not is_row_error(exc):
                raise
        # A bad row (duplicate id, unstorable value) would fail the batch forever: store the
        # others one by one and drop only the culprits.
        while batch:
            try:
                await self._insert(batch[:1])
                self.written += 1
            except SQLAlchemyError as exc:
                if not is_row_error(exc):
                    raise
                self._reject(batch[0], exc)
            del batch[0]

    async def _insert(self, batch: list[Item]) -> None:
        """One transaction, one executemany per table. Malformed records leave `batch` first."""
        assert self._engine is not None
        reqs: list[tuple[Any, ...]] = []
        atts: list[tuple[Any, ...]] = []
        fbs: list[tuple[Any, ...]] = []
        good: list[Item] = []
        for item in batch:
            try:
                if isinstance(item, RequestRecord):
                    row, rows = request_rows(item)
                    reqs.append(row)
                    atts.extend(rows)
                else:
                    fbs.append(feedback_row(item))
                good.append(item)
            except Exception as exc:  # a malformed record: drop it, not the batch
                self._reject(item, exc)
        batch[:] = good
        async with self._engine.begin() as conn:
            for table, rows in ((requests, reqs), (attempts, atts), (feedback, fbs)):
                if rows:
                    # The statement SQLAlchemy compiled once, run with plain tuples: its
                    # per-row parameter processing would cost ~10 us a request at full load.
                    await conn.exec_driver_sql(self._statement(table), rows)
        self.batches += 1

    def _statement(self, table: Table) -> str:
        """`table`'s INSERT compiled for this database."""
        found = self._statements.get(table.name)
        if found is None:
            assert self._engine is not None
            found = self._statements[table.name] = insert_statement(table, self._engine.dialect)
        return found

    def _reject(self, item: Item, exc: BaseException) -> None:
        self.dropped += 1
        log.warning("request log: row %s rejected: %s", _item_id(item), _short(exc))

    # -- logging ---------------------------------------------------------------------------------

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        elif now - self._last_warning < self._warn_every_s:
            return
        self._last_warning = now
        log.warning(
            "request log: cannot write to %s (%s); keeping %d rows in memory and retrying",
            self.db.url,
            _short(exc),
            self.pending,
        )

    def _report_drops(self) -> None:
        if self._unreported_drops:
            log.warning(
                "request log buffer full (%d rows): dropped the %d oldest rows",
                self.db.buffer_max,
                self._unreported_drops,
            )
            self._unreported_drops = 0


def _item_id(item: Item) -> str:
    return item.id if isinstance(item, RequestRecord) else f"feedback:{item.request_id}"


def _short(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return f"{type(exc).__name__}: {text}"
