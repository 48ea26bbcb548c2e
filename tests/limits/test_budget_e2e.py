"""Budgets through the running gateway: downgrade, daily limits, per-key limits, restart."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer, config_dict

MESSAGES = [{"role": "user", "content": "hi"}]


def models() -> list[dict]:
    return [
        {"id": "pricey", "provider": "fake", "input_usd_per_mtok": 50, "output_usd_per_mtok": 100},
        {"id": "thrifty", "provider": "fake", "input_usd_per_mtok": 0.5, "output_usd_per_mtok": 1},
    ]


def test_downgrade_routes_to_the_cheapest_model_that_fits(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway({"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
                          models(), budgets={"per_request_usd": 0.01, "on_exceed": "downgrade"})
    # estimate for pricey: 512 expected output tokens * $100/Mtok = $0.0512 > $0.01
    completion = server.client().chat.completions.create(model="pricey", messages=MESSAGES)
    assert completion.model == "thrifty"
    assert fake_openai.requests[0]["model"] == "thrifty"


def test_daily_budget_rejects_once_spent_and_survives_a_restart(tmp_path, fake_openai: FakeOpenAI):
    tree = config_dict(tmp_path / "gateway.db",
                       {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
                       models(), budgets={"daily_usd": 0.001})
    # each answer: 12 prompt tokens at $50/Mtok + 7 at $100/Mtok = $0.0013 > the daily $0.001,
    # but the estimate of the first (max_tokens=1) fits the untouched budget
    with GatewayServer(tree) as server:
        server.client().chat.completions.create(model="pricey", messages=MESSAGES, max_tokens=1)
        with pytest.raises(openai.RateLimitError) as info:
            server.client(max_retries=2).chat.completions.create(model="pricey",
                                                                 messages=MESSAGES, max_tokens=1)
        assert "daily budget" in info.value.response.json()["error"]["message"]
        report = httpx.get(server.url + "/admin/budget").json()
        assert report["scopes"]["global"]["daily_spent_usd"] == pytest.approx(0.0013)
        assert any(a["period"] == "daily" for a in report["alerts"])
    assert fake_openai.hits == 1
    with GatewayServer(tree) as again:  # spend is read back from the log
        with pytest.raises(openai.RateLimitError):
            again.client().chat.completions.create(model="thrifty", messages=MESSAGES,
                                                   max_tokens=1)
    assert fake_openai.hits == 1


def test_per_key_budget_only_limits_that_key(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}}, models(),
        auth={"api_keys": [{"name": "small", "key": "k-small", "per_request_usd": 0.0001},
                           {"name": "big", "key": "k-big"}]},
    )
    with pytest.raises(openai.RateLimitError):
        server.client(api_key="k-small").chat.completions.create(model="pricey",
                                                                 messages=MESSAGES)
    assert server.client(api_key="k-big").chat.completions.create(
        model="pricey", messages=MESSAGES).model == "pricey"


def test_downgrade_on_an_instance_that_has_not_seen_the_spend_yet(tmp_path, fake_openai,
                                                                   redis_server):
    """Spend made through another instance is news to this one: its refusal brings the
    counters up to date, and the downgrade is then chosen on them, not answered with a 429."""
    tree = config_dict(tmp_path / "gateway.db",
                       {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
                       models(), budgets={"daily_usd": 0.0015, "on_exceed": "downgrade"},
                       state={"url": redis_server.url})
    with GatewayServer(tree) as a, GatewayServer(tree) as b:
        first = a.client().chat.completions.create(model="pricey", messages=MESSAGES,
                                                   max_tokens=1)  # $0.0013 of the $0.0015
        assert first.model == "pricey"
        report = httpx.get(b.url + "/admin/budget").json()["scopes"]["global"]
        assert report["daily_spent_usd"] == pytest.approx(0.0013)
        second = b.client().chat.completions.create(model="pricey", messages=MESSAGES,
                                                    max_tokens=1)
        assert second.model == "thrifty"
