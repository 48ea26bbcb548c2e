"""Streaming through the gateway: pass-through, usage, tool-call deltas, cuts, disconnects."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import row, rows
from tests.spec import validate

MESSAGES = [{"role": "user", "content": "Say hello"}]


def test_stream_passes_through_and_logs_usage(gateway: GatewayServer, fake_openai: FakeOpenAI):
    fake_openai.enqueue(Reply(content="one two three four", prompt_tokens=20,
                              completion_tokens=4))
    with gateway.client().chat.completions.with_streaming_response.create(
        model="gpt-fake", messages=MESSAGES, stream=True,
    ) as response:
        request_id = response.headers["x-request-id"]
        assert response.headers["x-gateway-model"] == "gpt-fake"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert all(c.model == "gpt-fake" for c in chunks)
    assert all(c.usage is None for c in chunks)  # the client did not ask for usage
    # ...but the gateway always asks upstream, so the cost is known
    assert fake_openai.requests[0]["stream_options"] == {"include_usage": True}
    logged = row(gateway, request_id)
    assert logged["status"] == "success" and logged["stream"] == 1
    assert (logged["prompt_tokens"], logged["completion_tokens"]) == (20, 4)
    assert logged["cost_usd"] == pytest.approx((20 * 2.5 + 4 * 10.0) / 1e6)
    assert logged["ttft_ms"] is not None and logged["ttft_ms"] <= logged["latency_ms"]


def test_include_usage_reaches_the_client(gateway: GatewayServer, fake_openai: FakeOpenAI):
    stream = gateway.client().chat.completions.create(
        model="gpt-fake", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.prompt_tokens == 12 and chunks[-1].usage.completion_tokens == 7
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_every_chunk_matches_openai_schema(gateway: GatewayServer, fake_openai: FakeOpenAI):
    body = {"model": "gpt-fake", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}
    with gateway.http() as http, http.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        validate("CreateChatCompletionStreamResponse", json.loads(event))


def test_streamed_tool_calls_accumulate(gateway: GatewayServer, fake_openai: FakeOpenAI):
    args = json.dumps({"city": "Paris", "unit": "celsius", "days": 3})
    fake_openai.enqueue(Reply(tool_calls=[
        {"id": "call_a", "name": "get_weather", "arguments": args},
        {"id": "call_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    ]))
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_weather", "get_time")]
    with gateway.client().chat.completions.stream(
        model="gpt-fake", messages=MESSAGES, tools=tools,
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.id, c.function.name) for c in calls] == [("call_a", "get_weather"),
                                                        ("call_b", "get_time")]
    assert json.loads(calls[0].function.arguments) == json.loads(args)
    assert calls[1].function.arguments == '{"tz": "CET"}'
    assert final.choices[0].finish_reason == "tool_calls"


def test_tool_call_stream_cut_after_a_fragment_ends_with_error_event(gateway: GatewayServer,
                                                                      fake_openai: FakeOpenAI):
    # A tool call half sent cannot be resumed: the client gets one error event, and the row
    # says what happened.
    call = {"id": "call_1", "name": "lookup", "arguments": '{"city": "Paris", "days": 3}'}
    fake_openai.enqueue(Reply(tool_calls=[call], cut_after=3))
    with gateway.client().chat.completions.with_streaming_response.create(
        model="gpt-fake", messages=MESSAGES, stream=True,
    ) as response:
        request_id = response.headers["x-request-id"]
        with pytest.raises(openai.APIError) as info:
            list(response.parse())
    assert "mid-stream" in str(info.value) or "cut" in str(info.value)
    logged = row(gateway, request_id)
    assert logged["status"] == "error"
    assert "mid-stream" in logged["error"]
    assert fake_openai.hits == 1  # a fragment had reached the client: no fallback, no retry


def test_stream_retries_before_the_first_byte(gateway: GatewayServer, fake_openai: FakeOpenAI):
    fake_openai.enqueue(Reply(content="x", cut_after=0))
    chunks = list(gateway.client().chat.completions.create(
        model="gpt-fake", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
        == "Hello from the fake upstream."
    assert fake_openai.hits == 2


def test_client_disconnect_mid_stream_leaves_a_row(gateway: GatewayServer,
                                                   fake_openai: FakeOpenAI):
    fake_openai.enqueue(Reply(content=" ".join(["word"] * 200), chunk_delay_s=0.02))
    body = {"model": "gpt-fake", "messages": MESSAGES, "stream": True}
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as r:
            request_id = r.headers["x-request-id"]
            lines = r.iter_lines()
            for _ in range(5):
                next(lines)
        # leaving the block closes the connection with the stream half read
    time.sleep(0.3)
    logged = row(gateway, request_id)
    assert logged["status"] == "error"
    assert logged["http_status"] == 499
    assert "disconnected" in logged["error"]
    assert len(rows(gateway)) == 1
