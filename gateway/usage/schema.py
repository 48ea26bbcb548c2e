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
_PLAIN = tuple(c.name for c in requests.c if c.name not in JSON_COLUMNS)
# Text columns a client's input can fill: PostgreSQL refuses a row whose string is longer than
# its VARCHAR or holds a NUL (SQLite takes both), and a refused row is a lost row.
_TEXTS = tuple((c.name, getattr(c.type, "length", None)) for c in requests.c
               if isinstance(c.type, String) and c.name not in JSON_COLUMNS)


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


def request_rows(record: RequestRecord) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `requests` row of a record and its `attempts` rows."""
    fields = vars(record)  # a plain dict read: this runs on the event loop for every row
    row = {name: fields.get(name) for name in _PLAIN}
    for column, field in JSON_COLUMNS.items():
        row[column] = dumps(fields.get(field))
    for name, length in _TEXTS:
        row[name] = _storable(row[name], length)
    row["stream"] = bool(row["stream"])
    row["attempts"] = row["attempts"] or 0
    if row["created_at"] is None:
        row["created_at"] = datetime.now(UTC)
    return row, [
        {
            "request_id": record.id,
            "n": a.n,
            "model": a.model,
            "provider": a.provider,
            "status": a.status,
            "http_status": a.http_status,
            "error": _storable(a.error, None),
            "latency_ms": a.latency_ms,
            "cost_usd": a.cost_usd,
            "started_at": None if a.started_at is None else datetime.fromtimestamp(a.started_at, UTC),
        }
        for a in record.attempt_rows
    ]


def feedback_row(fb: FeedbackRecord) -> dict[str, Any]:
    return {
        "request_id": fb.request_id,
        "created_at": fb.created_at,
        "outcome": fb.outcome,
        "score": fb.score,
        "rating": fb.rating,
    }
