"""The shared parts as create_app builds them: the backend each configuration gets, two
instances on one Redis, Redis down at start, and nothing heavy imported when unused."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, GatewayConfig, parse_config
from gateway.errors import BudgetExceeded, RateLimited
from gateway.shared import SharedParts
from tests.gateway_server import ROOT
from tests.servers import RedisServer


def config(tmp_path: Path, **sections: Any) -> GatewayConfig:
    return parse_config({
        "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"},
        "providers": {"p": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": [{"id": "m", "provider": "p"}],
        "auth": {"api_keys": [{"name": "team", "key": "k", "role": "client", "rpm": 2}]},
        "budgets": {"daily_usd": 0.01},
        "reliability": {"circuit_breaker": {"failure_threshold": 1, "cooldown_s": 60}},
        **sections,
    }, env={})


async def until(check: Callable[[], bool], within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


def test_each_configuration_gets_its_backend(tmp_path: Path) -> None:
    assert SharedParts.from_config(config(tmp_path)).status()["backend"] == "memory"
    workers = SharedParts.from_config(config(tmp_path, server={"workers": 2}))
    assert workers.status() == {"backend": "sqlite", "shared": True, "connected": True,
                                "path": str(tmp_path / "log.db.state")}
    explicit = config(tmp_path, state={"url": f"sqlite:///{tmp_path}/s.db"})
    assert SharedParts.from_config(explicit).status()["path"] == f"{tmp_path}/s.db"
    with pytest.raises(ConfigError, match=r"state\.url: .*unsupported 'http' URL"):
        config(tmp_path, state={"url": "http://127.0.0.1:6379"})


def test_two_instances_on_one_redis_share_limits_budgets_and_circuits(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    cfg = config(tmp_path, state={"url": redis_server.url})

    async def main() -> None:
        a = SharedParts.from_config(cfg, refresh_s=0.05)
        b = SharedParts.from_config(cfg, refresh_s=0.05)
        for x in (a, b):
            await x.start()
        assert a.status()["connected"] is True and a.status()["url"] == redis_server.url
        await a.admission.admit("team", tokens=1, usd=0.0)
        spend = await b.admission.admit("team", tokens=1, usd=0.01)
        with pytest.raises(RateLimited):
            await a.admission.admit("team", tokens=1, usd=0.0)
        await b.admission.settle(spend, tokens=1, usd=0.01)
        with pytest.raises(BudgetExceeded):
            await a.admission.admit(None, tokens=1, usd=0.001)
        assert a.breakers.models["m"].acquire()
        a.breakers.models["m"].failure()
        await until(lambda: not b.breakers.available("p", "m"))
        for x in (a, b):
            await x.close()

    asyncio.run(main())


def test_a_redis_down_at_start_leaves_the_gateway_serving(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.stop()
    cfg = config(tmp_path, state={"url": redis_server.url})

    async def main() -> None:
        parts = SharedParts.from_config(cfg)
        await parts.start()
        status = parts.status()
        assert status["connected"] is False and status["fallback"] == "in-process"
        ticket = await parts.admission.admit("team", tokens=1, usd=0.004)
        await parts.admission.settle(ticket, tokens=1, usd=0.004)
        with pytest.raises(BudgetExceeded):
            await parts.admission.admit("team", tokens=1, usd=0.007)
        await parts.close()

    asyncio.run(main())


def test_nothing_heavy_is_imported_unless_configured(tmp_path: Path) -> None:
    script = (
        "import sys, asyncio\n"
        "from gateway.config import parse_config\n"
        "from gateway.shared import SharedParts\n"
        "from gateway.usage.store import SqlSink\n"
        f"cfg = parse_config({{'database': {{'url': 'sqlite+aiosqlite:///{tmp_path}/l.db'}},"
        "'providers': {'p': {'kind': 'openai', 'base_url': 'http://127.0.0.1:9/v1'}},"
        "'models': [{'id': 'm', 'provider': 'p'}]}, env={})\n"
        "async def main():\n"
        "    for _ in range(2):  # a new log, then one at the newest revision already\n"
        "        parts = SharedParts.from_config(cfg); sink = SqlSink(cfg.database)\n"
        "        await parts.start(); await sink.start(); await sink.close(); await parts.close()\n"
        "        if _ == 0: [sys.modules.pop(m) for m in list(sys.modules) if m.startswith('alembic')]\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in ('redis', 'asyncpg', 'alembic') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
