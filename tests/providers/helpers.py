"""Shared by the adapter tests: a config around one provider, calls, and reading a stream back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.config import GatewayConfig, Timeouts, parse_config
from gateway.resilience.timeouts import Timed
from providers.base import Provider, UpstreamCall, Usage
from tests.spec import validate

MODEL_ID = "claude-test"


def make_config(
    kind: str, base_url: str | None, upstream: str = "claude-upstream", **provider: Any
) -> GatewayConfig:
    """One provider named `up` of `kind`, one model `MODEL_ID` on it."""
    tree = {
        "providers": {"up": {"kind": kind, "base_url": base_url, "api_key": "sk-test", **provider}},
        "models": [{"id": MODEL_ID, "provider": "up", "upstream": upstream}],
    }
    return parse_config(tree, env={})


def make_call(
    config: GatewayConfig, body: Mapping[str, Any], *, stream: bool = False, **timeouts: float
) -> UpstreamCall:
    model = config.models[0]
    limits = Timeouts(**{**config.timeouts_for(model).model_dump(), **timeouts})
    return UpstreamCall(body=body, model=model, timeouts=limits, stream=stream)


def user(text: str = "Hi") -> dict[str, Any]:
    return {"model": MODEL_ID, "messages": [{"role": "user", "content": text}]}


async def collect(provider: Provider, call: UpstreamCall) -> tuple[list[dict[str, Any]], Usage]:
    """Every chunk of a stream (each checked against OpenAI's schema) and its final Usage, read
    as the gateway reads it: through the Timed wrapper, which bounds the waits and drops the
    adapter's keep-alives."""
    chunks: list[dict[str, Any]] = []
    usage: Usage | None = None
    async for item in Timed(provider).stream(call):
        assert usage is None, "nothing may follow the Usage"
        if isinstance(item, Usage):
            usage = item
            continue
        assert item.startswith(b"data: ") and item.endswith(b"\n\n"), item
        chunk = orjson.loads(item[6:])
        validate("CreateChatCompletionStreamResponse", chunk, strict=True)
        chunks.append(chunk)
    assert usage is not None, "a stream must end with a Usage"
    assert usage.frame is not None
    frame = orjson.loads(usage.frame.removeprefix(b"data: "))
    validate("CreateChatCompletionStreamResponse", frame, strict=True)
    assert frame["choices"] == [] and frame["usage"]["prompt_tokens"] == usage.prompt_tokens
    return chunks, usage


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def tool_calls_of(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rebuild the tool calls as a client does, asserting OpenAI's fragment shape on the way:
    id, type and name in the first fragment of each index, and never again."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for frag in choice["delta"].get("tool_calls") or []:
                i = frag["index"]
                if i not in calls:
                    assert frag.get("id") and frag.get("type") == "function", frag
                    assert frag["function"].get("name"), frag
                    calls[i] = {
                        "id": frag["id"],
                        "name": frag["function"]["name"],
                        "arguments": frag["function"].get("arguments") or "",
                    }
                else:
                    assert set(frag) == {"index", "function"}, f"repeated id/type: {frag}"
                    assert set(frag["function"]) == {"arguments"}, f"repeated name: {frag}"
                    calls[i]["arguments"] += frag["function"]["arguments"]
    return [calls[i] for i in sorted(calls)]


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    return [
        c["choices"][0]["finish_reason"]
        for c in chunks
        if c["choices"] and c["choices"][0]["finish_reason"]
    ]


def sdk_final(chunks: list[dict[str, Any]], usage: Usage) -> Any:
    """What the official OpenAI SDK's stream accumulator makes of these chunks."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state: Any = ChatCompletionStreamState()
    assert usage.frame is not None
    for chunk in [*chunks, orjson.loads(usage.frame.removeprefix(b"data: "))]:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    return state.get_final_completion()
