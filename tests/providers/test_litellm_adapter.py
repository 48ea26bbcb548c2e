"""The litellm adapter, with no network: litellm makes real HTTP calls to the fake OpenAI server
on 127.0.0.1 (as `kind: litellm` with `litellm_provider: openai`, and as `kind: mistral`, whose
litellm provider speaks OpenAI's format to `api_base`)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from gateway.config import ModelConfig, ProviderConfig
from gateway.errors import (
    ContextLengthExceeded,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from providers import build_provider
from providers.base import Completion, Provider, Usage
from providers.litellm_adapter import LiteLLMProvider, load_litellm, model_name
from providers.litellm_response import ChunkNormalizer
from tests.fakes.openai_server import FakeOpenAI
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
ROOT = Path(__file__).resolve().parents[2]
TOOL = {"id": "call_abc", "name": "get_weather", "arguments": '{"city": "Paris", "unit": "c"}'}
WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
# kind -> extra provider settings that make litellm speak OpenAI's format to the fake
KINDS = {"litellm": {"litellm_provider": "openai"}, "mistral": {}}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def with_provider(
    fake: FakeOpenAI,
    use: Callable[[Provider, Any], Awaitable[T]],
    kind: str = "litellm",
    base_url: str | None = None,
) -> T:
    config = make_config(kind, base_url or fake.url, upstream="fake-model", **KINDS[kind])

    async def main() -> T:
        adapter = build_provider(config.providers["up"])
        try:
            return await use(adapter, config)
        finally:
            await adapter.aclose()

    return asyncio.run(main())


def complete(
    fake: FakeOpenAI, body: dict[str, Any], *, kind: str = "litellm", **timeouts: float
) -> tuple[dict[str, Any], Usage]:
    async def use(p: Provider, config: Any) -> Completion:
        return await p.complete(make_call(config, body, **timeouts))

    done = with_provider(fake, use, kind)
    out: dict[str, Any] = orjson.loads(done.body)
    validate("CreateChatCompletionResponse", out, strict=True)
    return out, done.usage


def stream(
    fake: FakeOpenAI, body: dict[str, Any], *, kind: str = "litellm", **timeouts: float
) -> tuple[list[dict[str, Any]], Usage]:
    async def use(p: Provider, config: Any) -> tuple[list[dict[str, Any]], Usage]:
        return await collect(p, make_call(config, body, stream=True, **timeouts))

    return with_provider(fake, use, kind)


def failure(
    fake: FakeOpenAI, body: dict[str, Any], *, streaming: bool = False, **timeouts: float
) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        (stream if streaming else complete)(fake, body, **timeouts)
    return info.value


# -- naming and the call litellm gets ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "litellm_provider", "upstream", "expected"),
    [
        ("gemini", None, "gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("gemini", None, "gemini/gemini-2.5-flash", "gemini/gemini-2.5-flash"),
        ("mistral", None, "mistral-large-latest", "mistral/mistral-large-latest"),
        ("cohere", None, "command-a-03-2025", "cohere_chat/command-a-03-2025"),
        ("litellm", "groq", "llama-3.3-70b", "groq/llama-3.3-70b"),
        ("litellm", None, "groq/llama-3.3-70b", "groq/llama-3.3-70b"),
        ("litellm", None, "gpt-4o-mini", "gpt-4o-mini"),
    ],
)
def test_model_name(kind: str, litellm_provider: str | None, upstream: str, expected: str) -> None:
    provider = ProviderConfig(name="p", kind=kind, litellm_provider=litellm_provider)
    assert model_name(provider, ModelConfig(id="m", provider="p", upstream=upstream)) == expected


@pytest.mark.parametrize(
    "prefixed",
    [
        "gemini/gemini-2.5-flash",
        "mistral/mistral-large-latest",
        "cohere_chat/command-a-03-2025",
        "groq/llama-3.3-70b",
    ],
)
def test_litellm_knows_every_prefix(prefixed: str) -> None:
    litellm = load_litellm()  # never a bare import: it must not fetch the price map
    _, provider, _, _ = litellm.get_llm_provider(prefixed)
    assert provider == prefixed.split("/")[0]


def test_request_passes_openai_params_and_nothing_else() -> None:
    config = make_config(
        "litellm", "http://127.0.0.1:1/v1", upstream="m", litellm_provider="openai"
    )
    adapter = LiteLLMProvider(config.providers["up"])
    body = {
        **user(),
        "tools": [WEATHER],
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "n": 2,
        "stop": ["END"],
        "seed": 7,
        "temperature": 0.1,
        "max_tokens": 30,
        "user": "u",
        # never forwarded: keys that would steer litellm itself
        "api_base": "http://evil",
        "mock_response": "x",
        "metadata": {"a": 1},
        "stream_options": {"include_usage": False},
    }
    kwargs = adapter.request(make_call(config, body), stream=True)
    assert kwargs["model"] == "openai/m" and kwargs["api_base"] == "http://127.0.0.1:1/v1"
    assert kwargs["api_key"] == "sk-test"
    assert (kwargs["max_retries"], kwargs["num_retries"]) == (0, 0)
    assert kwargs["stream"] is True and kwargs["stream_options"] == {"include_usage": True}
    for key in (
        "tools",
        "tool_choice",
        "response_format",
        "n",
        "stop",
        "seed",
        "temperature",
        "max_tokens",
        "user",
    ):
        assert kwargs[key] == body[key], key
    assert "mock_response" not in kwargs and "metadata" not in kwargs
    assert kwargs["messages"] == body["messages"]


def test_warm_imports_litellm_once() -> None:
    adapter = LiteLLMProvider(make_config("gemini", None).providers["up"])
    adapter.warm()
    first = adapter._litellm
    adapter.warm()
    assert first is not None and adapter._litellm is first and first is load_litellm()


def test_registry_builds_it_for_each_kind() -> None:
    for kind in ("gemini", "mistral", "cohere", "litellm"):
        config = make_config(kind, None)
        assert isinstance(build_provider(config.providers["up"]), LiteLLMProvider)


def test_the_gateway_never_imports_litellm_unless_configured() -> None:
    code = """
