"""Migrations: an empty database, a log from before migrations, concurrent starts, new revisions;
on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from gateway.config import DatabaseConfig
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.migrate import (
    MIGRATIONS,
    alembic_config,
    current,
    head,
    new_revision,
    upgrade,
)
from gateway.usage.reports import LogReader
from gateway.usage.schema import make_engine, metadata, requests
from gateway.usage.store import SqlSink
from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import ROOT, GatewayProcess, config_dict

# What the gateway created right before migrations (metadata.create_all), frozen here.
BEFORE_MIGRATIONS = {
    "sqlite": """
CREATE TABLE attempts (id INTEGER NOT NULL, request_id VARCHAR(128) NOT NULL, n INTEGER NOT NULL,
  model VARCHAR(255), provider VARCHAR(255), status VARCHAR(16), http_status INTEGER, error TEXT,
  latency_ms FLOAT, cost_usd FLOAT, started_at DATETIME, PRIMARY KEY (id));
CREATE INDEX ix_attempts_request_id ON attempts (request_id);
CREATE TABLE feedback (id INTEGER NOT NULL, request_id VARCHAR(128) NOT NULL,
  created_at DATETIME NOT NULL, outcome VARCHAR(16) NOT NULL, score FLOAT, rating INTEGER,
  PRIMARY KEY (id));
CREATE INDEX ix_feedback_request_id ON feedback (request_id);
CREATE TABLE requests (id VARCHAR(128) NOT NULL, created_at DATETIME NOT NULL,
  api_key VARCHAR(255), requested_model VARCHAR(255), model VARCHAR(255), provider VARCHAR(255),
  task VARCHAR(64), complexity INTEGER, profile VARCHAR(64), stream BOOLEAN NOT NULL,
  status VARCHAR(16) NOT NULL, http_status INTEGER, error TEXT, attempts INTEGER NOT NULL,
  prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd FLOAT, cost_note TEXT,
  latency_ms FLOAT, ttft_ms FLOAT, overhead_ms FLOAT, routing_reason TEXT, usage_json TEXT,
  features_json TEXT, endpoint VARCHAR(32), experiment VARCHAR(255), arm VARCHAR(255),
  tokens_estimated BOOLEAN, resumed BOOLEAN, PRIMARY KEY (id));
CREATE INDEX ix_requests_created_at ON requests (created_at);
CREATE INDEX ix_requests_api_key ON requests (api_key);
CREATE INDEX ix_requests_model ON requests (model)""",
    "postgresql": """
CREATE TABLE attempts (id SERIAL NOT NULL, request_id VARCHAR(128) NOT NULL, n INTEGER NOT NULL,
  model VARCHAR(255), provider VARCHAR(255), status VARCHAR(16), http_status INTEGER, error TEXT,
  latency_ms FLOAT, cost_usd FLOAT, started_at TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id));
CREATE INDEX ix_attempts_request_id ON attempts (request_id);
CREATE TABLE feedback (id SERIAL NOT NULL, request_id VARCHAR(128) NOT NULL,
  created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, outcome VARCHAR(16) NOT NULL, score FLOAT,
  rating INTEGER, PRIMARY KEY (id));
CREATE INDEX ix_feedback_request_id ON feedback (request_id);
CREATE TABLE requests (id VARCHAR(128) NOT NULL, created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL,
  api_key VARCHAR(255), requested_model VARCHAR(255), model VARCHAR(255), provider VARCHAR(255),
  task VARCHAR(64), complexity INTEGER, profile VARCHAR(64), stream BOOLEAN NOT NULL,
  status VARCHAR(16) NOT NULL, http_status INTEGER, error TEXT, attempts INTEGER NOT NULL,
  prompt_tokens INTEGER, completion_tokens INTEGER, cost_usd FLOAT, cost_note TEXT,
  latency_ms FLOAT, ttft_ms FLOAT, overhead_ms FLOAT, routing_reason TEXT, usage_json TEXT,
  features_json TEXT, endpoint VARCHAR(32), experiment VARCHAR(255), arm VARCHAR(255),
  tokens_estimated BOOLEAN, resumed BOOLEAN, PRIMARY KEY (id));
CREATE INDEX ix_requests_created_at ON requests (created_at);
CREATE INDEX ix_requests_api_key ON requests (api_key);
CREATE INDEX ix_requests_model ON requests (model)""",
}
# An early log: fewer columns, grown later by ad-hoc ADD COLUMNs; no indexes on attempts.
EARLY_SQLITE = """
CREATE TABLE requests (id VARCHAR(128) NOT NULL, created_at DATETIME NOT NULL,
  model VARCHAR(255), stream BOOLEAN NOT NULL, status VARCHAR(16) NOT NULL,
  attempts INTEGER NOT NULL, cost_usd FLOAT, PRIMARY KEY (id));
