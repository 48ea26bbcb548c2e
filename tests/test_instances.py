"""Two gateway instances on one PostgreSQL log (and one Redis): rows from both in one table, none
lost when an instance is stopped with requests in flight."""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from gateway.usage.reports import LogReader
from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayProcess, GatewayServer, config_dict
from tests.servers import RedisServer

MESSAGES = [{"role": "user", "content": "hi"}]


def tree(tmp_path: Path, fake: FakeOpenAI, pg_url: str, redis_url: str) -> dict[str, Any]:
    return config_dict(tmp_path / "unused.db",
                       {"fake": {"kind": "openai", "base_url": fake.url, "api_key": "k"}},
                       openai_models(), database={"url": pg_url, "flush_interval_s": 0.05},
                       state={"url": redis_url})


def rows(pg_url: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        reader = LogReader(pg_url)
        try:
            return await reader.recent(1000)
        finally:
            await reader.aclose()

    return asyncio.run(read())


def test_two_instances_write_one_log(tmp_path: Path, fake_openai: FakeOpenAI, pg_url: str,
                                     redis_server: RedisServer) -> None:
    config = tree(tmp_path, fake_openai, pg_url, redis_server.url)
    with GatewayServer(config) as a, GatewayServer(config) as b:
        ids = set()
        for server in (a, b) * 5:
            raw = server.client().chat.completions.with_raw_response.create(
                model="gpt-fake", messages=MESSAGES)
            ids.add(raw.headers["x-request-id"])
        assert a.http().get("/health").status_code == 200
    logged = rows(pg_url)
    assert {r["id"] for r in logged} == ids and len(ids) == 10
    assert {r["status"] for r in logged} == {"success"}
    with GatewayServer(config) as c:  # any instance reports on everyone's traffic
        usage = c.http().get("/admin/usage", params={"by": "model"}).json()
    assert usage["total"]["requests"] == 10


def test_sigterm_with_requests_in_flight_loses_no_row_on_postgresql(
    tmp_path: Path, fake_openai: FakeOpenAI, pg_url: str, redis_server: RedisServer
) -> None:
    fake_openai.default = Reply(delay_s=1.0)
    proc = GatewayProcess(tree(tmp_path, fake_openai, pg_url, redis_server.url), tmp_path).start()
    body = {"model": "gpt-fake", "messages": MESSAGES}
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(lambda: httpx.post(proc.url + "/v1/chat/completions",
                                                      json=body, timeout=30).status_code)
                       for _ in range(20)]
            deadline = time.monotonic() + 10
            while fake_openai.hits < 20 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake_openai.hits == 20
            assert proc.terminate() in (0, -signal.SIGTERM)
            statuses = [f.result() for f in futures]
    finally:
        proc.kill()
    assert statuses == [200] * 20
    assert len(rows(pg_url)) == 20
