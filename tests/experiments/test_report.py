"""The experiments report: rows written to a real SQLite log, read back, counted and tested;
`gateway experiments` (table and --json) on the same log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.cli import main
from gateway.config import DatabaseConfig, parse_config
from gateway.experiments.render import render_experiments
from gateway.experiments.report import experiments_report
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.render import to_text
from gateway.usage.reports import LogReader
from gateway.usage.store import SqlSink

NOW = datetime.now(UTC)


def tree(db: Path) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite+aiosqlite:///{db}"},
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"id": "mini", "provider": "p"}, {"id": "haiku", "provider": "p"}],
        "experiments": [
            {"name": "mini-vs-haiku", "match": {"model": "auto", "task": "code"},
             "arms": [{"name": "a", "model": "mini", "weight": 50},
                      {"name": "b", "model": "haiku", "weight": 50}]},
            {"name": "idle", "arms": [{"name": "x", "model": "mini"},
                                      {"name": "y", "model": "haiku"}]},
        ],
    }


def records() -> tuple[list[RequestRecord], list[FeedbackRecord]]:
    """Arm a: 200 requests, 20 errors, ~100 ms, $0.001, feedback mostly good.
    Arm b: 200 requests, 2 errors, ~300 ms, $0.002, feedback mostly bad.
    A removed experiment `old` keeps 3 rows; one row belongs to no experiment."""
    rows, fb = [], []
    for arm, errors, ms, usd, good in (("a", 20, 100.0, 0.001, 45), ("b", 2, 300.0, 0.002, 10)):
        for i in range(200):
            rid = f"{arm}{i}"
            rows.append(RequestRecord(
                id=rid, created_at=NOW - timedelta(minutes=i), model="m", status="error"
                if i < errors else "success", latency_ms=ms + i % 7, experiment="mini-vs-haiku",
                arm=arm, cost_usd=None if i == 199 else usd))
            if i >= 150:  # 50 of each arm rated
                outcome = "success" if i - 150 < good else "failure"
                fb.append(FeedbackRecord(rid, outcome, score=1.0 if outcome == "success" else 0.0))
    fb.append(FeedbackRecord("a150", "failure", score=0.0))  # a later change of mind: latest wins
    rows += [RequestRecord(id=f"old{i}", experiment="old", arm="z", status="success")
             for i in range(3)]
    rows.append(RequestRecord(id="plain", status="success"))
    return rows, fb


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    db = tmp_path / "log.db"
    rows, fb = records()

    async def write() -> None:
        sink = SqlSink(DatabaseConfig(url=f"sqlite+aiosqlite:///{db}"))
        await sink.start()
        for r in rows:
            sink.put(r)
        await sink.close()
        sink = SqlSink(DatabaseConfig(url=f"sqlite+aiosqlite:///{db}"))
        await sink.start()
        for f in fb:  # after the requests: the latest feedback row must win
            sink.put_feedback(f)
        await sink.close()

    asyncio.run(write())
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(tree(db)))
    return path


def report(path: Path) -> dict[str, Any]:
    config = parse_config(yaml.safe_load(path.read_text()), env={})

    async def run() -> dict[str, Any]:
        reader = LogReader.from_config(config.database)
        try:
            return await experiments_report(reader, config.experiments)
        finally:
            await reader.aclose()

    return asyncio.run(run())


def test_counts_intervals_and_verdict(config_path: Path) -> None:
    rep = report(config_path)
    names = [e["name"] for e in rep["experiments"]]
    assert names == ["mini-vs-haiku", "idle", "old"]
    exp = rep["experiments"][0]
    a, b = exp["arms"]
    assert (a["name"], a["model"], a["requests"], a["errors"], a["feedback"]) == ("a", "mini", 200,
                                                                                  20, 50)
    assert (b["requests"], b["errors"], b["feedback"]) == (200, 2, 50)
    assert a["error_rate"]["value"] == 0.1
    assert a["error_rate"]["low"] < 0.1 < a["error_rate"]["high"]
    assert a["success_rate"]["value"] == pytest.approx(44 / 50)  # a150 was re-rated a failure
    assert b["success_rate"]["value"] == pytest.approx(10 / 50)
    assert a["feedback_score"]["value"] == pytest.approx(44 / 50)
    assert a["cost_usd"]["value"] == pytest.approx(0.001)  # the unpriced row is left out
    assert 100 <= a["p50_latency_ms"]["value"] <= 106  # successes only
    assert a["p50_latency_ms"]["low"] <= a["p50_latency_ms"]["value"] <= a["p50_latency_ms"]["high"]
    significant = {c["metric"] for c in exp["comparisons"] if c["significant"]}
    assert significant == {"error_rate", "success_rate", "feedback_score", "cost_usd",
                           "p50_latency_ms"}
    err = next(c for c in exp["comparisons"] if c["metric"] == "error_rate")
    assert (err["arm"], err["vs"], err["test"]) == ("b", "a", "fisher_exact")
    assert err["difference"] == pytest.approx(-0.09)
    assert "b has lower error rate than a" in exp["verdict"]


def test_experiments_without_traffic_and_removed_ones(config_path: Path) -> None:
    rep = report(config_path)
    idle, old = rep["experiments"][1], rep["experiments"][2]
    assert [a["requests"] for a in idle["arms"]] == [0, 0]
    assert idle["arms"][0]["error_rate"] == {"value": None, "low": None, "high": None}
    assert idle["verdict"].startswith("not enough traffic")
    assert not old["configured"] and old["arms"][0]["requests"] == 3
    assert old["comparisons"] == []


def test_no_significant_difference_between_equal_arms(tmp_path: Path) -> None:
    db = tmp_path / "log.db"

    async def write() -> None:
        sink = SqlSink(DatabaseConfig(url=f"sqlite+aiosqlite:///{db}"))
        await sink.start()
        for i in range(400):
            sink.put(RequestRecord(id=f"r{i}", experiment="mini-vs-haiku", arm="ab"[i % 2],
                                   status="error" if i % 20 < 2 else "success",
                                   latency_ms=100.0 + (i * 37) % 50, cost_usd=0.001))
        await sink.close()

    asyncio.run(write())
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(tree(db)))
    exp = report(path)["experiments"][0]
    assert not any(c["significant"] for c in exp["comparisons"])
    assert exp["verdict"] == "no significant difference between arms yet (400 requests)"


def test_the_command_prints_a_table_and_json(config_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiments", "--config", str(config_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == json.loads(json.dumps(report(config_path)))
    text = to_text(render_experiments(data), width=140)
    assert "mini-vs-haiku: model=auto, task=code, unit user" in text
    assert "a (control)" in text and "haiku, 50%" in text and "b vs a" in text
    assert "[6.6%-14.9%]" in text  # arm a's error rate, Wilson
    assert "-9.0 pts" in text and "p<0.0001 *" in text
    assert "verdict: b has lower error rate than a (p<0.0001)" in text
    assert "old (no longer configured)" in text
    assert main(["experiments", "--config", str(config_path)]) == 0
    assert "verdict" in capsys.readouterr().out


def test_an_empty_or_missing_log_reports_configured_experiments(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]
                                                                ) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(tree(tmp_path / "none.db")))
    assert main(["experiments", "--config", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in data["experiments"]] == ["mini-vs-haiku", "idle"]
    assert not (tmp_path / "none.db").exists()  # reading never creates the log
    assert "No experiments" in to_text(render_experiments({"experiments": []}))
