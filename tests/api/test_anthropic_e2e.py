"""The Anthropic adapter end to end: the OpenAI SDK -> the gateway -> a fake Messages API."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import row

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic() as fake:
        yield fake  # type: ignore[misc]


@pytest.fixture
def claude(make_gateway, fake_anthropic: FakeAnthropic) -> GatewayServer:
    return make_gateway(
        {"anthropic": {"kind": "anthropic", "base_url": fake_anthropic.base_url,
                       "api_key": "sk-ant"}},
        [{"id": "claude", "provider": "anthropic", "upstream": "claude-sonnet-4-5",
          "input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0,
          "capabilities": ["tools", "vision", "json", "streaming"]}],
    )


def test_non_streaming_through_anthropic(claude: GatewayServer, fake_anthropic: FakeAnthropic):
    raw = claude.client().chat.completions.with_raw_response.create(
        model="claude", messages=MESSAGES, max_tokens=100)
    completion = raw.parse()
    assert completion.model == "claude"
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    assert completion.choices[0].finish_reason == "stop"
    sent = fake_anthropic.requests[0]
    assert sent["model"] == "claude-sonnet-4-5" and sent["max_tokens"] == 100
    assert "Be brief." in json.dumps(sent["system"])
    assert fake_anthropic.headers[0]["x-api-key"] == "sk-ant"
    logged = row(claude, raw.headers["x-request-id"])
    assert (logged["prompt_tokens"], logged["completion_tokens"]) == (12, 7)
    assert logged["cost_usd"] == pytest.approx((12 * 3.0 + 7 * 15.0) / 1e6)
    assert logged["provider"] == "anthropic"


def test_streaming_through_anthropic_with_usage(claude: GatewayServer,
                                                fake_anthropic: FakeAnthropic):
    fake_anthropic.enqueue(Reply(content="one two three"))
    chunks = list(claude.client().chat.completions.create(
        model="claude", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) \
        == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 7
    assert {c.model for c in chunks} == {"claude"}


def test_streamed_tool_call_through_anthropic(claude: GatewayServer,
                                              fake_anthropic: FakeAnthropic):
    args = json.dumps({"city": "Paris", "days": 2})
    fake_anthropic.enqueue(Reply(tool_calls=[{"id": "toolu_1", "name": "weather",
                                              "arguments": args}]))
    tools = [{"type": "function", "function": {"name": "weather",
                                               "parameters": {"type": "object"}}}]
    with claude.client().chat.completions.stream(model="claude", messages=MESSAGES,
                                                 tools=tools) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name) == ("toolu_1", "weather")
    assert json.loads(call.function.arguments) == {"city": "Paris", "days": 2}
    assert final.choices[0].finish_reason == "tool_calls"
    assert fake_anthropic.requests[0]["tools"][0]["name"] == "weather"


def test_image_reaches_anthropic_as_base64(claude: GatewayServer, fake_anthropic: FakeAnthropic):
    content = [{"type": "text", "text": "What is this?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]
    claude.client().chat.completions.create(model="claude",
                                            messages=[{"role": "user", "content": content}])
    blocks = fake_anthropic.requests[0]["messages"][0]["content"]
    image = next(b for b in blocks if b["type"] == "image")
    assert image["source"] == {"type": "base64", "media_type": "image/png",
                               "data": "iVBORw0KGgo="}
