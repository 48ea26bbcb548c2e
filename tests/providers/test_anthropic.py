"""The Anthropic adapter against a fake Messages API on 127.0.0.1: bodies, streams, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import pytest

from gateway.errors import (
    ContextLengthExceeded,
    InvalidRequest,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from providers import build_provider
from providers.anthropic import AnthropicProvider
from providers.base import Completion, Provider, Usage
from tests.fakes.anthropic_server import FakeAnthropic, error_body, sse
from tests.fakes.server import Reply
from tests.providers.helpers import (
    MODEL_ID,
    collect,
    finish_reasons,
    make_call,
    make_config,
    sdk_final,
    text_of,
    tool_calls_of,
    user,
)
from tests.spec import validate

T = TypeVar("T")
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
TOOL = {
    "id": "toolu_01A",
    "name": "get_weather",
    "arguments": '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}',
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture
def fake() -> Any:
    with FakeAnthropic() as server:
        yield server


def with_provider(
    fake: FakeAnthropic, use: Callable[[Provider, Any], Awaitable[T]], **provider: Any
) -> T:
    """Build the adapter inside a fresh loop, run `use(adapter, config)`, close it."""
    config = make_config("anthropic", fake.base_url, **provider)

    async def main() -> T:
        adapter = build_provider(config.providers["up"])
        try:
            return await use(adapter, config)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def complete(fake: FakeAnthropic, body: dict[str, Any], **timeouts: float) -> dict[str, Any]:
    async def use(p: Provider, config: Any) -> Completion:
        return await p.complete(make_call(config, body, **timeouts))

    done = with_provider(fake, use)
    out: dict[str, Any] = orjson.loads(done.body)
    validate("CreateChatCompletionResponse", out, strict=True)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (
        out["usage"]["prompt_tokens"],
        out["usage"]["completion_tokens"],
    )
    return out


def stream(
    fake: FakeAnthropic, body: dict[str, Any], **timeouts: float
) -> tuple[list[dict[str, Any]], Usage]:
    async def use(p: Provider, config: Any) -> tuple[list[dict[str, Any]], Usage]:
        return await collect(p, make_call(config, body, stream=True, **timeouts))

    return with_provider(fake, use)


def failure(
    fake: FakeAnthropic, body: dict[str, Any], *, streaming: bool = False, **timeouts: float
) -> ProviderError | InvalidRequest:
    with pytest.raises((ProviderError, InvalidRequest)) as info:
        if streaming:
            stream(fake, body, **timeouts)
        else:
            complete(fake, body, **timeouts)
    return info.value


# -- the registry and the request on the wire ---------------------------------------------------


def test_registry_builds_it() -> None:
    config = make_config("anthropic", None)
    adapter = build_provider(config.providers["up"])
    assert isinstance(adapter, AnthropicProvider)
    assert adapter.http.base_url == "https://api.anthropic.com"


def test_headers_and_path(fake: FakeAnthropic) -> None:
    complete(fake, user())
    headers = fake.headers[-1]
    assert headers["x-api-key"] == "sk-test"
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["content-type"] == "application/json"
    assert "authorization" not in headers


def test_configured_headers_win(fake: FakeAnthropic) -> None:
    async def use(p: Provider, config: Any) -> Completion:
        return await p.complete(make_call(config, user()))

    with_provider(fake, use, headers={"anthropic-version": "2099-01-01", "anthropic-beta": "x"})
    assert fake.headers[-1]["anthropic-version"] == "2099-01-01"
    assert fake.headers[-1]["anthropic-beta"] == "x"


# -- non-streaming ------------------------------------------------------------------------------


def test_text(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(content="Bonjour", prompt_tokens=21, completion_tokens=3))
    out = complete(fake, user("Say hi in French"))
    assert out["model"] == MODEL_ID
    assert out["choices"][0]["message"]["content"] == "Bonjour"
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"] == {
        "prompt_tokens": 21,
        "completion_tokens": 3,
        "total_tokens": 24,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    }
    assert fake.requests[-1] == {
        "model": "claude-upstream",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Say hi in French"}],
    }


def test_system_and_sampling_reach_the_wire(fake: FakeAnthropic) -> None:
    complete(
        fake,
        {
            "messages": [
                {"role": "system", "content": "Be terse."},
                {"role": "user", "content": "Hi"},
            ],
            "temperature": 0.3,
            "max_tokens": 99,
            "stop": ["\n\nQ:", "\n"],
            "user": "u1",
        },
    )
    sent = fake.requests[-1]
    assert sent["system"] == "Be terse."
    assert sent["temperature"] == 0.3 and sent["max_tokens"] == 99
    assert sent["stop_sequences"] == ["\n\nQ:"]
    assert sent["metadata"] == {"user_id": "u1"}


def test_image(fake: FakeAnthropic) -> None:
    complete(
        fake,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ]
        },
    )
    (turn,) = fake.requests[-1]["messages"]
    assert turn["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }


def test_tools(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(tool_calls=[TOOL]))
    out = complete(fake, {**user("Weather?"), "tools": [WEATHER], "tool_choice": "required"})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == TOOL["id"] and call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == orjson.loads(TOOL["arguments"])
    assert fake.requests[-1]["tool_choice"] == {"type": "any"}
    assert fake.requests[-1]["tools"][0]["input_schema"] == WEATHER["function"]["parameters"]


def test_tool_results_are_accepted_upstream(fake: FakeAnthropic) -> None:
    # The fake, like the API, rejects a tool_result whose tool_use it has not seen.
    out = complete(
        fake,
        {
            "tools": [WEATHER],
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "toolu_9",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_9", "content": "18C"},
            ],
        },
    )
    assert out["choices"][0]["message"]["content"]
    last = fake.requests[-1]["messages"][-1]
    assert last == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "18C"}],
    }


@pytest.mark.parametrize(
    ("script", "finish"),
    [
        ("stop_sequence", "stop"),
        ("length", "length"),
        ("end_turn", "stop"),
    ],
)
def test_stop_reasons(fake: FakeAnthropic, script: str, finish: str) -> None:
    fake.enqueue(Reply(finish_reason=script))
    assert complete(fake, user())["choices"][0]["finish_reason"] == finish


def test_cached_tokens(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(prompt_tokens=2000, cached_tokens=1500, completion_tokens=10))
    out = complete(fake, user())
    assert out["usage"]["prompt_tokens"] == 2000
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 1500


def test_n_above_one_is_refused_before_any_call(fake: FakeAnthropic) -> None:
    err = failure(fake, {**user(), "n": 3})
    assert isinstance(err, InvalidRequest) and err.param == "n"
    assert fake.hits == 0


# -- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable", "fallback"),
    [
        (400, False, False),
        (401, False, True),
        (403, False, True),
        (404, False, True),
        (429, True, True),
        (500, True, True),
        (503, True, True),
        (529, True, True),
    ],
)
def test_error_status(fake: FakeAnthropic, status: int, retryable: bool, fallback: bool) -> None:
    fake.enqueue(Reply(status=status, error=error_body(status, f"scripted {status}")))
    err = failure(fake, user())
    assert isinstance(err, UpstreamHTTPError)
    assert (err.http_status, err.retryable, err.fallback) == (status, retryable, fallback)
    assert f"scripted {status}" in err.message  # Anthropic's own message, not the JSON


def test_retry_after_is_kept(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(status=429, headers={"retry-after": "7"}))
    err = failure(fake, user())
    assert isinstance(err, UpstreamHTTPError) and err.retry_after_s == 7.0


def test_prompt_too_long_is_context_length(fake: FakeAnthropic) -> None:
    fake.enqueue(
        Reply(
            status=400, error=error_body(400, "prompt is too long: 208310 tokens > 200000 maximum")
        )
    )
    assert isinstance(failure(fake, user()), ContextLengthExceeded)


def test_stream_error_status_before_any_chunk(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(status=529, error=error_body(529, "Overloaded")))
    err = failure(fake, user(), streaming=True)
    assert isinstance(err, UpstreamHTTPError) and err.http_status == 529 and err.retryable


def test_unreachable_upstream() -> None:
    config = make_config("anthropic", "http://127.0.0.1:9")  # discard port: nothing listens

    async def main() -> None:
        adapter = build_provider(config.providers["up"])
        try:
            await adapter.complete(make_call(config, user()))
        finally:
            await adapter.aclose()

    with pytest.raises(UpstreamConnectionError):
        asyncio.run(main())


def test_slow_answer_times_out(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(delay_s=1.0))  # without the timeout the call would succeed
    assert isinstance(failure(fake, user(), total_s=0.3), UpstreamTimeout)


# -- streaming ----------------------------------------------------------------------------------


def test_stream_text(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(content="The quick brown fox", prompt_tokens=30, completion_tokens=4))
    chunks, usage = stream(fake, user())
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "The quick brown fox"
    assert finish_reasons(chunks) == ["stop"]
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL_ID}
    assert (usage.prompt_tokens, usage.completion_tokens) == (30, 4)
    assert fake.requests[-1]["stream"] is True


def test_stream_tool_call(fake: FakeAnthropic) -> None:
    second = {"id": "toolu_02B", "name": "get_time", "arguments": '{"tz": "Europe/Paris"}'}
    fake.enqueue(Reply(tool_calls=[TOOL, second]))
    chunks, usage = stream(fake, {**user("Weather and time?"), "tools": [WEATHER]})
    calls = tool_calls_of(chunks)  # asserts id/name only in each index's first fragment
    assert [(c["id"], c["name"]) for c in calls] == [
        (TOOL["id"], "get_weather"),
        ("toolu_02B", "get_time"),
    ]
    assert orjson.loads(calls[0]["arguments"]) == orjson.loads(TOOL["arguments"])
    assert orjson.loads(calls[1]["arguments"]) == {"tz": "Europe/Paris"}
    fragments = [t for c in chunks for t in c["choices"][0]["delta"].get("tool_calls") or []]
    assert len(fragments) > 4  # really streamed in pieces
    assert finish_reasons(chunks) == ["tool_calls"]
    final = sdk_final(chunks, usage)  # the official SDK's accumulator agrees
    assert [(t.id, t.function.name) for t in final.choices[0].message.tool_calls] == [
        (TOOL["id"], "get_weather"),
        ("toolu_02B", "get_time"),
    ]
    assert final.usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_stream_cached_tokens(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(prompt_tokens=900, cached_tokens=800, completion_tokens=6))
    _, usage = stream(fake, user())
    assert (usage.prompt_tokens, usage.completion_tokens) == (900, 6)
    assert usage.raw["cache_read_input_tokens"] == 800
    assert usage.raw["prompt_tokens_details"]["cached_tokens"] == 800


def test_stream_scripted_events_with_text_before_a_tool(fake: FakeAnthropic) -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_x",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "m",
                "stop_reason": None,
                "usage": {"input_tokens": 5, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Checking."},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_7", "name": "lookup", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'},
        },
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use"},
            "usage": {"output_tokens": 12},
        },
        {"type": "message_stop"},
    ]
    fake.enqueue(Reply(raw=b"".join(sse(e) for e in events)))
    chunks, usage = stream(fake, user())
    assert text_of(chunks) == "Checking."
    assert tool_calls_of(chunks) == [{"id": "toolu_7", "name": "lookup", "arguments": '{"q": 1}'}]
    assert tool_calls_of(chunks) and chunks[2]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert usage.completion_tokens == 12


def test_stream_error_event_mid_stream(fake: FakeAnthropic) -> None:
    events = [
        {
            "type": "message_start",
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "m",
                "usage": {"input_tokens": 1},
            },
        },
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ]
    fake.enqueue(Reply(raw=b"".join(sse(e) for e in events)))
    err = failure(fake, user(), streaming=True)
    assert isinstance(err, UpstreamHTTPError)
    assert err.http_status == 529 and err.retryable and "Overloaded" in err.message


def test_stream_cut(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(cut_after=4))
    assert isinstance(failure(fake, user(), streaming=True), UpstreamConnectionError)


def test_stream_closed_early_without_message_stop(fake: FakeAnthropic) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "m",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "m",
            "usage": {"input_tokens": 1},
        },
    }
    fake.enqueue(Reply(raw=sse(start)))
    assert isinstance(failure(fake, user(), streaming=True), UpstreamConnectionError)


def test_stream_stall_times_out(fake: FakeAnthropic) -> None:
    fake.enqueue(Reply(stall_after=3))
    err = failure(fake, user(), streaming=True, idle_s=0.3)
    assert isinstance(err, UpstreamTimeout) and err.kind == "idle"
    assert "0.3s" in err.message  # the gap limit fired, not the 10 s total


def test_stopping_early_releases_the_connection(fake: FakeAnthropic) -> None:
    fake.default = Reply(content=" ".join(["word"] * 200), chunk_delay_s=0.002)

    async def use(p: Provider, config: Any) -> str:
        for _ in range(3):  # read one chunk and walk away: the pool of one must not run dry
            events = p.stream(make_call(config, user(), stream=True))
            async for _item in events:
                break
            await events.aclose()  # type: ignore[attr-defined]
        chunks, _ = await collect(p, make_call(config, user(), stream=True, total_s=3))
        return text_of(chunks)

    assert with_provider(fake, use, max_connections=1).startswith("word word")
    assert fake.hits == 4


def test_missing_key_is_a_401_from_upstream(fake: FakeAnthropic) -> None:
    async def use(p: Provider, config: Any) -> Completion:
        return await p.complete(make_call(config, user()))

    with pytest.raises(UpstreamHTTPError) as info:
        with_provider(fake, use, api_key=None)
    assert info.value.http_status == 401 and "x-api-key" in info.value.message
    assert "x-api-key" not in fake.headers[-1]
