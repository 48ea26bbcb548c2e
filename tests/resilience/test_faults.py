"""Fault injection through the running gateway: retries, Retry-After, fallback, breakers, timeouts."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.logdb import rows

MESSAGES = [{"role": "user", "content": "hi"}]


def two_providers(primary: FakeOpenAI, backup: FakeOpenAI, **model: object) -> tuple[dict, list]:
    providers = {
        "primary": {"kind": "openai", "base_url": primary.url, "api_key": "k"},
        "backup": {"kind": "openai", "base_url": backup.url, "api_key": "k"},
    }
    models = [
        {"id": "main", "provider": "primary", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2,
         "fallbacks": ["spare"], **model},
        {"id": "spare", "provider": "backup", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2},
    ]
    return providers, models


def test_retry_then_success(make_gateway, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI):
    server = make_gateway(*two_providers(fake_openai, fake_backup))
    fake_openai.enqueue(Reply(status=503))
    raw = server.client().chat.completions.with_raw_response.create(model="main",
                                                                    messages=MESSAGES)
    assert raw.headers["x-gateway-model"] == "main"
    assert raw.headers["x-gateway-attempts"] == "2"
    assert (fake_openai.hits, fake_backup.hits) == (2, 0)
    attempts = rows(server, "attempts")
    assert [(a["n"], a["status"], a["http_status"]) for a in attempts] == [
        (1, "error", 503), (2, "success", 200)]


def test_retry_after_is_honoured(make_gateway, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI):
    server = make_gateway(*two_providers(fake_openai, fake_backup))
    fake_openai.enqueue(Reply(status=429, headers={"retry-after": "0.6"}))
    started = time.monotonic()
    server.client().chat.completions.create(model="main", messages=MESSAGES)
    waited = time.monotonic() - started
    assert waited >= 0.6  # the configured backoff alone is at most 0.05 s
    assert fake_openai.hits == 2


def test_retry_after_ms_is_honoured(make_gateway, fake_openai: FakeOpenAI,
                                    fake_backup: FakeOpenAI):
    server = make_gateway(*two_providers(fake_openai, fake_backup))
    fake_openai.enqueue(Reply(status=429, headers={"retry-after-ms": "400"}))
    started = time.monotonic()
    server.client().chat.completions.create(model="main", messages=MESSAGES)
    assert time.monotonic() - started >= 0.4


def test_fallback_after_retries_records_every_attempt(make_gateway, fake_openai: FakeOpenAI,
                                                      fake_backup: FakeOpenAI):
    server = make_gateway(*two_providers(fake_openai, fake_backup))
    fake_openai.default = Reply(status=500)
    raw = server.client().chat.completions.with_raw_response.create(model="main",
                                                                    messages=MESSAGES)
    assert raw.parse().model == "spare"
    assert raw.headers["x-gateway-model"] == "spare"
    assert raw.headers["x-gateway-provider"] == "backup"
    assert raw.headers["x-gateway-attempts"] == "3"
    assert (fake_openai.hits, fake_backup.hits) == (2, 1)
    attempts = rows(server, "attempts")
    assert [(a["model"], a["status"]) for a in attempts] == [
        ("main", "error"), ("main", "error"), ("spare", "success")]
    (request,) = rows(server)
    assert request["model"] == "spare" and request["attempts"] == 3


def test_bad_request_does_not_fall_back(make_gateway, fake_openai: FakeOpenAI,
                                        fake_backup: FakeOpenAI):
    server = make_gateway(*two_providers(fake_openai, fake_backup))
    fake_openai.enqueue(Reply(status=400))
    with pytest.raises(openai.BadRequestError):
        server.client().chat.completions.create(model="main", messages=MESSAGES)
    assert (fake_openai.hits, fake_backup.hits) == (1, 0)


def test_context_length_error_falls_back_to_a_larger_window(make_gateway,
                                                            fake_openai: FakeOpenAI,
                                                            fake_backup: FakeOpenAI):
    providers, models = two_providers(fake_openai, fake_backup, context_window=8000)
    models[0]["fallbacks"] = ["small", "spare"]
    models[1]["context_window"] = 100000
    models.append({"id": "small", "provider": "backup", "context_window": 4000})
    server = make_gateway(providers, models)
    fake_openai.enqueue(Reply(status=400, error={"error": {
        "message": "This model's maximum context length is 8000 tokens",
        "code": "context_length_exceeded"}}))
    completion = server.client().chat.completions.create(model="main", messages=MESSAGES)
    assert completion.model == "spare"
    assert fake_backup.requests[0]["model"] == "spare"  # never "small": its window is smaller


def test_breaker_opens_stops_traffic_half_opens_and_recovers(make_gateway,
                                                             fake_openai: FakeOpenAI,
                                                             fake_backup: FakeOpenAI):
    providers, models = two_providers(fake_openai, fake_backup)
    server = make_gateway(providers, models, reliability={
        "retries": 0, "backoff": {"initial_s": 0.01, "max_s": 0.01},
        "circuit_breaker": {"failure_threshold": 3, "cooldown_s": 1.0}})
    client = server.client()
    fake_openai.default = Reply(status=500)
    for _ in range(3):
        assert client.chat.completions.create(model="main", messages=MESSAGES).model == "spare"
    assert fake_openai.hits == 3
    health = httpx.get(server.url + "/health").json()
    assert health["providers"]["primary"]["circuit"] == "open"
    for _ in range(5):  # open: the sick upstream gets nothing
        assert client.chat.completions.create(model="main", messages=MESSAGES).model == "spare"
    assert fake_openai.hits == 3
    metrics = httpx.get(server.url + "/metrics").text
    assert 'gateway_circuit_open{name="provider:primary"} 1.0' in metrics

    fake_openai.default = Reply()
    time.sleep(1.05)
    assert httpx.get(server.url + "/health").json()["providers"]["primary"]["circuit"] \
        == "half_open"
    assert client.chat.completions.create(model="main", messages=MESSAGES).model == "main"
    assert fake_openai.hits == 4  # the one probe
    assert httpx.get(server.url + "/health").json()["providers"]["primary"]["circuit"] \
        == "closed"


def test_circuit_reset_endpoint(make_gateway, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI):
    providers, models = two_providers(fake_openai, fake_backup)
    server = make_gateway(providers, models, reliability={
        "retries": 0, "circuit_breaker": {"failure_threshold": 1, "cooldown_s": 600}})
    fake_openai.enqueue(Reply(status=502))
    server.client().chat.completions.create(model="main", messages=MESSAGES)
    assert httpx.get(server.url + "/health").json()["providers"]["primary"]["circuit"] == "open"
    r = httpx.post(server.url + "/admin/circuits/primary/reset")
    assert r.status_code == 200 and r.json()["circuit"] == "closed"
    assert server.client().chat.completions.create(model="main", messages=MESSAGES).model \
        == "main"
    assert httpx.post(server.url + "/admin/circuits/nope/reset").status_code == 404


def test_connect_timeout_falls_back(make_gateway, fake_backup: FakeOpenAI):
    # A listener that never accepts, with its backlog full, leaves new connects hanging:
    # a connect timeout without sending traffic anywhere but loopback.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = []
    for _ in range(3):
        s = socket.socket()
        s.settimeout(0.2)
        try:
            s.connect(listener.getsockname())
        except OSError:
            pass
        filler.append(s)
    try:
        providers = {
            "dead": {"kind": "openai", "base_url": f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
                     "api_key": "k", "timeouts": {"connect_s": 0.2, "total_s": 0.5}},
            "backup": {"kind": "openai", "base_url": fake_backup.url, "api_key": "k"},
        }
        models = [{"id": "main", "provider": "dead", "fallbacks": ["spare"]},
                  {"id": "spare", "provider": "backup"}]
        server = make_gateway(providers, models, reliability={"retries": 0})
        completion = server.client().chat.completions.create(model="main", messages=MESSAGES)
        assert completion.model == "spare"
        (attempt, _) = rows(server, "attempts")
        assert "timeout" in attempt["error"] or "timed out" in attempt["error"]
    finally:
        for s in filler:
            s.close()
        listener.close()


def test_first_token_timeout_falls_back_for_streams(make_gateway, fake_openai: FakeOpenAI,
                                                    fake_backup: FakeOpenAI):
    providers, models = two_providers(fake_openai, fake_backup)
    providers["primary"]["timeouts"] = {"first_token_s": 0.3}
    server = make_gateway(providers, models, reliability={"retries": 0})
    fake_openai.enqueue(Reply(delay_s=3))
    chunks = list(server.client().chat.completions.create(model="main", messages=MESSAGES,
                                                          stream=True))
    assert {c.model for c in chunks} == {"spare"}
    (attempt, _) = rows(server, "attempts")
    assert "timeout" in attempt["error"]


def test_stalled_stream_is_resumed_on_the_fallback(make_gateway, fake_openai: FakeOpenAI,
                                                   fake_backup: FakeOpenAI):
    providers, models = two_providers(fake_openai, fake_backup)
    providers["primary"]["timeouts"] = {"idle_s": 0.3}
    server = make_gateway(providers, models, reliability={"retries": 0})
    fake_openai.enqueue(Reply(content="a b c d", stall_after=2))  # role, "a", then silence
    chunks = list(server.client().chat.completions.create(model="main", messages=MESSAGES,
                                                          stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "aHello from the fake upstream."
    assert {c.id for c in chunks} == {chunks[0].id}  # one answer
    # the fallback was asked to continue the text already sent, as an assistant prefill
    assert fake_backup.requests[0]["messages"][-1] == {"role": "assistant", "content": "a"}
    (request,) = rows(server)
    assert request["status"] == "success" and request["resumed"]
    first, second = rows(server, "attempts")
    assert first["status"] == "error" and "stalled" in first["error"]
    assert second["status"] == "success" and second["model"] == "spare"
