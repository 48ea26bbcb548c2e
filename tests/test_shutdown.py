"""SIGTERM with requests in flight: they finish, and every one of them has its row."""

from __future__ import annotations

import concurrent.futures
import signal
import sqlite3
import time
from pathlib import Path

import httpx

from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayProcess, config_dict


def test_sigterm_with_50_requests_in_flight_loses_no_row(tmp_path: Path,
                                                         fake_openai: FakeOpenAI):
    db = tmp_path / "gateway.db"
    tree = config_dict(db, {"fake": {"kind": "openai", "base_url": fake_openai.url,
                                     "api_key": "k"}}, openai_models())
    fake_openai.default = Reply(delay_s=1.0)
    proc = GatewayProcess(tree, tmp_path).start()
    try:
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}

        def call(i: int) -> int:
            return httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            futures = [pool.submit(call, i) for i in range(50)]
            deadline = time.monotonic() + 10
            while fake_openai.hits < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake_openai.hits == 50  # all 50 are waiting on the upstream now
            # uvicorn drains in-flight requests, flushes, then re-raises the signal
            assert proc.terminate() in (0, -signal.SIGTERM)
            statuses = [f.result() for f in futures]
    finally:
        proc.kill()
    assert statuses == [200] * 50
    con = sqlite3.connect(db)
    try:
        (count,) = con.execute("SELECT count(*) FROM requests WHERE status='success'").fetchone()
    finally:
        con.close()
    assert count == 50