CREATE TABLE attempts (id INTEGER NOT NULL, request_id VARCHAR(128) NOT NULL, n INTEGER NOT NULL,
  model VARCHAR(255), PRIMARY KEY (id));
CREATE TABLE feedback (id INTEGER NOT NULL, request_id VARCHAR(128) NOT NULL,
  created_at DATETIME NOT NULL, outcome VARCHAR(16) NOT NULL, PRIMARY KEY (id))"""
OLD_ROWS = """
INSERT INTO requests (id, created_at, model, stream, status, attempts, cost_usd)
  VALUES ('old-1', '2025-01-02 03:04:05', 'gpt-4.1', TRUE, 'success', 1, 0.25);
INSERT INTO requests (id, created_at, model, stream, status, attempts, cost_usd)
  VALUES ('old-2', '2025-01-03 00:00:00', 'claude', FALSE, 'error', 2, NULL);
INSERT INTO attempts (request_id, n, model) VALUES ('old-2', 1, 'claude');
INSERT INTO feedback (request_id, created_at, outcome) VALUES ('old-1', '2025-01-02 04:00:00', 'success')"""


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


async def execute(url: str, script: str) -> None:
    engine = make_engine(url, wal=False)
    async with engine.begin() as conn:
        for statement in script.split(";"):
            if statement.strip():
                await conn.exec_driver_sql(statement)
    await engine.dispose()


def schema_drift(conn: Connection) -> list[Any]:
    """What `schema.py` has that the migrated database has not (or the other way round)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def inspect_log(url: str) -> tuple[str | None, list[Any], list[tuple[Any, ...]]]:
    """The revision, the drift from schema.py, and (id, model, stream, cost_usd) of each row."""
    engine = make_engine(url, wal=False)
    async with engine.connect() as conn:
        revision = await conn.run_sync(current)
        drift = await conn.run_sync(schema_drift)
        rows = (await conn.execute(select(requests.c.id, requests.c.model, requests.c.stream,
                                          requests.c.cost_usd).order_by(requests.c.id))).all()
    await engine.dispose()
    return revision, drift, [tuple(r) for r in rows]


async def write(url: str, *records: RequestRecord) -> SqlSink:
    sink = SqlSink(DatabaseConfig(url=url))
    await sink.start()
    for r in records:
        sink.put(r)
    sink.put_feedback(FeedbackRecord("new-1", "partial", score=0.5))
    await sink.close()
    assert sink.dropped == 0
    return sink


def test_an_empty_database_is_created_at_the_newest_revision(log_url: str) -> None:
    async def main() -> None:
        await write(log_url, RequestRecord(id="new-1", model="m", status="success", stream=True))
        revision, drift, rows = await inspect_log(log_url)
        assert revision == head()
        assert drift == []  # schema.py and the revisions agree
        assert rows == [("new-1", "m", True, None)]

    run(main)


def test_the_revisions_from_nothing_build_what_schema_py_describes(log_url: str) -> None:
    """An empty database is created from schema.py at once; the revisions, applied one by one
    to an empty database, must give the very same schema."""
    from alembic import command

    async def main() -> None:
        engine = make_engine(log_url, wal=False)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "head"))
        await engine.dispose()
        revision, drift, rows = await inspect_log(log_url)
        assert (revision, drift, rows) == (head(), [], [])

    run(main)


def test_a_log_from_before_migrations_is_upgraded_with_its_rows_intact(log_url: str) -> None:
    dialect = "sqlite" if log_url.startswith("sqlite") else "postgresql"

    async def main() -> None:
        await execute(log_url, BEFORE_MIGRATIONS[dialect] + ";" + OLD_ROWS)
        await write(log_url, RequestRecord(id="new-1", model="m", status="success"))
        revision, drift, rows = await inspect_log(log_url)
        assert revision == head() and drift == []
        assert rows == [("new-1", "m", False, None), ("old-1", "gpt-4.1", True, 0.25),
                        ("old-2", "claude", False, None)]
        reader = LogReader(log_url)
        old = next(r for r in await reader.recent(10) if r["id"] == "old-2")
        assert [a["model"] for a in old["attempt_rows"]] == ["claude"]
        outcomes = {r["id"]: r["outcome"] for r in await reader.outcomes()}
        assert outcomes == {"old-1": "success", "old-2": None, "new-1": "partial"}
        await reader.aclose()

    run(main)