import importlib, importlib.util, sys
from gateway.config import parse_config
from providers import build_provider
for name in ("gateway.app", "gateway.cli", "gateway.pipeline", "providers.openai_compat",
             "providers.anthropic"):
    if importlib.util.find_spec(name) is not None:
        importlib.import_module(name)
config = parse_config({"providers": {"o": {"kind": "openai", "base_url": "http://x/v1"},
                                     "a": {"kind": "anthropic", "api_key": "k"}},
                       "models": [{"id": "m", "provider": "o"}]}, env={})
for p in config.providers.values():
    build_provider(p)
assert "providers.openai_compat" in sys.modules and "providers.anthropic" in sys.modules
# building a litellm-backed adapter does not import litellm either: its first call (or warm) does
gemini = parse_config({"providers": {"g": {"kind": "gemini", "api_key": "k"}},
                       "models": [{"id": "m", "provider": "g"}]}, env={})
build_provider(gemini.providers["g"])
print(sorted(m for m in sys.modules if m == "litellm" or m.startswith("litellm.")))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


# -- through litellm to the fake ---------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_text(fake: FakeOpenAI, kind: str) -> None:
    fake.enqueue(Reply(content="Hi there", prompt_tokens=11, completion_tokens=2))
    out, usage = complete(fake, user(), kind=kind)
    assert out["model"] == MODEL_ID
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi there",
        "refusal": None,
    }
    assert out["choices"][0]["finish_reason"] == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens) == (11, 2)
    assert out["usage"]["total_tokens"] == 13
    assert fake.requests[-1]["model"] == "fake-model"
    assert fake.headers[-1]["authorization"] == "Bearer sk-test"


def test_params_reach_the_upstream(fake: FakeOpenAI) -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
    }
    complete(
        fake,
        {
            **user(),
            "tools": [WEATHER],
            "tool_choice": "required",
            "seed": 3,
            "stop": ["END"],
            "response_format": schema,
            "temperature": 0.5,
        },
    )
    sent = fake.requests[-1]
    assert sent["tools"] == [WEATHER] and sent["tool_choice"] == "required"
    assert (sent["seed"], sent["stop"], sent["temperature"]) == (3, ["END"], 0.5)
    assert sent["response_format"] == schema


