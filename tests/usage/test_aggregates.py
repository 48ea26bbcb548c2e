"""The dashboard's aggregates, computed in SQL: time buckets, exact percentiles, the routing matrix."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from gateway.usage.aggregates import (
    BUCKETS,
    OTHER,
    TOP_SERIES,
    bin_bounds,
    histogram_quantiles,
    labels,
    pick_bucket,
)
from gateway.usage.events import RequestRecord
from gateway.usage.reports import LogReader
from tests.usage.test_reports import with_log

NOW = datetime(2025, 6, 15, 12, 0, 30, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)


def R(i: int, minutes_ago: float, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"model": "a", "provider": "p", "task": "code", "status": "success",
                            "requested_model": "a"}
    return RequestRecord(id=f"r{i}", created_at=NOW - timedelta(minutes=minutes_ago),
                         **{**base, **kw})


def test_pick_bucket_and_labels() -> None:
    assert pick_bucket(NOW - timedelta(minutes=15), NOW).name == "10s"
    assert pick_bucket(NOW - timedelta(hours=1), NOW).name == "1m"
    assert pick_bucket(NOW - timedelta(hours=24), NOW).name == "10m"
    assert pick_bucket(NOW - timedelta(days=7), NOW).name == "1h"
    assert pick_bucket(NOW - timedelta(days=30), NOW).name == "1d"
    assert pick_bucket(SINCE, NOW, "1h").name == "1h"
    with pytest.raises(ValueError, match="invalid bucket"):
        pick_bucket(SINCE, NOW, "5m")
    ten = next(b for b in BUCKETS if b.name == "10m")
    assert labels(NOW - timedelta(minutes=25), NOW, ten) == [
        "2025-06-15T11:30:00Z", "2025-06-15T11:40:00Z", "2025-06-15T11:50:00Z",
        "2025-06-15T12:00:00Z"]


def test_series_align_buckets_and_add_up_to_the_cost_report(log_url: str) -> None:
    rows = [
        R(1, 0.1, cost_usd=0.25, api_key="k1"),  # 12:00
        R(2, 0.2, cost_usd=0.5, status="error", api_key="k2"),  # 12:00
        R(3, 5.2, model="b", cost_usd=1.0, api_key="k1"),  # 11:55
        R(4, 59.9, model="b", cost_usd=None),  # 11:00 (the first bucket)
        R(5, 90, cost_usd=9.0),  # before the window
    ]

    async def check(reader: LogReader) -> None:
        s = await reader.series(SINCE, "model", now=NOW)
        assert s["bucket"] == "1m" and len(s["buckets"]) == 61
        assert s["buckets"][0] == "2025-06-15T11:00:00Z" and s["buckets"][-1] == "2025-06-15T12:00:00Z"
        by = {x["key"]: x for x in s["series"]}
        assert [x["key"] for x in s["series"]] == ["b", "a"]  # largest first
        assert by["a"]["requests"][-1] == 2 and by["a"]["errors"][-1] == 1
        assert by["a"]["cost_usd"][-1] == 0.75
        assert by["b"]["cost_usd"][-6] == 1.0 and by["b"]["requests"][0] == 1
        report = await reader.usage_report(SINCE, "model")
        assert sum(s["total"]["requests"]) == report["total"]["requests"] == 4
        assert sum(s["total"]["cost_usd"]) == pytest.approx(report["total"]["cost_usd"])
        for g in report["groups"]:
            assert sum(by[g["key"]]["cost_usd"]) == pytest.approx(g["cost_usd"])
            assert by[g["key"]]["sum"]["cost_usd"] == pytest.approx(g["cost_usd"])
            assert by[g["key"]]["sum"]["errors"] == g["errors"]
        assert s["total"]["sum"]["requests"] == 4
        keys = await reader.series(SINCE, "key", now=NOW)
        assert {x["key"] for x in keys["series"]} == {"k1", "k2", None}
        with pytest.raises(ValueError, match="invalid by"):
            await reader.series(SINCE, "day", now=NOW)

    with_log(log_url, rows, check)


def test_many_groups_fold_into_other(log_url: str) -> None:
    rows = [R(i, 1, model=f"m{i:02d}", cost_usd=float(i)) for i in range(TOP_SERIES + 3)]

    async def check(reader: LogReader) -> None:
        s = await reader.series(SINCE, "model", now=NOW)
        keys = [x["key"] for x in s["series"]]
        assert len(keys) == TOP_SERIES + 1 and keys[-1] == OTHER
        assert sum(s["series"][-1]["cost_usd"]) == 0.0 + 1.0 + 2.0  # the three cheapest
        assert sum(s["series"][-1]["requests"]) == 3

    with_log(log_url, rows, check)


def test_histogram_bins_have_two_significant_digits() -> None:
    assert bin_bounds(0) == (0.0, 0.1) and bin_bounds(99) == pytest.approx((9.9, 0.1))
    assert bin_bounds(110) == (10.0, 1.0) and bin_bounds(299) == (990.0, 10.0)
    assert bin_bounds(310) == (1000.0, 100.0) and bin_bounds(512) == (120_000.0, 10_000.0)
    # four values in [10, 11) and one in [20, 21): spread evenly inside their bins
    q = histogram_quantiles({110: 4, 120: 1}, (0.0, 0.5, 1.0))
    assert q == {0.0: pytest.approx(10.125), 0.5: pytest.approx(10.625), 1.0: pytest.approx(20.5)}
    # the median of two far-apart values is between them, as numpy's is
    assert histogram_quantiles({110: 1, 290: 1}, (0.5,))[0.5] == pytest.approx((10.5 + 905) / 2)
    assert histogram_quantiles({}, (0.5,)) == {0.5: None}


def test_percentiles_are_close_to_exact(log_url: str) -> None:
    rnd = random.Random(3)
    latencies = [rnd.lognormvariate(5, 1) for _ in range(301)]
    rows = [R(i, i % 50 + 0.5, latency_ms=v, ttft_ms=v / 3 if i % 2 else None)
            for i, v in enumerate(latencies)]
    rows.append(R(999, 3, latency_ms=None))

    async def check(reader: LogReader) -> None:
        lat = await reader.latency(SINCE, now=NOW)
        total = lat["total"]["latency_ms"]
        for name, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            assert total[name] == pytest.approx(np.percentile(latencies, q), rel=0.03)
        assert total["count"] == 301
        ttfts = [v / 3 for i, v in enumerate(latencies) if i % 2]
        assert lat["total"]["ttft_ms"]["p90"] == pytest.approx(np.percentile(ttfts, 90), rel=0.03)
        report = await reader.usage_report(SINCE, "model")  # exact: ranked in SQL
        assert report["total"]["p50_latency_ms"] == pytest.approx(np.percentile(latencies, 50))
        assert total["p50"] == pytest.approx(report["total"]["p50_latency_ms"], rel=0.03)
        # Per bucket: the minute 12:59:30 - i%50 - 0.5 holds every 50th row.
        i = lat["buckets"].index("2025-06-15T11:59:00Z")
        in_bucket = [v for j, v in enumerate(latencies) if j % 50 == 1]
        assert lat["latency_ms"]["p50"][i] == pytest.approx(np.percentile(in_bucket, 50), rel=0.05)
        assert lat["latency_ms"]["p99"][0] is None  # a bucket with no request

    with_log(log_url, rows, check)


def test_routing_matrix_counts_what_auto_decided(log_url: str) -> None:
    rows = [
        R(1, 1, requested_model="auto", task="code", model="a", cost_usd=0.1),
        R(2, 1, requested_model="auto:cheap", task="code", model="a", cost_usd=0.2),
        R(3, 1, requested_model="auto", task="math", model="b", status="error"),
        R(4, 1, requested_model="a", task="code", model="a", cost_usd=5.0),  # explicit: not counted
    ]

    async def check(reader: LogReader) -> None:
        m = await reader.routing_matrix(SINCE)
        cells = {(c["task"], c["model"]): c for c in m["cells"]}
        assert cells[("code", "a")]["requests"] == 2
        assert cells[("code", "a")]["cost_usd"] == pytest.approx(0.3)
        assert cells[("math", "b")]["errors"] == 1 and len(cells) == 2
        assert m["tasks"] == ["code", "math"] and m["models"] == ["a", "b"]

    with_log(log_url, rows, check)


def test_an_empty_log_reads_as_empty_series(log_url: str) -> None:
    async def check(reader: LogReader) -> None:
        s = await reader.series(SINCE, "model", now=NOW)
        assert s["series"] == [] and set(s["total"]["requests"]) == {0}
        lat = await reader.latency(SINCE, now=NOW)
        assert lat["total"]["latency_ms"] == {"p50": None, "p90": None, "p99": None, "count": 0}
        assert (await reader.routing_matrix(SINCE))["cells"] == []

    with_log(log_url, [], check)
