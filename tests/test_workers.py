"""`gateway serve --workers N`: N processes on one port, one log, a clean stop."""

from __future__ import annotations

import concurrent.futures
import os
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


def wait_workers(pid: int, n: int = 2) -> list[int]:
    deadline = time.monotonic() + 30
    while len(workers(pid)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    found = workers(pid)
    assert len(found) == n
    return found


def test_two_workers_serve_one_port_and_write_one_log(tmp_path: Path, fake_openai: FakeOpenAI):
    db = tmp_path / "gateway.db"
    tree = config_dict(db, {"fake": {"kind": "openai", "base_url": fake_openai.url,
                                     "api_key": "k"}}, openai_models())
    fake_openai.default = Reply(delay_s=1.0)
    proc = GatewayProcess(tree, tmp_path, "--workers", "2").start()
    try:
        assert proc.proc is not None
        wait_workers(proc.proc.pid)
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


def wait_open(pid: int, path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        links = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                links.add(os.readlink(fd))
            except OSError:  # closed meanwhile
                continue
        if str(path) in links:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {pid} did not open {path}")


def upstream_connections(pid: int, port: int) -> int:
    """TCP connections the process holds to 127.0.0.1:`port` (its pool to the upstream)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        count += link.startswith("socket:[") and link[8:-1] in inodes
    return count


def test_two_workers_share_limits_a_budget_and_circuits_without_redis(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """Without `state.url` the workers count on one SQLite file beside the log: the limits hold
    for the port, not per worker, though the kernel spreads the connections over both."""
    db = tmp_path / "gateway.db"
    keys = [{"name": "team", "key": "sk-team", "role": "client"},
            {"name": "team-rate", "key": "sk-rate", "role": "client", "rpm": 10},
            {"name": "team-budget", "key": "sk-budget", "role": "client", "daily_usd": 0.00035}]
    with FakeOpenAI(Reply(status=500)) as flaky:
        providers = {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"},
                     "flaky": {"kind": "openai", "base_url": flaky.url, "api_key": "k"}}  # type: ignore[attr-defined]
        tree = config_dict(db, providers, [*openai_models(), {"id": "flaky", "provider": "flaky"}],
                           auth={"api_keys": keys})
        tree["reliability"]["circuit_breaker"] = {"failure_threshold": 2, "cooldown_s": 60}
        fake_openai.default = Reply(delay_s=0.5)  # every admitted request in flight at once
        proc = GatewayProcess(tree, tmp_path, "--workers", "2").start()
        try:
            shared_by_workers(proc, db, fake_openai, flaky)  # type: ignore[arg-type]
        finally:
            proc.kill()
    with sqlite3.connect(db) as con:
        (spent,) = con.execute("SELECT sum(cost_usd) FROM requests WHERE api_key = 'team-budget'"
                               ).fetchone()
    assert 0 < spent <= 0.00035  # per worker, each would have let $0.00035 through


def call(proc: GatewayProcess, key: str, model: str = "gpt-fake") -> tuple[int, str | None]:
    """(status, error code) of one request on a connection of its own."""
    r = httpx.post(proc.url + "/v1/chat/completions", timeout=30,
                   headers={"Authorization": f"Bearer {key}"},
                   json={"model": model, "max_tokens": 16,
                         "messages": [{"role": "user", "content": "hi"}]})
    return r.status_code, r.json()["error"]["code"] if r.status_code != 200 else None


def shared_by_workers(proc: GatewayProcess, db: Path, fake: FakeOpenAI, flaky: FakeOpenAI
                      ) -> None:
    def burst(key: str, n: int) -> list[tuple[int, str | None]]:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda i: call(proc, key), range(n)))

    assert proc.proc is not None
    pids = wait_workers(proc.proc.pid)
    for pid in pids:  # a worker opens the state file as its app starts, then serves
        wait_open(pid, Path(f"{db}.state"))
    assert httpx.get(proc.url + "/health").json()["state"] == {
        "backend": "sqlite", "shared": True, "connected": True, "path": f"{db}.state"}
    rate = burst("sk-rate", 24)
    # both workers admitted some (each holds connections to the upstream now) ...
    assert all(upstream_connections(pid, fake.port) for pid in pids)
    # ... and together exactly the key's 10 a minute
    assert sorted(rate, key=str) == [(200, None)] * 10 + [(429, "rate_limit_exceeded")] * 14
    budget = burst("sk-budget", 24)
    assert (200, None) in budget and set(budget) - {(200, None)} == {(429, "budget_exceeded")}
    # a circuit one worker opens is open in the other within the sharing delay (1 s)
    assert call(proc, "sk-team", "flaky")[0] in (502, 503) and flaky.hits == 2
    deadline = time.monotonic() + 3
    while {httpx.get(proc.url + "/health").json()["models"]["flaky"]["circuit"]
           for _ in range(8)} != {"open"}:  # eight answers, from either worker
        assert time.monotonic() < deadline, "the other worker did not take the open circuit"
        time.sleep(0.1)
    assert {call(proc, "sk-team", "flaky")[0] for _ in range(4)} == {503}
    assert flaky.hits == 2
    assert proc.terminate() in (0, -signal.SIGTERM)