def test_cached_tokens_in_usage(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(prompt_tokens=100, cached_tokens=64, completion_tokens=5))
    out, usage = complete(fake, user())
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 64
    assert usage.raw["prompt_tokens_details"]["cached_tokens"] == 64


def test_tool_call(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(tool_calls=[TOOL]))
    out, _ = complete(fake, {**user("Weather?"), "tools": [WEATHER]})
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_abc",
            "type": "function",
            "function": {"name": "get_weather", "arguments": TOOL["arguments"]},
        }
    ]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_stream_text(fake: FakeOpenAI, kind: str) -> None:
    fake.enqueue(Reply(content="one two three", prompt_tokens=9, completion_tokens=3))
    chunks, usage = stream(fake, user(), kind=kind)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert text_of(chunks) == "one two three"
    assert finish_reasons(chunks) == ["stop"]
    assert len({(c["id"], c["created"]) for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {MODEL_ID}
    assert usage.completion_tokens > 0 and usage.prompt_tokens > 0


def test_stream_usage_is_requested_and_lifted_out(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(prompt_tokens=40, completion_tokens=4))
    chunks, usage = stream(fake, user())
    assert fake.requests[-1]["stream_options"] == {"include_usage": True}
    assert (usage.prompt_tokens, usage.completion_tokens) == (40, 4)
    assert all(c["choices"] for c in chunks)  # no chunk but the Usage frame is choice-less


def test_stream_tool_calls(fake: FakeOpenAI) -> None:
    second = {"id": "call_def", "name": "get_time", "arguments": '{"tz": "UTC"}'}
    fake.enqueue(Reply(tool_calls=[TOOL, second]))
    chunks, usage = stream(fake, {**user("Weather?"), "tools": [WEATHER]})
    assert tool_calls_of(chunks) == [TOOL, second]  # also asserts OpenAI's fragment shape
    assert finish_reasons(chunks) == ["tool_calls"]
    calls = sdk_final(chunks, usage).choices[0].message.tool_calls  # the SDK agrees
    assert [(t.id, t.function.arguments) for t in calls] == [
        ("call_abc", TOOL["arguments"]),
        ("call_def", second["arguments"]),
    ]


# -- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "retryable", "fallback"),
    [
        (400, UpstreamHTTPError, False, False),
        (401, UpstreamHTTPError, False, True),
        (404, UpstreamHTTPError, False, True),
        (429, UpstreamHTTPError, True, True),
        (500, UpstreamHTTPError, True, True),
        (503, UpstreamHTTPError, True, True),
        (529, UpstreamHTTPError, True, True),
        (504, UpstreamTimeout, True, True),
    ],
)
def test_error_status(
    fake: FakeOpenAI, status: int, kind: type[ProviderError], retryable: bool, fallback: bool
) -> None:
    fake.enqueue(Reply(status=status))
    err = failure(fake, user())
    assert type(err) is kind
    assert (err.retryable, err.fallback) == (retryable, fallback)
    if kind is UpstreamHTTPError:
        assert err.http_status == status
        assert f"fake failure {status}" in err.message


def test_retry_after_is_kept(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=429, headers={"retry-after": "3"}))
    err = failure(fake, user())
    assert isinstance(err, UpstreamHTTPError) and err.retry_after_s == 3.0


def test_context_window(fake: FakeOpenAI) -> None:
    fake.enqueue(
        Reply(
            status=400,
            error={
                "error": {
                    "message": "This model's maximum context length is 8192 tokens",
                    "type": "invalid_request_error",
                    "code": "context_length_exceeded",
                }
            },
        )
    )
    err = failure(fake, user())
    assert isinstance(err, ContextLengthExceeded) and err.fallback and not err.retryable


def test_stream_error_status(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=503))
    err = failure(fake, user(), streaming=True)
    assert isinstance(err, UpstreamHTTPError) and err.http_status == 503 and err.retryable