def test_an_early_log_gains_every_column_and_index_added_since(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'early.db'}"

    async def main() -> None:
        await execute(url, EARLY_SQLITE + ";" + OLD_ROWS.replace("TRUE", "1").replace("FALSE", "0"))
        await write(url, RequestRecord(id="new-1", model="m", status="success", endpoint="chat",
                                       created_at=datetime(2025, 2, 1, tzinfo=UTC)))
        revision, drift, rows = await inspect_log(url)
        assert revision == head()
        # Only the NOT NULL-ness of columns an early log lacked may differ: they were added
        # nullable, as there were rows without a value.
        assert [d for d in drift if d[0][0] != "modify_nullable"] == []
        assert [r[0] for r in rows] == ["new-1", "old-1", "old-2"]

    run(main)


def test_instances_starting_together_migrate_once(log_url: str) -> None:
    async def main() -> None:
        sinks = [SqlSink(DatabaseConfig(url=log_url)) for _ in range(4)]
        await asyncio.gather(*(s.start() for s in sinks))
        for i, s in enumerate(sinks):
            s.put(RequestRecord(id=f"r{i}", status="success"))
        await asyncio.gather(*(s.close() for s in sinks))
        assert sum(s.written for s in sinks) == 4 and sum(s.dropped for s in sinks) == 0
        revision, drift, rows = await inspect_log(log_url)
        assert revision == head() and drift == [] and len(rows) == 4

    run(main)


def test_a_log_from_a_newer_gateway_is_left_alone(
    log_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gateway.usage")

    async def main() -> None:
        await write(log_url)
        await execute(log_url, "UPDATE alembic_version SET version_num = '9999'")
        await write(log_url, RequestRecord(id="still-written", status="success"))
        revision, _, rows = await inspect_log(log_url)
        assert revision == "9999" and rows[0][0] == "still-written"
        assert "newer than this gateway's" in caplog.text

    run(main)


def test_a_new_revision_is_one_command_and_applies(tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, directory, ignore=shutil.ignore_patterns("__pycache__"))
    made = new_revision("nothing changed", directory)
    assert made.name == f"{int(head()) + 1:04d}_nothing_changed.py"
    source = made.read_text()
    assert f"down_revision = '{head()}'" in source and "def upgrade() -> None:" in source
    url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"

    async def main() -> None:
        engine = make_engine(url)
        await upgrade(engine, url, directory)
        async with engine.connect() as conn:
            assert await conn.run_sync(current) == made.name[:4]
            assert (await conn.execute(text("SELECT count(*) FROM requests"))).scalar() == 0
        await engine.dispose()

    run(main)


def test_gateway_serve_upgrades_a_log_from_before_migrations(tmp_path: Path,
                                                             fake_openai: FakeOpenAI) -> None:
    """The upgrade as a user meets it: a new gateway started on an old log keeps its rows, logs
    new ones beside them, and `gateway costs` reads both."""
    db = tmp_path / "gateway.db"
    url = f"sqlite+aiosqlite:///{db}"
    run(lambda: execute(url, BEFORE_MIGRATIONS["sqlite"] + ";" + OLD_ROWS))
    tree = config_dict(db, {"fake": {"kind": "openai", "base_url": fake_openai.url,
                                     "api_key": "k"}}, openai_models())
    proc = GatewayProcess(tree, tmp_path).start()
    try:
        reply = proc.client().chat.completions.with_raw_response.create(
            model="gpt-fake", messages=[{"role": "user", "content": "hi"}])
        assert proc.terminate() in (0, -signal.SIGTERM)
    finally:
        proc.kill()
    assert "request log schema upgraded from none to " + head() in proc.output()
    revision, drift, rows = asyncio.run(inspect_log(url))
    assert revision == head() and drift == []
    assert [r[0] for r in rows] == sorted(["old-1", "old-2", reply.headers["x-request-id"]])
    costs = subprocess.run([sys.executable, "-m", "gateway", "costs", "--since", "2020-01-01",
                            "--json", "--config", str(proc.path)], cwd=ROOT,
                           capture_output=True, text=True, timeout=60)
    assert costs.returncode == 0, costs.stderr
    total = json.loads(costs.stdout)["total"]
    assert (total["requests"], total["errors"]) == (3, 1)
    assert total["cost_usd"] == pytest.approx(0.25 + 0.0001)
