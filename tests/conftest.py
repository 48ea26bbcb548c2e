"""Shared fixtures: fake upstreams on 127.0.0.1 and the real gateway in front of them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer, config_dict
from tests.servers import PostgresServer, RedisServer, ServerMissing

if TYPE_CHECKING:
    from gateway.state import State

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def fake_backup() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake  # type: ignore[misc]


def openai_models(provider: str = "fake") -> list[dict[str, Any]]:
    return [
        {"id": "gpt-fake", "provider": provider, "upstream": "fake-model",
         "input_usd_per_mtok": 2.5, "output_usd_per_mtok": 10.0, "context_window": 128000,
         "capabilities": ["tools", "vision", "json", "streaming"], "quality": 0.9,
         "aliases": ["fake"]},
    ]


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayServer]]:
    """Build and start a gateway; stopped (and its log flushed) at the end of the test."""
    started: list[GatewayServer] = []

    def make(providers: dict[str, Any], models: list[dict[str, Any]], **sections: Any
             ) -> GatewayServer:
        tree = config_dict(tmp_path / "gateway.db", providers, models, **sections)
        server = GatewayServer(tree).__enter__()
        started.append(server)
        return server

    yield make
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def gateway(make_gateway: Callable[..., GatewayServer], fake_openai: FakeOpenAI) -> GatewayServer:
    """A gateway with one OpenAI-compatible provider (the fake) and one model, `gpt-fake`."""
    return make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-fake"}},
        openai_models(),
    )


# -- real PostgreSQL and Redis (tests/servers.py): a missing binary fails, it never skips --------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL for the session; each test takes its own database (`pg_url`)."""
    try:
        server = PostgresServer()
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The SQLAlchemy URL of a new, empty PostgreSQL database for this test."""
    name = "t_" + os.urandom(6).hex()
    return postgres_server.create_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A request log's URL: a SQLite file, then a new PostgreSQL database (each test runs on both)."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A Redis of this test's own (cheap to start), so a test may stop and restart it."""
    try:
        server = RedisServer()
    except ServerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    server.start()
    yield server
    server.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def state_clients(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], State]]:
    """Makes clients of one state backend (each test runs on all three); the clients one test
    makes share their state, as instances (or workers) sharing Redis (or a file) do."""
    from gateway.state import MemoryState
    from gateway.state.redis_state import RedisState
    from gateway.state.sqlite import SqliteState

    if request.param == "memory":
        shared = MemoryState()
        yield lambda: shared
    elif request.param == "sqlite":
        yield lambda: SqliteState(tmp_path / "state.db")
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        yield lambda: RedisState(server.url)
