"""GET /v1/models, /health, /metrics and the admin endpoints."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.spec import validate

MESSAGES = [{"role": "user", "content": "hi"}]


def test_models_lists_configured_ids_aliases_and_auto(gateway: GatewayServer):
    page = gateway.client().models.list()
    ids = [m.id for m in page.data]
    assert {"gpt-fake", "fake", "auto", "auto:cheap", "auto:best", "auto:fast",
            "auto:local"} <= set(ids)
    with gateway.http() as http:
        validate("ListModelsResponse", http.get("/v1/models").json())


def test_a_model_is_retrieved_by_id_or_alias(gateway: GatewayServer):
    client = gateway.client()
    assert client.models.retrieve("fake").id == "fake"  # an alias is a model name too
    auto = client.models.retrieve("auto:cheap")
    assert (auto.id, auto.owned_by) == ("auto:cheap", "gateway")
    with gateway.http() as http:
        validate("Model", http.get("/v1/models/gpt-fake").json())
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope")
    assert info.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert "'nope' does not exist" in info.value.body["message"]  # type: ignore[index]


def test_health_reports_circuits(gateway: GatewayServer):
    with gateway.http() as http:
        body = http.get("/health").json()
    assert body["status"] == "ok"
    assert body["providers"]["fake"]["circuit"] == "closed"


def test_metrics_count_requests_errors_and_overhead(gateway: GatewayServer,
                                                    fake_openai: FakeOpenAI):
    client = gateway.client()
    client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    fake_openai.enqueue(Reply(status=500), Reply(status=500))
    try:
        client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    except Exception:
        pass
    with gateway.http() as http:
        text = http.get("/metrics").text
    assert 'gateway_requests_total{endpoint="chat",model="gpt-fake",status="success"} 1.0' in text
    assert 'gateway_upstream_errors_total{kind="UpstreamHTTPError",provider="fake"} 2.0' in text
    assert "gateway_overhead_seconds_count 1.0" in text  # successes only
    assert 'gateway_request_latency_seconds_count{stream="false"} 2.0' in text


def test_admin_requests_and_usage(gateway: GatewayServer):
    client = gateway.client()
    for _ in range(3):
        client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    deadline = time.monotonic() + 5
    with gateway.http() as http:
        while time.monotonic() < deadline:
            data = http.get("/admin/requests", params={"limit": 10}).json()["data"]
            if len(data) == 3:
                break
            time.sleep(0.05)
        assert len(data) == 3 and data[0]["model"] == "gpt-fake"
        usage = http.get("/admin/usage", params={"since": "24h", "by": "model"}).json()
        assert usage["total"]["requests"] == 3
        assert abs(usage["total"]["cost_usd"] - 3 * 0.0001) < 1e-12
        assert http.get("/admin/usage", params={"by": "colour"}).status_code == 400
        assert http.get("/admin/requests", params={"limit": "x"}).status_code == 400
        assert http.get("/admin/requests", params={"since": "yesterday-ish"}).status_code == 400
        budget = http.get("/admin/budget").json()
        assert "scopes" in budget


def test_responses_carry_request_id_even_on_errors(gateway: GatewayServer):
    r = httpx.post(gateway.url + "/v1/chat/completions", json={"model": "x"})
    assert r.status_code == 400 and r.headers["x-request-id"].startswith("req_")
    assert r.headers["x-gateway-attempts"] == "0"
