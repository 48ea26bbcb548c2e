"""Usage reports: the request log read back (off the hot path) for costs, logs, budgets, learning.

Every value returned is JSON-ready: datetimes are ISO-8601 UTC strings, the `*_json` columns are
decoded. A database that does not exist yet (no file, no tables) reads as an empty log; the
reader never creates one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, case, cast, func, null, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.config import DatabaseConfig
from gateway.usage.schema import (
    JSON_COLUMNS,
    attempts,
    feedback,
    loads,
    make_engine,
    requests,
    sqlite_file,
)

GROUPS = ("model", "provider", "task", "day", "key")
_SINCE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_EXPECTED_TABLES = {"requests", "attempts", "feedback"}
_TIME_COLUMNS = ("created_at", "feedback_at")
_CHUNK = 1000  # rows converted between two yields to the event loop


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``"90m"``, ``"24h"``, ``"7d"``, ``"2w"`` ago, or an ISO date/time (UTC when naive)."""
    m = _SINCE_RE.match(text)
    if m:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[m.group(2).lower()]: float(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"invalid since {text!r}: use a duration like 90m, 24h, 7d, 2w, "
            "or an ISO date/time like 2025-01-31 or 2025-01-31T12:00:00Z"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def _usd(value: Any) -> float:
    return round(float(value or 0.0), 10)


class LogReader:
    """Queries over the request log. Builds its engine on first use; `aclose()` disposes it."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self._busy_timeout_ms = busy_timeout_ms
        self._engine: AsyncEngine | None = None
        self._has_tables = False

    @classmethod
    def from_config(cls, db: DatabaseConfig) -> LogReader:
        return cls(db.url)

    def __repr__(self) -> str:
        return f"<LogReader {self.url!r}>"

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _ready(self) -> AsyncEngine | None:
        """The engine, or None while the log does not exist yet."""
        path = sqlite_file(self.url)
        if path is not None and not path.is_file():
            return None  # connecting would create an empty file
        if self._engine is None:
            # No WAL pragma here: switching the journal mode needs a write lock.
            self._engine = make_engine(self.url, busy_timeout_ms=self._busy_timeout_ms, wal=False)
        if not self._has_tables:
            async with self._engine.connect() as conn:
                names = await conn.run_sync(lambda c: set(c.dialect.get_table_names(c)))
            self._has_tables = _EXPECTED_TABLES <= names
            if not self._has_tables:
                return None
        return self._engine

    async def _rows(self, query: Select[Any]) -> Sequence[Any]:
        engine = await self._ready()
        if engine is None:
            return []
        async with engine.connect() as conn:
            result = await conn.execute(query)
            return list(result.all())

    async def _dicts(self, query: Select[Any]) -> list[dict[str, Any]]:
        """Rows as JSON-ready dicts, fetched and converted in chunks so that a large read (the
        learner's) lets the event loop serve requests in between."""
        engine = await self._ready()
        if engine is None:
            return []
        out: list[dict[str, Any]] = []
        async with engine.connect() as conn:
            result = await conn.stream(query)
            # Plain str keys (SQLAlchemy's quoted_name is a str subclass JSON encoders refuse).
            keys = [str(k) for k in result.keys()]
            async for chunk in result.partitions(_CHUNK):
                out.extend(_row(dict(zip(keys, r, strict=True))) for r in chunk)
        return out

    # -- the cost report ---------------------------------------------------------------------

    async def usage_report(self, since: datetime | None, by: str) -> dict[str, Any]:
        """Requests, errors, tokens, USD (and unpriced count) and p50 latency per group + total;
        `explored` / `explored_cost_usd` count the requests auto sent to its second-best choice
        to keep learning, and what they cost (the cost of exploring)."""
        if by not in GROUPS:
            raise ValueError(f"invalid by {by!r}: use one of {', '.join(GROUPS)}")
        key = await self._group_key(by)
        groups = await self._aggregate(key, since)
        medians = await self._medians(key, since)
        for g in groups:
            g["p50_latency_ms"] = medians.get(g["key"])
        (total,) = await self._aggregate(None, since) or [_empty()]
        total.pop("key")
        total["p50_latency_ms"] = (await self._medians(None, since)).get(None)
        if by == "day":
            groups.sort(key=lambda g: str(g["key"]))
        else:
            groups.sort(key=lambda g: (-g["cost_usd"], -g["requests"], str(g["key"])))
        return {"since": _iso(since), "by": by, "groups": groups, "total": total}

    async def _group_key(self, by: str) -> ColumnElement[Any]:
        if by == "day":
            engine = await self._ready()
            if engine is not None and engine.dialect.name != "sqlite":
                return cast(requests.c.created_at, Date)
            return func.date(requests.c.created_at)
        column = "api_key" if by == "key" else by
        return requests.c[column]

    async def _aggregate(
        self, key: ColumnElement[Any] | None, since: datetime | None
    ) -> list[dict[str, Any]]:
        r = requests.c
        cols = [
            func.count().label("requests"),
            func.sum(case((r.status != "success", 1), else_=0)).label("errors"),
            func.sum(r.prompt_tokens).label("prompt_tokens"),
            func.sum(r.completion_tokens).label("completion_tokens"),
            func.sum(r.cost_usd).label("cost_usd"),
            func.sum(case((r.cost_usd.is_(None), 1), else_=0)).label("unpriced"),
            func.sum(case((r.explored == true(), 1), else_=0)).label("explored"),
            func.sum(case((r.explored == true(), r.cost_usd), else_=0)).label("explored_usd"),
        ]
        query = select(*([key.label("key")] if key is not None else []), *cols)
        if since is not None:
            query = query.where(r.created_at >= since)
        if key is not None:
            query = query.group_by(key)
        out = []
        for row in await self._rows(query):
            m = row._mapping
            if not m["requests"]:
                continue  # an aggregate over no rows still yields one row
            out.append(
                {
                    "key": _iso(m["key"]) if key is not None else None,
                    "requests": int(m["requests"]),
                    "errors": int(m["errors"] or 0),
                    "prompt_tokens": int(m["prompt_tokens"] or 0),
                    "completion_tokens": int(m["completion_tokens"] or 0),
                    "cost_usd": _usd(m["cost_usd"]),
                    "unpriced": int(m["unpriced"] or 0),
                    "explored": int(m["explored"] or 0),
                    "explored_cost_usd": _usd(m["explored_usd"]),
                }
            )
        return out

    async def _medians(
        self, key: ColumnElement[Any] | None, since: datetime | None
    ) -> dict[Any, float | None]:
        """Median latency per group, in SQL (window functions): no latency column leaves Python."""
        lat = requests.c.latency_ms
        part = [key] if key is not None else None
        ranked = select(
            (key if key is not None else null()).label("k"),
            lat.label("v"),
            func.row_number().over(partition_by=part, order_by=lat).label("rn"),
            func.count().over(partition_by=part).label("n"),
        ).where(lat.is_not(None))
        if since is not None:
            ranked = ranked.where(requests.c.created_at >= since)
        sub = ranked.subquery()
        # The middle row, or the mean of the two middle rows when the count is even.
        query = (
            select(sub.c.k, func.avg(sub.c.v))
            .where(sub.c.rn.in_([(sub.c.n + 1) // 2, (sub.c.n + 2) // 2]))
            .group_by(sub.c.k)
        )
        return {_iso(k): float(v) for k, v in await self._rows(query) if v is not None}

    # -- rows --------------------------------------------------------------------------------

    async def recent(self, limit: int, since: datetime | None = None) -> list[dict[str, Any]]:
        """The newest `limit` requests, newest first, each with its `attempt_rows`."""
        query = select(requests).order_by(requests.c.created_at.desc()).limit(max(0, limit))
        if since is not None:
            query = query.where(requests.c.created_at >= since)
        rows = await self._dicts(query)
        if rows:
            by_id: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in rows}
            tries = select(attempts).where(attempts.c.request_id.in_(list(by_id)))
            for a in await self._rows(tries.order_by(attempts.c.request_id, attempts.c.n)):
                one = {str(k): v for k, v in a._mapping.items()}
                one.pop("id", None)
                by_id[one["request_id"]].append(one)
            for row in rows:
                row["attempt_rows"] = by_id[row["id"]]
        return rows

    async def request_exists(self, request_id: str) -> bool:
        query = select(requests.c.id).where(requests.c.id == request_id).limit(1)
        return bool(await self._rows(query))

    async def spend(self, since: datetime, api_key: str | None = None) -> float:
        """USD spent since `since` (by one key's name, if given); unpriced requests count 0."""
        query = select(func.sum(requests.c.cost_usd)).where(requests.c.created_at >= since)
        if api_key is not None:
            query = query.where(requests.c.api_key == api_key)
        rows = await self._rows(query)
        return _usd(rows[0][0] if rows else 0)

    async def outcomes(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """One row per request, oldest first, with its latest feedback (None when it has none)."""
        latest = (
            select(feedback.c.request_id, func.max(feedback.c.id).label("fid"))
            .group_by(feedback.c.request_id)
            .subquery()
        )
        r, f = requests.c, feedback.c
        query = (
            select(
                r.id,
                r.created_at,
                r.model,
                r.provider,
                r.task,
                r.complexity,
                r.profile,
                r.status,
                r.http_status,
                r.cost_usd,
                r.latency_ms,
                r.prompt_tokens,
                r.completion_tokens,
                r.features_json,
                f.outcome,
                f.score,
                f.rating,
                f.created_at.label("feedback_at"),
            )
            .select_from(
                requests.outerjoin(latest, latest.c.request_id == r.id).outerjoin(
                    feedback, feedback.c.id == latest.c.fid
                )
            )
            .order_by(r.created_at)
        )
        if since is not None:
            query = query.where(r.created_at >= since)
        return await self._dicts(query)


def _row(row: dict[str, Any]) -> dict[str, Any]:
    for column in _TIME_COLUMNS:
        if row.get(column) is not None:
            row[column] = row[column].isoformat()
    for column in JSON_COLUMNS:
        if column in row:
            row[column] = loads(row[column])
    return row


def _empty() -> dict[str, Any]:
    return {
        "key": None,
        "requests": 0,
        "errors": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_usd": 0.0,
        "unpriced": 0,
        "explored": 0,
        "explored_cost_usd": 0.0,
    }
