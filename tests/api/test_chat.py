"""Non-streaming chat completions through the gateway with the official OpenAI SDK."""

from __future__ import annotations

import json

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import row, rows
from tests.spec import validate


def test_completion_is_forwarded_and_logged(gateway: GatewayServer, fake_openai: FakeOpenAI):
    client = gateway.client()
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-fake", messages=[{"role": "user", "content": "hi"}], temperature=0.2,
        seed=7, extra_body={"routing": {"max_cost_usd": 1}},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.model == "gpt-fake"
    validate("CreateChatCompletionResponse", json.loads(raw.http_response.text))
    headers = raw.headers
    assert headers["x-gateway-model"] == "gpt-fake"
    assert headers["x-gateway-provider"] == "fake"
    assert headers["x-gateway-attempts"] == "1"
    assert headers["x-gateway-task"] not in ("", "none")
    # 12 prompt tokens at $2.5/Mtok + 7 completion tokens at $10/Mtok
    assert headers["x-gateway-cost-usd"] == "0.0001000000"

    sent = fake_openai.requests[0]
    assert sent["model"] == "fake-model"
    assert "routing" not in sent
    assert sent["temperature"] == 0.2 and sent["seed"] == 7
    assert fake_openai.headers[0]["authorization"] == "Bearer sk-fake"

    logged = row(gateway, headers["x-request-id"])
    assert logged["status"] == "success" and logged["http_status"] == 200
    assert logged["model"] == "gpt-fake" and logged["provider"] == "fake"
    assert logged["requested_model"] == "gpt-fake"
    assert (logged["prompt_tokens"], logged["completion_tokens"]) == (12, 7)
    assert logged["cost_usd"] == pytest.approx(0.0001, abs=1e-12)
    assert logged["attempts"] == 1
    assert logged["latency_ms"] > 0


def test_alias_resolves_to_model(gateway: GatewayServer, fake_openai: FakeOpenAI):
    completion = gateway.client().chat.completions.create(
        model="fake", messages=[{"role": "user", "content": "hi"}])
    assert completion.model == "gpt-fake"
    assert fake_openai.requests[0]["model"] == "fake-model"


def test_cached_tokens_are_kept_and_priced(make_gateway, fake_openai: FakeOpenAI):
    server = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}},
        [{"id": "m", "provider": "fake", "input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0,
          "cached_input_usd_per_mtok": 0.5}],
    )
    fake_openai.enqueue(Reply(prompt_tokens=1000, completion_tokens=100, cached_tokens=800))
    raw = server.client().chat.completions.with_raw_response.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
    logged = row(server, raw.headers["x-request-id"])
    # 200 fresh * 2.0 + 800 cached * 0.5 + 100 out * 8.0, per million
    assert logged["cost_usd"] == pytest.approx((200 * 2.0 + 800 * 0.5 + 100 * 8.0) / 1e6)
    usage = json.loads(logged["usage_json"])
    assert usage["prompt_tokens_details"]["cached_tokens"] == 800


def test_tool_call_round_trip(gateway: GatewayServer, fake_openai: FakeOpenAI):
    fake_openai.enqueue(Reply(tool_calls=[
        {"id": "call_1", "name": "get_weather", "arguments": '{"city": "Paris"}'}]))
    tools = [{"type": "function", "function": {
        "name": "get_weather", "parameters": {"type": "object",
                                              "properties": {"city": {"type": "string"}}}}}]
    completion = gateway.client().chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": "weather?"}], tools=tools,
        tool_choice="auto")
    call = completion.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("call_1", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"
    assert fake_openai.requests[0]["tools"] == tools
    assert fake_openai.requests[0]["tool_choice"] == "auto"


def test_image_parts_pass_through(gateway: GatewayServer, fake_openai: FakeOpenAI):
    content = [{"type": "text", "text": "What is in this picture?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    gateway.client().chat.completions.create(
        model="gpt-fake", messages=[{"role": "user", "content": content}])
    assert fake_openai.requests[0]["messages"][0]["content"] == content


def test_every_request_leaves_one_row_under_concurrency(gateway: GatewayServer):
    import concurrent.futures

    client = gateway.client()

    def call(i: int) -> str:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-fake", messages=[{"role": "user", "content": f"hello {i}"}])
        return raw.headers["x-request-id"]

    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        ids = list(pool.map(call, range(200)))
    assert len(set(ids)) == 200
    logged = rows(gateway)
    assert sorted(r["id"] for r in logged) == sorted(ids)
    assert all(r["status"] == "success" for r in logged)
