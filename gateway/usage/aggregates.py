"""Usage reports, the SQL behind them: time buckets, percentiles, the task x model matrix.

`LogReader` (reports.py) runs these; they only build queries and shape rows. Everything is
aggregated in the database, so a report over a million rows returns a few hundred.

Time buckets are prefixes of the ISO timestamp ("2025-06-15 12:3" is the ten minutes from
12:30), which SQLite answers with `substr` on its stored text and PostgreSQL with `to_char`:
no date arithmetic that differs between them, and bucket edges on the wall clock.

Percentiles come two ways. Exact (`quantile_query`, for the cost report's p50): rows are
ranked in SQL (window functions) and only the rows around each wanted rank leave the
database, interpolated as numpy's default (linear) method does, so p50 is the median; ranking
sorts the window, which costs seconds over a million rows. Estimated (`histogram_query`, for
the dashboard's latency over time): one GROUP BY counts values into bins of two significant
digits (9.9-10 ms, 10-11 ms, ..., 990-1000 ms, 1000-1100 ms: at most 10 % wide, mostly 1-5 %),
and the percentile is interpolated inside its bin; a scan, not a sort, so ten times cheaper.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Select, case, cast, func, null, or_, select
from sqlalchemy.sql.elements import ColumnElement

from gateway.usage.schema import requests

QUANTILES = (0.5, 0.9, 0.99)
MAX_POINTS = 200  # the finest bucket that keeps a series at most this long is chosen
TOP_SERIES = 10  # beyond the ten largest (by cost or by requests), series sum into "(other)"
OTHER = "(other)"
_ISO = "0000-00-00 00:00:00"


@dataclass(frozen=True)
class Bucket:
    name: str
    seconds: int
    prefix: int  # characters of "YYYY-MM-DD HH:MM:SS" that name a bucket


BUCKETS = (Bucket("10s", 10, 18), Bucket("1m", 60, 16), Bucket("10m", 600, 15),
           Bucket("1h", 3600, 13), Bucket("1d", 86400, 10))
BUCKET_NAMES = tuple(b.name for b in BUCKETS)


def pick_bucket(since: datetime, now: datetime, name: str | None = None) -> Bucket:
    """The named bucket, else the finest that spans `since`..`now` in MAX_POINTS or fewer."""
    if name is not None:
        for b in BUCKETS:
            if b.name == name:
                return b
        raise ValueError(f"invalid bucket {name!r}: use one of {', '.join(BUCKET_NAMES)}")
    span = max((now - since).total_seconds(), 1.0)
    return next((b for b in BUCKETS if span / b.seconds <= MAX_POINTS), BUCKETS[-1])


def bucket_key(created_at: ColumnElement[Any], bucket: Bucket, dialect: str) -> ColumnElement[Any]:
    """The bucket a row falls in, as the prefix of its ISO timestamp."""
    text = created_at if dialect == "sqlite" else func.to_char(created_at, "YYYY-MM-DD HH24:MI:SS")
    return func.substr(text, 1, bucket.prefix)


def label(prefix: str, bucket: Bucket) -> str:
    """A bucket's key as an ISO-8601 UTC timestamp of its start."""
    full = prefix[: bucket.prefix] + _ISO[bucket.prefix:]
    return full.replace(" ", "T") + "Z"


