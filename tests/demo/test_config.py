"""The demo's configuration: the shipped models, every provider simulated, its own log."""

from __future__ import annotations

import statistics

import yaml

from gateway.config import GatewayConfig, parse_config
from gateway.demo import DEMO_DB_URL, demo_config, simulated_providers
from tests.gateway_server import ROOT


def shipped() -> GatewayConfig:
    return parse_config(yaml.safe_load((ROOT / "gateway.yaml").read_text()), env={})


def test_every_provider_is_simulated_and_needs_no_key() -> None:
    real = shipped()
    demo = demo_config(real)
    assert set(demo.providers) == set(real.providers)
    assert simulated_providers(demo) == frozenset(demo.providers)
    assert all(p.has_key for p in demo.providers.values())
    assert not any(p.has_key for n, p in real.providers.items() if n != "lmstudio"), \
        "the shipped config needs keys: the demo is what makes it work without them"
    assert simulated_providers(real) == frozenset(), "the input is not changed"


def test_models_routing_and_budgets_stay_as_configured() -> None:
    real = shipped()
    demo = demo_config(real)
    assert demo.models == real.models
    assert demo.routing.profiles == real.routing.profiles and demo.budgets == real.budgets
    assert demo.auth == real.auth
    assert demo.model("sonnet") is not None and demo.model("sonnet").id == "claude-sonnet-4-5"


def test_latency_follows_the_models_and_failures_are_seeded_per_provider() -> None:
    real = shipped()
    demo = demo_config(real)
    openai = demo.providers["openai"].simulate
    assert openai.latency_ms == statistics.median(
        m.latency_ms for m in real.models if m.provider == "openai")
    assert 0 < openai.failure_rate < 0.1
    seeds = {p.simulate.seed for p in demo.providers.values()}
    assert len(seeds) == len(demo.providers)
    assert demo_config(real).providers["openai"].simulate.seed == openai.seed, "stable"


def test_the_demo_logs_apart_from_real_traffic() -> None:
    real = shipped()
    demo = demo_config(real)
    assert demo.database.url == DEMO_DB_URL != real.database.url
    assert demo.routing.learn.state_path != real.routing.learn.state_path
    assert "demo" in demo.source
    assert demo_config(real, db_url="sqlite+aiosqlite:///x.db").database.url.endswith("x.db")
