"""The simulated upstream: OpenAI's shapes, answers that follow the prompt, seeded failures, timing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import orjson
import pytest

from gateway.config import GatewayConfig
from gateway.errors import UpstreamHTTPError, UpstreamTimeout
from gateway.routing.prompt import view
from gateway.routing.tokens import estimate_prompt
from providers import build_provider
from providers.base import Provider
from providers.simulated import FINGERPRINT, SimulatedProvider
from tests.gateway_server import GatewayServer
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
FAST = {"latency_ms": 1, "tokens_per_s": 100_000}
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "required": ["city", "days", "unit"],
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"},
                   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


def setup(**simulate: Any) -> tuple[GatewayConfig, Provider]:
    config = make_config("simulated", None, simulate={**FAST, **simulate})
    return config, build_provider(config.providers["up"])


def complete(body: dict[str, Any], **simulate: Any) -> dict[str, Any]:
    config, provider = setup(**simulate)
    done = run(provider.complete(make_call(config, body)))
    out: dict[str, Any] = orjson.loads(done.body)
    validate("CreateChatCompletionResponse", out, strict=True)
    return out


def test_registered_by_kind_and_needs_no_key() -> None:
    config, provider = setup()
    assert isinstance(provider, SimulatedProvider)
    assert config.providers["up"].has_key
    assert "failure_rate=0" in repr(provider)


def test_answer_is_marked_and_follows_the_prompt() -> None:
    a = complete(user("Write a Python function that reverses a list"))
    text = a["choices"][0]["message"]["content"]
    assert a["system_fingerprint"] == FINGERPRINT and a["model"] == MODEL_ID
    assert text.startswith("[simulated] ") and "no real model was called" in text
    assert "reverses a list" in text
    assert complete(user("Write a Python function that reverses a list"))["choices"][0][
        "message"]["content"] == text, "the same prompt gets the same answer"
    other = complete(user("Summarise the French revolution in two lines"))
    assert other["choices"][0]["message"]["content"] != text


def test_usage_is_counted_like_a_real_answer() -> None:
    body = user("How many moons has Mars?")
    a = complete(body)
    usage = a["usage"]
    assert usage["prompt_tokens"] == estimate_prompt(view(body))
    words = a["choices"][0]["message"]["content"].split(" ")
    assert usage["completion_tokens"] == len(words)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_chunks_are_valid_and_say_what_complete_says() -> None:
    config, provider = setup(tokens_per_s=500)
    body = user("Explain what a circuit breaker does")
    chunks, usage = run(collect(provider, make_call(config, body, stream=True)))
    assert len(chunks) > 3, "the answer arrives in several frames"
    assert all(c["system_fingerprint"] == FINGERPRINT for c in chunks)
    assert finish_reasons(chunks) == ["stop"]
    final = sdk_final(chunks, usage)
    assert final.choices[0].message.content == text_of(chunks)
    whole = orjson.loads(run(provider.complete(make_call(config, body))).body)
    assert whole["choices"][0]["message"]["content"] == text_of(chunks)
    assert usage.completion_tokens == whole["usage"]["completion_tokens"] > 0


def test_tool_call_fits_the_schema_and_the_tool_result_gets_text() -> None:
    body = {**user("What's the weather in Paris?"), "tools": [WEATHER]}
    a = complete(body)
    choice = a["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    call = choice["message"]["tool_calls"][0]
    args = orjson.loads(call["function"]["arguments"])
    assert call["function"]["name"] == "get_weather"
    assert set(args) == {"city", "days", "unit"} and args["unit"] in ("celsius", "fahrenheit")
    assert isinstance(args["days"], int)

    config, provider = setup()
    chunks, _ = run(collect(provider, make_call(config, body, stream=True)))
    assert [c["name"] for c in tool_calls_of(chunks)] == ["get_weather"]
    assert orjson.loads(tool_calls_of(chunks)[0]["arguments"]) == args

    answered = {**body, "messages": [*body["messages"], choice["message"],
                                     {"role": "tool", "tool_call_id": call["id"], "content": "18C"}]}
    assert complete(answered)["choices"][0]["finish_reason"] == "stop"
    assert complete({**body, "tool_choice": "none"})["choices"][0]["message"]["content"]


def test_json_modes_n_and_max_tokens() -> None:
    schema = {"type": "object", "required": ["name", "tags"],
              "properties": {"name": {"type": "string"}, "tags": {"type": "array",
                                                                  "items": {"type": "string"}}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "schema": schema}}
    out = orjson.loads(complete({**user("Extract the person"), "response_format": fmt})[
        "choices"][0]["message"]["content"])
    assert set(out) == {"name", "tags"} and isinstance(out["tags"], list)
    plain = complete({**user("Anything"), "response_format": {"type": "json_object"}})
    assert orjson.loads(plain["choices"][0]["message"]["content"])["simulated"] is True

    three = complete({**user("Three ideas for a name"), "n": 3})
    texts = [c["message"]["content"] for c in three["choices"]]
    assert [c["index"] for c in three["choices"]] == [0, 1, 2] and len(set(texts)) == 3

    cut = complete({**user("Tell me a long story"), "max_tokens": 4})
    assert cut["choices"][0]["finish_reason"] == "length"
    assert cut["usage"]["completion_tokens"] == 4


def test_failures_follow_the_seed() -> None:
    def pattern(seed: int, rate: float, calls: int = 60) -> list[bool]:
        config, provider = setup(failure_rate=rate, seed=seed)
        out = []
        for _ in range(calls):
            try:
                run(provider.complete(make_call(config, user("hi"))))
                out.append(False)
            except UpstreamHTTPError as exc:
                assert exc.http_status == 503 and exc.retryable and "simulated" in exc.message
                out.append(True)
        return out

    first = pattern(7, 0.3)
    assert pattern(7, 0.3) == first, "the same seed fails the same calls"
    assert pattern(8, 0.3) != first
    assert 5 <= sum(first) <= 30
    assert not any(pattern(7, 0.0, 20)) and all(pattern(7, 1.0, 20))


def test_repeated_conversation_reports_cached_tokens() -> None:
    config, provider = setup()
    system = {"role": "system", "content": "You are a careful assistant. " * 20}
    first = {"messages": [system, {"role": "user", "content": "First question?"}]}
    again = {"messages": [system, {"role": "user", "content": "Second question?"}]}
    one = orjson.loads(run(provider.complete(make_call(config, first))).body)["usage"]
    two = orjson.loads(run(provider.complete(make_call(config, again))).body)["usage"]
    assert one["prompt_tokens_details"]["cached_tokens"] == 0
    cached = two["prompt_tokens_details"]["cached_tokens"]
    assert cached == estimate_prompt(view({"messages": [system]})) and cached < two["prompt_tokens"]


def test_latency_and_timeout() -> None:
    config, provider = setup(latency_ms=200, tokens_per_s=1000)
    started = time.perf_counter()
    run(provider.complete(make_call(config, user("hi"))))
    assert time.perf_counter() - started >= 0.2 * 0.6, "the time to first token is waited"
    with pytest.raises(UpstreamTimeout):
        run(provider.complete(make_call(config, user("hi"), total_s=0.05)))


def test_through_the_gateway_with_the_sdk(tmp_path: Any) -> None:
    from tests.gateway_server import config_dict

    tree = config_dict(tmp_path / "g.db", {"sim": {"kind": "simulated", "simulate": FAST}},
                       [{"id": "sim-model", "provider": "sim", "input_usd_per_mtok": 1,
                         "output_usd_per_mtok": 2}])
    with GatewayServer(tree) as server:
        client = server.client()
        done = client.chat.completions.create(
            model="sim-model", messages=[{"role": "user", "content": "Name three rivers"}])
        assert done.system_fingerprint == FINGERPRINT and done.model == "sim-model"
        assert done.choices[0].message.content.startswith("[simulated]")
        assert done.usage is not None and done.usage.completion_tokens > 0
        stream = client.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "Name three rivers"}],
            stream=True, stream_options={"include_usage": True})
        chunks = list(stream)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == done.choices[0].message.content
        assert chunks[-1].usage is not None
