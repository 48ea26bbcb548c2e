"""The door tests' loopback servers: fake upstreams, and the real gateway in front of them.

One gateway per test module (`server`), with auth on: an admin key and two client keys, as
`auth.api_keys` writes them. Its log is read while it runs (`tests.logdb.logged`), and its
breakers are set not to open, so one test's failures do not close the door on the next.
Tests that need another configuration start their own with `start`.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer, config_dict

MODEL = "door-model"
ADMIN_KEY, KEY_A, KEY_B = "admin-key", "key-a", "key-b"
KEYS = [{"name": "ops", "key": ADMIN_KEY, "role": "admin"},
        {"name": "team-a", "key": KEY_A, "role": "client"},
        {"name": "team-b", "key": KEY_B, "role": "client"}]
PRICE = {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0, "cached_input_usd_per_mtok": 0.5}
CHAT = ["tools", "vision", "json", "streaming"]


def openai_model(model_id: str = MODEL, provider: str = "up", **extra: Any) -> dict[str, Any]:
    """A priced chat model on an OpenAI-kind provider whose upstream name is the fake's."""
    return {"id": model_id, "provider": provider, "upstream": "fake-model", **PRICE,
            "capabilities": CHAT, "quality": 0.9, **extra}


def cost(prompt: int, completion: int, cached: int = 0, written: int = 0, *,
         price: dict[str, float] | None = None) -> float:
    """What `prompt` tokens (of which `cached` read from and `written` to the cache) and
    `completion` tokens cost at `price` (default PRICE; cache rates default to the input
    price), in USD, rounded as the log writes it."""
    p = {k: Decimal(repr(v)) for k, v in (price or PRICE).items()}
    fresh = prompt - cached - written
    read_at = p.get("cached_input_usd_per_mtok", p["input_usd_per_mtok"])
    write_at = p.get("cache_write_usd_per_mtok", p["input_usd_per_mtok"])
    usd = (fresh * p["input_usd_per_mtok"] + cached * read_at + written * write_at
           + completion * p["output_usd_per_mtok"]) / Decimal(1_000_000)
    return float(usd.quantize(Decimal("1e-10")))


def start(tmp: Path, providers: dict[str, Any], models: list[dict[str, Any]],
          **sections: Any) -> GatewayServer:
    """A running gateway with the door tests' keys (unless `auth` is given) whose breakers
    stay closed (unless `reliability` is given)."""
    sections.setdefault("auth", {"api_keys": KEYS})
    sections.setdefault("reliability", {
        "retries": 1, "backoff": {"initial_s": 0.01, "max_s": 0.05},
        "circuit_breaker": {"failure_threshold": 1000, "cooldown_s": 1},
        "timeouts": {"connect_s": 2, "first_token_s": 5, "total_s": 10}})
    return GatewayServer(config_dict(tmp / "gateway.db", providers, models, **sections)).__enter__()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """The gateway in front of the fake OpenAI-compatible upstream, one model: MODEL."""
    gw = start(tmp_path_factory.mktemp("doors"),
               {"up": {"kind": "openai", "base_url": fake.url, "api_key": "sk-up"}},
               [openai_model()])
    yield gw
    gw.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def _fresh_script(request: pytest.FixtureRequest) -> None:
    """Each test starts with its fakes' scripts empty (a failed test leaves no reply behind)."""
    for name in ("fake", "fake_anthropic"):
        if name in request.fixturenames:
            request.getfixturevalue(name).queue.clear()
