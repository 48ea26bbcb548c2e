"""Every error status of the contract, seen through the OpenAI SDK's exception classes."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import row, rows
from tests.spec import validate

MESSAGES = [{"role": "user", "content": "hi"}]


def _error_body(response: httpx.Response) -> dict:
    body = response.json()
    validate("ErrorResponse", body)
    return body["error"]


def test_400_names_the_bad_parameter(gateway: GatewayServer):
    with pytest.raises(openai.BadRequestError) as info:
        gateway.client().chat.completions.create(
            model="gpt-fake", messages=MESSAGES, temperature=7)
    error = _error_body(info.value.response)
    assert error["param"] == "temperature"
    assert error["type"] == "invalid_request_error"
    assert "temperature" in error["message"]
    assert info.value.response.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("body, param", [
    (b"{not json", None),
    (b"[]", None),
    (b'{"model": "gpt-fake"}', "messages"),
    (b'{"model": "gpt-fake", "messages": []}', "messages"),
    (b'{"model": "gpt-fake", "messages": [{"role": "robot", "content": "x"}]}',
     "messages[0].role"),
    (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', "model"),
    (b'{"model": "gpt-fake", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}',
     "stream"),
    (b'{"model": "gpt-fake", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}',
     "messages[0].content[0].image_url.url"),
    (b'{"model": "gpt-fake", "messages": [{"role": "user", "content": "x"}], "tools": [{}]}',
     "tools[0].function.name"),
])
def test_malformed_bodies_are_400(gateway: GatewayServer, body: bytes, param: str | None):
    with gateway.http() as http:
        r = http.post("/v1/chat/completions", content=body,
                      headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert _error_body(r)["param"] == param
    assert r.headers["x-request-id"]


def test_404_unknown_model_lists_valid_ids(gateway: GatewayServer):
    with pytest.raises(openai.NotFoundError) as info:
        gateway.client().chat.completions.create(model="gpt-nope", messages=MESSAGES)
    error = _error_body(info.value.response)
    assert error["code"] == "model_not_found"
    assert "gpt-fake" in error["message"] and "auto" in error["message"]
    logged = row(gateway, info.value.response.headers["x-request-id"])
    assert logged["status"] == "error" and logged["http_status"] == 404


def test_401_when_keys_are_configured(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
        openai_models(), auth={"api_keys": [{"name": "team-a", "key": "secret-1"}]},
    )
    with pytest.raises(openai.AuthenticationError) as info:
        server.client(api_key="wrong").chat.completions.create(model="gpt-fake",
                                                               messages=MESSAGES)
    assert _error_body(info.value.response)["code"] == "invalid_api_key"
    raw = server.client(api_key="secret-1").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=MESSAGES)
    assert fake_openai.hits == 1
    logged = rows(server)
    assert {r["api_key"] for r in logged} == {None, "team-a"}
    assert "secret-1" not in repr(logged)
    assert any(r["id"] == raw.headers["x-request-id"] for r in logged)


def test_413_body_too_large(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
        openai_models(), server={"max_body_mb": 0.01},
    )
    with pytest.raises(openai.APIStatusError) as info:
        server.client().chat.completions.create(
            model="gpt-fake", messages=[{"role": "user", "content": "x" * 20_000}])
    assert info.value.status_code == 413
    assert _error_body(info.value.response)["type"] == "invalid_request_error"
    assert fake_openai.hits == 0


def test_429_budget_exceeded_is_not_retried_by_the_sdk(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
        openai_models(), budgets={"per_request_usd": 0.0000001},
    )
    client = server.client(max_retries=3)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-fake", messages=MESSAGES)
    assert info.value.response.headers["x-should-retry"] == "false"
    assert _error_body(info.value.response)["code"] == "budget_exceeded"
    assert fake_openai.hits == 0
    logged = rows(server)
    assert len(logged) == 1  # the SDK asked once, despite max_retries=3
    assert logged[0]["http_status"] == 429


@pytest.mark.parametrize("replies, status, sdk_error", [
    ([Reply(status=500)] * 2, 502, openai.InternalServerError),
    ([Reply(status=503)] * 2, 502, openai.InternalServerError),
])
def test_5xx_when_every_candidate_failed(gateway: GatewayServer, fake_openai: FakeOpenAI,
                                         replies, status, sdk_error):
    fake_openai.enqueue(*replies)
    with pytest.raises(sdk_error) as info:
        gateway.client(max_retries=2).chat.completions.create(model="gpt-fake",
                                                              messages=MESSAGES)
    assert info.value.status_code == status
    error = _error_body(info.value.response)
    assert error["code"] == "upstream_unavailable"
    assert "gpt-fake via fake" in error["message"]
    assert info.value.response.headers["x-should-retry"] == "false"
    assert fake_openai.hits == 2  # 1 try + 1 retry (config), and the SDK did not multiply it
    logged = rows(gateway)
    assert len(logged) == 1 and logged[0]["attempts"] == 2
    attempts = rows(gateway, "attempts")
    assert [a["n"] for a in attempts] == [1, 2]
    assert all(a["http_status"] == int(replies[0].status) for a in attempts)


def test_503_when_no_model_is_usable(make_gateway):
    server = make_gateway(
        {"closed": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                    "api_key": "${NOT_SET_ANYWHERE}"}},
        [{"id": "m", "provider": "closed"}],
    )
    with pytest.raises(openai.InternalServerError) as info:
        server.client().chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 503
    assert "no API key" in _error_body(info.value.response)["message"]


def test_504_when_the_upstream_times_out(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k",
                  "timeouts": {"total_s": 0.3}}},
        openai_models(), reliability={"retries": 0},
    )
    fake_openai.enqueue(Reply(delay_s=2))
    with pytest.raises(openai.APIStatusError) as info:
        server.client().chat.completions.create(model="gpt-fake", messages=MESSAGES)
    assert info.value.status_code == 504
    assert "timeout" in _error_body(info.value.response)["message"].lower() or \
        "timed out" in _error_body(info.value.response)["message"].lower()


def test_upstream_400_is_not_retried_nor_a_5xx(gateway: GatewayServer, fake_openai: FakeOpenAI):
    fake_openai.enqueue(Reply(status=400, error={"error": {
        "message": "Invalid value for 'logit_bias'", "type": "invalid_request_error"}}))
    with pytest.raises(openai.BadRequestError) as info:
        gateway.client().chat.completions.create(model="gpt-fake", messages=MESSAGES)
    assert "logit_bias" in _error_body(info.value.response)["message"]
    assert fake_openai.hits == 1


def test_unknown_path_is_openai_shaped(gateway: GatewayServer):
    with gateway.http() as http:
        r = http.get("/v1/nothing-here")
    assert r.status_code == 404
    assert _error_body(r)["type"] == "invalid_request_error"
