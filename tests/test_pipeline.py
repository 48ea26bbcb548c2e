"""The pipeline end to end: limits on the body, names that reach the router, and the reasons a
request cannot be served, through the official SDK against loopback fakes."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import openai_models
from tests.fakes.server import Reply, free_port
from tests.logdb import rows


def nested(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"x": schema}}
    return schema


def test_deeply_nested_tool_parameters_are_a_400_naming_the_parameter(gateway, fake_openai):
    # 512 levels, written out by hand: Python's own json module cannot produce it either
    schema = '{"type": "object", "properties": {"x": ' * 512 + '{"type": "string"}' + "}}" * 512
    body = ('{"model": "gpt-fake", "messages": [{"role": "user", "content": "hi"}], '
            '"tools": [{"type": "function", "function": {"name": "f", "parameters": '
            + schema + "}}]}")
    r = httpx.post(gateway.url + "/v1/chat/completions", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "tools[0].function.parameters"
    assert fake_openai.hits == 0
    (request,) = rows(gateway)
    assert request["http_status"] == 400  # and it has its row


def test_a_schema_of_ordinary_depth_goes_through(gateway, fake_openai):
    tools = [{"type": "function", "function": {"name": "f", "parameters": nested(20)}}]
    gateway.client().chat.completions.create(
        model="gpt-fake", tools=tools, messages=[{"role": "user", "content": "hi"}])
    assert fake_openai.hits == 1


def test_a_configured_profile_is_a_model_name(make_gateway, fake_openai):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
        openai_models(),
        routing={"profiles": {"thrifty": {"quality": 0.1, "cost": 0.9, "latency": 0,
                                          "history": 0}}})
    client = server.client()
    ids = {m.id for m in client.models.list()}
    assert {"auto", "auto:thrifty", "auto:cheap", "auto:local", "auto:consensus"} <= ids
    raw = client.chat.completions.with_raw_response.create(
        model="auto:thrifty", messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-gateway-model"] == "gpt-fake"
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="auto:nope",
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["code"] == "model_not_found"
    (ok, _) = rows(server)
    assert ok["profile"] == "thrifty"


def test_no_usable_model_names_each_real_reason(make_gateway, fake_openai):
    dead = f"http://127.0.0.1:{free_port()}/v1"
    providers = {
        "paid": {"kind": "openai", "api_key": "${PAID_KEY}", "base_url": fake_openai.url},
        "lm": {"kind": "lmstudio", "base_url": dead},
        "flaky": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"},
    }
    models = [{"id": "paid-model", "provider": "paid", "fallbacks": ["flaky-model"]},
              {"id": "local-model", "provider": "lm", "tags": ["local"]},
              {"id": "flaky-model", "provider": "flaky"}]
    server = make_gateway(providers, models, reliability={
        "retries": 0, "circuit_breaker": {"failure_threshold": 1, "cooldown_s": 300}})
    fake_openai.enqueue(Reply(status=503))
    client = server.client()
    with pytest.raises(openai.APIStatusError):  # opens flaky's circuit
        client.chat.completions.create(model="flaky-model",
                                       messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="paid-model",
                                       messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 503
    message = info.value.body["message"]
    assert "PAID_KEY" in message
    assert "circuit open for provider:flaky until" in message and "half-open" in message
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="local-model",
                                       messages=[{"role": "user", "content": "hi"}])
    assert dead in info.value.body["message"] and "did not answer" in info.value.body["message"]
