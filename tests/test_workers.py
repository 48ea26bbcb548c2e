"""`gateway serve --workers N`: N processes on one port, one log, a clean stop."""

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


def workers(pid: int) -> list[int]:
    """The worker processes under the `gateway serve` process (not multiprocessing's tracker)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in cmdline:
                out.append(int(child))
    return out


def test_two_workers_serve_one_port_and_write_one_log(tmp_path: Path, fake_openai: FakeOpenAI):
    db = tmp_path / "gateway.db"
    tree = config_dict(db, {"fake": {"kind": "openai", "base_url": fake_openai.url,
                                     "api_key": "k"}}, openai_models())
    fake_openai.default = Reply(delay_s=1.0)
    proc = GatewayProcess(tree, tmp_path, "--workers", "2").start()
    try:
        assert proc.proc is not None
        deadline = time.monotonic() + 30
        while len(workers(proc.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(workers(proc.proc.pid)) == 2
        body = {"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}]}

        def call(i: int) -> int:
            return httpx.post(proc.url + "/v1/chat/completions", json=body, timeout=30).status_code

        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            futures = [pool.submit(call, i) for i in range(30)]
            deadline = time.monotonic() + 20
            while fake_openai.hits < 30 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert fake_openai.hits == 30
            assert proc.terminate() in (0, -signal.SIGTERM)  # each worker drains and flushes
            statuses = [f.result() for f in futures]
    finally:
        proc.kill()
    assert statuses == [200] * 30
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM requests").fetchone() == (30,)
