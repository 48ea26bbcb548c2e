"""`gateway costs` and `gateway logs` read SQLite and PostgreSQL alike; an unreachable log is a
clear error that does not print the password."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml

from gateway.config import DatabaseConfig
from gateway.usage.events import RequestRecord
from gateway.usage.store import SqlSink
from tests.fakes.server import free_port
from tests.gateway_server import ROOT


def gateway(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump({
        "database": {"url": url},
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"id": "m", "provider": "p"}],
    }))
    # in the test's own directory, where `--demo` finds gateway-demo.db (the checkout's code)
    return subprocess.run([sys.executable, "-m", "gateway", *args, "--config", str(path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_costs_and_logs_read_either_database(tmp_path: Path, log_url: str) -> None:
    async def fill() -> None:
        sink = SqlSink(DatabaseConfig(url=log_url))
        await sink.start()
        for i, day in enumerate((1, 1, 2)):
            sink.put(RequestRecord(id=f"r{i}", created_at=datetime(2025, 3, day, 12, tzinfo=UTC),
                                   model="m", status="success", cost_usd=0.5, latency_ms=10.0 * i))
        await sink.close()

    asyncio.run(fill())
    costs = gateway(tmp_path, log_url, "costs", "--by", "day", "--json")
    assert costs.returncode == 0, costs.stderr
    report = json.loads(costs.stdout)
    assert [(g["key"], g["requests"], g["cost_usd"]) for g in report["groups"]] == [
        ("2025-03-01", 2, 1.0), ("2025-03-02", 1, 0.5)]
    assert report["total"]["p50_latency_ms"] == 10.0
    logs = gateway(tmp_path, log_url, "logs", "--tail", "2", "--json")
    assert [r["id"] for r in json.loads(logs.stdout)] == ["r2", "r1"]


def test_an_empty_log_says_so(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    logs = gateway(tmp_path, url, "logs")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.strip() == f"no requests in the log yet ({url})"
    assert json.loads(gateway(tmp_path, url, "logs", "--json").stdout) == []


def test_an_unreachable_log_is_a_clear_error(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://gateway:s3cret@127.0.0.1:{free_port()}/gateway"
    done = gateway(tmp_path, url, "costs")
    assert done.returncode == 1
    assert "database.url: cannot read the request log at postgresql+asyncpg://gateway:***@" in (
        done.stderr)
    assert "s3cret" not in done.stderr and "Traceback" not in done.stderr


def test_demo_log_is_read_with_demo(tmp_path: Path) -> None:
    """`gateway serve --demo` logs to gateway-demo.db (in the working directory): `logs`,
    `costs` and `experiments` read it with `--demo`, and an empty main log points there."""
    async def fill() -> None:
        sink = SqlSink(DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp_path / 'gateway-demo.db'}"))
        await sink.start()
        sink.put(RequestRecord(id="demo-1", model="m", status="success", cost_usd=0.25))
        await sink.close()

    asyncio.run(fill())
    main = f"sqlite+aiosqlite:///{tmp_path / 'main.db'}"

    def run(*args: str) -> str:
        done = gateway(tmp_path, main, *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert [r["id"] for r in json.loads(run("logs", "--demo", "--json"))] == ["demo-1"]
    costs = json.loads(run("costs", "--demo", "--json"))
    assert (costs["total"]["requests"], costs["total"]["cost_usd"]) == (1, 0.25)
    assert "experiments" in json.loads(run("experiments", "--demo", "--json"))
    empty = run("logs")
    assert "no requests in the log yet" in empty and "gateway logs --demo" in empty
