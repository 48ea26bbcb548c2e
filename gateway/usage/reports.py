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

from sqlalchemy import Date, Select, case, cast, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from gateway.config import DatabaseConfig
from gateway.usage import aggregates
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
        # the total is the groups' sum, not a second count: rows that land between two
        # queries would make it disagree with the groups it heads
        total = _empty()
        total.pop("key")
        for g in groups:
            for k in total:
                total[k] += g[k]
        total["cost_usd"] = _usd(total["cost_usd"])
        total["explored_cost_usd"] = _usd(total["explored_cost_usd"])
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
        self, key: ColumnElement[Any], since: datetime | None
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
        query = select(key.label("key"), *cols).group_by(key)
        if since is not None:
            query = query.where(r.created_at >= since)
        out = []
        for row in await self._rows(query):
            m = row._mapping
            out.append(
                {
                    "key": _iso(m["key"]),
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
        """Median latency per group, ranked in SQL: no latency column leaves the database."""
        found = await self._quantiles(requests.c.latency_ms, key, since, (0.5,))
        return {_iso(k): v[0.5] for k, v in found.items()}

    async def _quantiles(
        self, value: ColumnElement[Any], key: ColumnElement[Any] | None, since: datetime | None,
        qs: Sequence[float],
    ) -> dict[Any, dict[float, float]]:
        return aggregates.interpolate(
            await self._rows(aggregates.quantile_query(value, key, since, qs)), qs)

    # -- the dashboard's aggregates ----------------------------------------------------------

    async def _dialect(self) -> str:
        engine = await self._ready()
        return engine.dialect.name if engine is not None else "sqlite"

    async def series(self, since: datetime, by: str = "model", bucket: str | None = None,
                     now: datetime | None = None) -> dict[str, Any]:
        """Requests, errors and USD per time bucket, one series per group (the ten largest by
        cost or requests, then one "(other)"), plus the totals; every bucket from `since` to now
        is present."""
        if by not in GROUPS or by == "day":
            raise ValueError(f"invalid by {by!r}: use one of model, provider, task, key")
        now = now or datetime.now(UTC)
        b = aggregates.pick_bucket(since, now, bucket)
        names = aggregates.labels(since, now, b)
        key = aggregates.bucket_key(requests.c.created_at, b, await self._dialect())
        rows = await self._rows(aggregates.series_query(await self._group_key(by), key, since))
        return {"since": _iso(since), "by": by, "bucket": b.name, "buckets": names,
                **aggregates.fold_series(rows, names, b)}

    async def latency(self, since: datetime, bucket: str | None = None,
                      now: datetime | None = None) -> dict[str, Any]:
        """p50 / p90 / p99 of latency and of time to first token, over the window and per
        bucket, estimated from histograms counted in SQL (see `aggregates`: within a few %)."""
        now = now or datetime.now(UTC)
        b = aggregates.pick_bucket(since, now, bucket)
        names = aggregates.labels(since, now, b)
        dialect = await self._dialect()
        key = aggregates.bucket_key(requests.c.created_at, b, dialect)
        qs = aggregates.QUANTILES
        out: dict[str, Any] = {"since": _iso(since), "bucket": b.name, "buckets": names,
                               "total": {}}
        for column in ("latency_ms", "ttft_ms"):
            query = aggregates.histogram_query(requests.c[column], key, since, dialect)
            per: dict[str, dict[int, int]] = {}
            total: dict[int, int] = {}
            for k, bin_, n in await self._rows(query):
                one = per.setdefault(aggregates.label(str(k), b), {})
                one[int(bin_)] = one.get(int(bin_), 0) + int(n)
                total[int(bin_)] = total.get(int(bin_), 0) + int(n)
            at = {k: aggregates.histogram_quantiles(v, qs) for k, v in per.items()}
            whole = aggregates.histogram_quantiles(total, qs)
            out["total"][column] = {aggregates.quantile_name(q): whole[q] for q in qs}
            out["total"][column]["count"] = sum(total.values())
            out[column] = {aggregates.quantile_name(q): [at[n][q] if n in at else None
                                                         for n in names] for q in qs}
        return out

    async def routing_matrix(self, since: datetime | None) -> dict[str, Any]:
        """Where `auto` (and its profiles) sent each task: requests, errors, USD per task and model."""
        cells = [
            {"task": task, "model": model, "requests": int(n), "errors": int(errors or 0),
             "cost_usd": _usd(cost)}
            for task, model, n, errors, cost in await self._rows(aggregates.matrix_query(since))
        ]
        by_task: dict[Any, int] = {}
        by_model: dict[Any, int] = {}
        for c in cells:
            by_task[c["task"]] = by_task.get(c["task"], 0) + c["requests"]
            by_model[c["model"]] = by_model.get(c["model"], 0) + c["requests"]
        return {"since": _iso(since), "cells": cells,
                "tasks": sorted(by_task, key=lambda t: (-by_task[t], str(t))),
                "models": sorted(by_model, key=lambda m: (-by_model[m], str(m)))}

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

    async def request_owner(self, request_id: str) -> tuple[str | None] | None:
        """(the key name that made it,) for a logged request id, or None if there is none."""
        query = select(requests.c.api_key).where(requests.c.id == request_id).limit(1)
        rows = await self._rows(query)
        return (rows[0][0],) if rows else None

    async def spend(self, since: datetime, api_key: str | None = None) -> float:
        """USD spent since `since` (by one key's name, if given); unpriced requests count 0."""
        query = select(func.sum(requests.c.cost_usd)).where(requests.c.created_at >= since)
        if api_key is not None:
            query = query.where(requests.c.api_key == api_key)
        rows = await self._rows(query)
        return _usd(rows[0][0] if rows else 0)

    async def outcomes(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """One row per request, oldest first, with its latest feedback (None when it has none)."""
        r = requests.c
        query = _with_feedback(
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
        ).order_by(r.created_at)
        if since is not None:
            query = query.where(r.created_at >= since)
        return await self._dicts(query)

    async def experiment_rows(
        self, since: datetime | None = None, name: str | None = None
    ) -> list[dict[str, Any]]:
        """The requests an A/B experiment took (all, or experiment `name`'s), with the figures
        its report compares and their latest feedback."""
        r = requests.c
        query = _with_feedback(
            r.experiment, r.arm, r.model, r.status, r.cost_usd, r.latency_ms
        ).where(r.experiment.is_not(None))
        if name is not None:
            query = query.where(r.experiment == name)
        if since is not None:
            query = query.where(r.created_at >= since)
        return await self._dicts(query)


def _with_feedback(*columns: ColumnElement[Any]) -> Select[Any]:
    """`columns` of `requests`, each row joined with its latest feedback row (None without)."""
    latest = (
        select(feedback.c.request_id, func.max(feedback.c.id).label("fid"))
        .group_by(feedback.c.request_id)
        .subquery()
    )
    f = feedback.c
    return select(
        *columns, f.outcome, f.score, f.rating, f.created_at.label("feedback_at")
    ).select_from(
        requests.outerjoin(latest, latest.c.request_id == requests.c.id).outerjoin(
            feedback, feedback.c.id == latest.c.fid
        )
    )


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