def labels(since: datetime, now: datetime, bucket: Bucket, cap: int = 5 * MAX_POINTS) -> list[str]:
    """Every bucket from `since` to `now`, oldest first, so a quiet bucket reads as zero."""
    since, now = since.astimezone(UTC), now.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    start = epoch + timedelta(seconds=(int((since - epoch).total_seconds()) // bucket.seconds)
                              * bucket.seconds)
    out: list[str] = []
    t = start
    while t <= now and len(out) < cap:
        out.append(label(t.strftime("%Y-%m-%d %H:%M:%S"), bucket))
        t += timedelta(seconds=bucket.seconds)
    return out


# -- percentiles -------------------------------------------------------------------------------


def quantile_query(value: ColumnElement[Any], key: ColumnElement[Any] | None,
                   since: datetime | None, qs: Sequence[float]) -> Select[Any]:
    """(k, n, rn, v): for each group `k` of `n` values, the rows ranked around each quantile."""
    part = [key] if key is not None else None
    ranked = select(
        (key if key is not None else null()).label("k"),
        value.label("v"),
        func.row_number().over(partition_by=part, order_by=value).label("rn"),
        func.count().over(partition_by=part).label("n"),
    ).where(value.is_not(None))
    if since is not None:
        ranked = ranked.where(requests.c.created_at >= since)
    sub = ranked.subquery()
    wanted = []
    for q in qs:
        low = ((sub.c.n - 1) * _permille(q)) // 1000 + 1  # the rank at or below the quantile
        wanted += [sub.c.rn == low, sub.c.rn == low + 1]
    return select(sub.c.k, sub.c.n, sub.c.rn, sub.c.v).where(or_(*wanted))


def interpolate(rows: Iterable[Any], qs: Sequence[float]) -> dict[Any, dict[float, float]]:
    """quantile_query's rows -> {group: {q: value}}, linear between neighbouring ranks."""
    by_key: dict[Any, tuple[int, dict[int, float]]] = {}
    for k, n, rn, v in rows:
        by_key.setdefault(k, (int(n), {}))[1][int(rn)] = float(v)
    out: dict[Any, dict[float, float]] = {}
    for k, (n, ranked) in by_key.items():
        out[k] = {}
        for q in qs:
            low, frac = divmod((n - 1) * _permille(q), 1000)
            lo = ranked[low + 1]
            hi = ranked.get(low + 2, lo)
            out[k][q] = lo + (hi - lo) * frac / 1000
    return out


def _permille(q: float) -> int:
    return round(q * 1000)


def quantile_name(q: float) -> str:
    return f"p{q * 100:g}"


def histogram_query(value: ColumnElement[Any], bucket: ColumnElement[Any], since: datetime,
                    dialect: str) -> Select[Any]:
    """(bucket, bin, count) of a column's values in the window; see `bin_bounds`."""
    def floor(x: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(x, Integer) if dialect == "sqlite" else func.floor(x)  # SQLite truncates

    binned = case(
        (value < 10, floor(value * 10)), (value < 100, 100 + floor(value)),
        (value < 1000, 200 + floor(value / 10)), (value < 10_000, 300 + floor(value / 100)),
        (value < 100_000, 400 + floor(value / 1000)), else_=500 + floor(value / 10_000))
    return (select(bucket.label("b"), binned.label("bin"), func.count().label("n"))
            .where(requests.c.created_at >= since, value.is_not(None))
            .group_by(bucket, binned))


def bin_bounds(b: int) -> tuple[float, float]:
    """A histogram bin's [low, width): two significant digits of the value."""
    decade, i = (5, b - 500) if b >= 500 else divmod(b, 100)
    width = 10.0 ** (decade - 1)
    return i * width, width


def histogram_quantiles(counts: dict[int, int], qs: Sequence[float]) -> dict[float, float | None]:
    """Quantiles of binned values: each bin's values stand evenly spread inside it, and the
    quantile interpolates between the two ranks around it, as numpy's linear method does."""
    n = sum(counts.values())
    if not n:
        return {q: None for q in qs}
    bins = sorted(counts)

    def nth(j: int) -> float:  # the j-th smallest value (1-based), as the bins place it
        seen = 0
        for b in bins:
            if j <= seen + counts[b]:
                low, width = bin_bounds(b)
                return low + width * (j - seen - 0.5) / counts[b]
            seen += counts[b]
        raise AssertionError("rank past the count")

    out: dict[float, float | None] = {}
    for q in qs:
        low, frac = divmod((n - 1) * q, 1)
        lo = nth(int(low) + 1)
        out[q] = lo + (nth(int(low) + 2) - lo) * frac if frac else lo
    return out


# -- series ------------------------------------------------------------------------------------


def series_query(group: ColumnElement[Any], bucket: ColumnElement[Any],
                 since: datetime) -> Select[Any]:
    r = requests.c
    return (
        select(bucket.label("b"), group.label("k"), func.count().label("requests"),
               func.sum(case((r.status != "success", 1), else_=0)).label("errors"),
               func.sum(r.cost_usd).label("cost_usd"))
        .where(r.created_at >= since)
        .group_by(bucket, group)
    )


def fold_series(rows: Iterable[Any], names: list[str], bucket: Bucket) -> dict[str, Any]:
    """(bucket, key, requests, errors, cost) rows -> one aligned series per key, plus totals;
    each with its `sum` over the window."""
    index = {n: i for i, n in enumerate(names)}
    per: dict[Any, dict[str, Any]] = {}
    total: dict[str, Any] = _zeros(len(names))
    for b, k, n, errors, cost in rows:
        i = index.get(label(str(b), bucket))
        if i is None:
            continue  # written after `now` was read
        s = per.setdefault(k, _zeros(len(names)))
        for name, v in (("requests", n), ("errors", errors), ("cost_usd", cost)):
            s[name][i] += float(v or 0)
            total[name][i] += float(v or 0)
    # The largest by cost or by requests: a free local model carrying most traffic stays.
    cost, n = sum(total["cost_usd"]) or 1.0, sum(total["requests"]) or 1.0
    ranked = sorted(per.items(), key=lambda kv: (
        -max(sum(kv[1]["cost_usd"]) / cost, sum(kv[1]["requests"]) / n),
        -sum(kv[1]["cost_usd"]), str(kv[0])))
    series = [{"key": k, **v} for k, v in ranked[:TOP_SERIES]]
    if len(ranked) > TOP_SERIES:
        rest = _zeros(len(names))
        for _, v in ranked[TOP_SERIES:]:
            for name in rest:
                rest[name] = [a + b for a, b in zip(rest[name], v[name], strict=True)]
        series.append({"key": OTHER, **rest})
    for s in [*series, total]:
        s["requests"] = [int(x) for x in s["requests"]]
        s["errors"] = [int(x) for x in s["errors"]]
        s["cost_usd"] = [round(x, 10) for x in s["cost_usd"]]
        s["sum"] = {"requests": sum(s["requests"]), "errors": sum(s["errors"]),
                    "cost_usd": round(sum(s["cost_usd"]), 10)}
    return {"series": series, "total": total}


def _zeros(n: int) -> dict[str, list[float]]:
    return {"requests": [0.0] * n, "errors": [0.0] * n, "cost_usd": [0.0] * n}


# -- where `auto` sent each task -----------------------------------------------------------------


def matrix_query(since: datetime | None) -> Select[Any]:
    """Per (task, model): requests, errors and USD of the requests the router decided."""
    r = requests.c
    query = (
        select(r.task, r.model, func.count().label("requests"),
               func.sum(case((r.status != "success", 1), else_=0)).label("errors"),
               func.sum(r.cost_usd).label("cost_usd"))
        .where(r.requested_model.like("auto%"))
        .group_by(r.task, r.model)
    )
    return query.where(r.created_at >= since) if since is not None else query
