"""Request log schema: the tables (SQLAlchemy Core), the async engine, and records -> rows.

The tables here are the truth the code reads and writes; the database gets them through the
migrations in `migrations/` (run by `migrate.py` at start). A change here needs a revision
there (`python -m gateway.usage.migrate new "..."`); a test fails until it has one.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    event,
    make_url,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

from gateway.usage.events import FeedbackRecord, RequestRecord

log = logging.getLogger("gateway.usage")


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (SQLite keeps no zone), always read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


metadata = MetaData()

requests = Table(
    "requests",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("api_key", String(255)),
    Column("requested_model", String(255)),
    Column("model", String(255)),
    Column("provider", String(255)),
    Column("task", String(64)),
    Column("complexity", Integer),
    Column("profile", String(64)),
    Column("stream", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("cost_usd", Float),
    Column("cost_note", Text),
    Column("latency_ms", Float),
    Column("ttft_ms", Float),
    Column("overhead_ms", Float),
    Column("routing_reason", Text),
    # True when auto sent the request to its second-best choice to keep evidence (exploration)
    Column("explored", Boolean, nullable=True),
    Column("usage_json", Text),  # raw upstream usage, cached-token fields kept for repricing
    Column("features_json", Text),  # routing features, for the learner
    Column("endpoint", String(32)),
    Column("experiment", String(255)),
    Column("arm", String(255)),
    Column("tokens_estimated", Boolean),
    Column("resumed", Boolean),
    Column("simulated", Boolean),  # answered by a `simulated` provider (the demo, load tests)
    # Every report reads a time window and groups it: this index covers those queries (the
    # table's wide text columns are never read), so a window is a range scan of one index.
    # A single-column index on a grouped column (model, api_key) is deliberately absent:
    # SQLite's planner prefers it for GROUP BY and then scans the whole table.
    Index("ix_requests_window", "created_at", "model", "provider", "api_key", "task",
          "requested_model", "status", "cost_usd", "latency_ms", "ttft_ms", "prompt_tokens",
          "completion_tokens"),
    Index("ix_requests_key_time", "api_key", "created_at"),  # one key's spend (budgets)
)

attempts = Table(
    "attempts",
    metadata,
    # A surrogate key: a repeated `n` (a dispatch bug) must not cost the request its row.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False),
    Column("n", Integer, nullable=False),
    Column("model", String(255)),
    Column("provider", String(255)),
    Column("status", String(16)),
    Column("http_status", Integer),
    Column("error", Text),
    Column("latency_ms", Float),
    Column("cost_usd", Float),
    Column("started_at", UTCDateTime()),
    Index("ix_attempts_request_id", "request_id"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(128), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("score", Float),
    Column("rating", Integer),
    Index("ix_feedback_request_id", "request_id"),
)

# The Responses API's stored answers, for `previous_response_id` and `GET /v1/responses/{id}`
# (gateway/usage/response_store.py). Not part of the request log: no report reads it.
responses = Table(
    "responses",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("api_key", String(255)),  # the key's name, as in `requests`: whose response it is
    Column("body_json", Text, nullable=False),  # the Response object as the client got it
    Column("input_json", Text, nullable=False),  # every input item of the conversation so far
    Index("ix_responses_created_at", "created_at"),
)

JSON_COLUMNS = {"usage_json": "usage_json", "features_json": "features"}  # column -> field


def _inserted(table: Table) -> tuple[str, ...]:
    """The columns an INSERT fills, in order: all but an autoincrement surrogate id."""
    return tuple(c.name for c in table.columns
                 if not (c.primary_key and c.autoincrement is True and table.name != "requests"))


REQUEST_COLUMNS = _inserted(requests)
ATTEMPT_COLUMNS = _inserted(attempts)
FEEDBACK_COLUMNS = _inserted(feedback)
_CREATED, _STREAM, _ATTEMPTS = (REQUEST_COLUMNS.index(c) for c in ("created_at", "stream", "attempts"))
INSERTED = {"requests": REQUEST_COLUMNS, "attempts": ATTEMPT_COLUMNS, "feedback": FEEDBACK_COLUMNS}
# Text columns a client's input can fill: PostgreSQL refuses a row whose string is longer than
# its VARCHAR or holds a NUL (SQLite takes both), and a refused row is a lost row.
_LIMITS = {c.name: getattr(c.type, "length", None) for c in requests.c
           if isinstance(c.type, String) and c.name not in JSON_COLUMNS}


# -- engine ----------------------------------------------------------------------------------


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, or None (another backend, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def make_engine(url: str, *, busy_timeout_ms: int = 5000, wal: bool = True) -> AsyncEngine:
    """An async engine; for SQLite, every connection gets WAL, synchronous=NORMAL, busy_timeout."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def is_row_error(exc: BaseException) -> bool:
    """The rows are at fault (duplicate id, unstorable value), not the database: no retry helps."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    return isinstance(exc, StatementError) and not isinstance(exc, DBAPIError)


# -- records -> rows ---------------------------------------------------------------------------


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # e.g. an integer beyond 64 bits
        return json.dumps(value, default=str)


def loads(text: str | None) -> Any:
    if not text:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _storable(value: Any, length: int | None) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if length and len(value) > length:
            value = value[:length]
    return value


def insert_statement(table: Table, dialect: Dialect) -> str:
    """An INSERT of `INSERTED[table]`'s columns, compiled once for `dialect`, taking positional
    parameters in that order. Rows must hold database-ready values (naive UTC datetimes), as
    `request_rows` and `feedback_row` make them."""
    columns = INSERTED[table.name]
    compiled = table.insert().values({c: bindparam(c) for c in columns}).compile(dialect=dialect)
    if compiled.positiontup is None or tuple(compiled.positiontup) != columns:
        raise ValueError(f"{dialect.name}: the INSERT must take its parameters in column order")
    return str(compiled)


def _utc(value: datetime | None) -> datetime | None:
    """As `UTCDateTime` binds it: naive UTC."""
    if value is not None and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def request_rows(record: RequestRecord) -> tuple[tuple[Any, ...], list[tuple[Any, ...]]]:
    """The `requests` row of a record and its `attempts` rows, as tuples in insert order.
    This runs on the event loop for every request: a plain dict read and one tuple."""
    fields = vars(record)
    row: list[Any] = []
    for name in REQUEST_COLUMNS:
        if name in JSON_COLUMNS:
            value = dumps(fields.get(JSON_COLUMNS[name]))
        else:
            value = fields.get(name)
            if type(value) is str and name in _LIMITS:
                value = _storable(value, _LIMITS[name])
        row.append(value)
    row[_CREATED] = _utc(record.created_at or datetime.now(UTC))
    row[_STREAM] = bool(record.stream)
    row[_ATTEMPTS] = record.attempts or 0
    return tuple(row), [
        (record.id, a.n, a.model, a.provider, a.status, a.http_status, _storable(a.error, None),
         a.latency_ms, a.cost_usd,
         None if a.started_at is None else _utc(datetime.fromtimestamp(a.started_at, UTC)))
        for a in record.attempt_rows
    ]


def feedback_row(fb: FeedbackRecord) -> tuple[Any, ...]:
    return (fb.request_id, _utc(fb.created_at), fb.outcome, fb.score, fb.rating)