def test_unreachable(fake: FakeOpenAI) -> None:
    async def use(p: Provider, config: Any) -> Completion:
        return await p.complete(make_call(config, user()))

    with pytest.raises(UpstreamConnectionError):
        with_provider(fake, use, base_url="http://127.0.0.1:9/v1")


def test_slow_answer_times_out(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(delay_s=1.2))  # without the timeout the call would succeed
    err = failure(fake, user(), total_s=0.4)
    assert isinstance(err, UpstreamTimeout) and "0.4s" in err.message


def test_stream_cut(fake: FakeOpenAI) -> None:
    fake.enqueue(Reply(cut_after=3, content="a b c d e f"))
    assert isinstance(failure(fake, user(), streaming=True), UpstreamConnectionError)


def test_stream_stall(fake: FakeOpenAI) -> None:
    # A 1 s silence between chunks against a 0.3 s limit. (Not `stall_after`: the OpenAI fake
    # then sleeps for an hour and its `stop()` waits 10 s for the handler.)
    fake.enqueue(Reply(chunk_delay_s=1.0, content="a b c d"))
    err = failure(fake, user(), streaming=True, first_token_s=0.3)
    assert isinstance(err, UpstreamTimeout) and err.retryable
    assert "0.3s" in err.message  # our gap timer fired, not litellm's 10 s read timeout


# -- stream normalisation (pure) ----------------------------------------------------------------


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if finish:
        choice["finish_reason"] = finish
    return {
        "id": "x",
        "created": 5,
        "model": "up",
        "object": "chat.completion.chunk",
        "choices": [choice],
        **extra,
    }


def normalise(raw: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], ChunkNormalizer]:
    normalizer = ChunkNormalizer("mine")
    out = [c for r in raw for c in normalizer.feed(r)]
    for c in out:
        validate("CreateChatCompletionStreamResponse", c, strict=True)
    return out, normalizer


def test_repeated_ids_and_names_are_dropped_after_the_first_fragment() -> None:
    # litellm repeats `type` (and some providers id and name) in every fragment.
    frag = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
    out, _ = normalise(
        [
            chunk({"role": "assistant", "tool_calls": [{"index": 0, **frag}]}),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "type": "function", "function": {"arguments": '{"a"'}}
                    ]
                }
            ),
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, **frag, "function": {"name": "f", "arguments": ": 1}"}}
                    ]
                }
            ),
            chunk({}, "tool_calls"),
        ]
    )
    assert tool_calls_of(out) == [{"id": "c1", "name": "f", "arguments": '{"a": 1}'}]
    assert finish_reasons(out) == ["tool_calls"]


def test_whole_calls_numbered_zero_become_separate_indexes() -> None:
    # Gemini-style: each chunk carries one complete call, every one at index 0.
    out, _ = normalise(
        [
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "a",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ]
                }
            ),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "b",
                            "type": "function",
                            "function": {"name": "g", "arguments": '{"x": 1}'},
                        }
                    ]
                }
            ),
        ]
    )
    assert tool_calls_of(out) == [
        {"id": "a", "name": "f", "arguments": "{}"},
        {"id": "b", "name": "g", "arguments": '{"x": 1}'},
    ]


def test_usage_chunk_is_lifted_out_and_the_role_comes_first() -> None:
    out, normalizer = normalise(
        [
            chunk({"content": "Hi"}),
            chunk({}, "stop"),
            chunk(
                {},
                usage={
                    "prompt_tokens": 3,
                    "completion_tokens": 1,
                    "total_tokens": 4,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": None},
                    "cache_read_input_tokens": 0,
                },
            ),
        ]
    )
    assert [c["choices"][0]["delta"] for c in out] == [{"role": "assistant", "content": "Hi"}, {}]
    assert {(c["id"], c["created"], c["model"]) for c in out} == {("x", 5, "mine")}
    usage = normalizer.usage()
    assert (usage.prompt_tokens, usage.completion_tokens) == (3, 1)
    assert usage.raw["cache_read_input_tokens"] == 0
    frame = orjson.loads(usage.frame.removeprefix(b"data: "))  # type: ignore[union-attr]
    validate("CreateChatCompletionStreamResponse", frame, strict=True)
    assert frame["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
