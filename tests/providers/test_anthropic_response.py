"""Anthropic answers and stream events -> OpenAI shape: pure, checked against OpenAI's schema."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.errors import ContextLengthExceeded, UpstreamConnectionError, UpstreamHTTPError
from providers.anthropic_response import StreamTranslator, completion, usage_of
from tests.providers.helpers import finish_reasons, text_of, tool_calls_of
from tests.spec import validate


def message(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_text_answer() -> None:
    body, usage = completion(
        message([{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}]), "claude"
    )
    validate("CreateChatCompletionResponse", body, strict=True)
    assert body["model"] == "claude" and body["object"] == "chat.completion"
    assert body["choices"] == [
        {
            "index": 0,
            "logprobs": None,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello world", "refusal": None},
        }
    ]
    assert (usage.prompt_tokens, usage.completion_tokens) == (10, 5)
    assert body["usage"]["total_tokens"] == 15


def test_tool_use_answer() -> None:
    body, _ = completion(
        message(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Paris", "days": [1, 2]},
                },
            ],
            stop="tool_use",
        ),
        "claude",
    )
    validate("CreateChatCompletionResponse", body, strict=True)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "toolu_1" and call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Paris", "days": [1, 2]}


def test_text_beside_tool_use_is_kept() -> None:
    body, _ = completion(
        message(
            [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t", "name": "f", "input": {}},
            ],
            stop="tool_use",
        ),
        "claude",
    )
    msg = body["choices"][0]["message"]
    assert msg["content"] == "Checking."
    assert msg["tool_calls"][0]["function"]["arguments"] == "{}"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
        ("something_new", "stop"),
    ],
)
def test_stop_reasons(stop: Any, finish: str) -> None:
    body, _ = completion(message([{"type": "text", "text": "x"}], stop=stop), "claude")
    assert body["choices"][0]["finish_reason"] == finish


def test_cache_tokens_count_in_the_prompt_and_stay_in_raw() -> None:
    usage = usage_of(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
        }
    )
    assert usage.prompt_tokens == 1210
    assert usage.completion_tokens == 5
    assert usage.raw["prompt_tokens_details"] == {"cached_tokens": 1000, "cache_write_tokens": 200}
    assert usage.raw["cache_read_input_tokens"] == 1000
    assert usage.raw["cache_creation_input_tokens"] == 200
    body, _ = completion(
        message([{"type": "text", "text": "x"}], cache_read_input_tokens=1000), "claude"
    )
    validate("CreateChatCompletionResponse", body, strict=True)
    assert body["usage"]["prompt_tokens"] == 1010
    assert "cache_read_input_tokens" not in body["usage"]  # the body stays OpenAI-shaped


# -- the stream ---------------------------------------------------------------------------------


def events_for(*blocks: list[dict[str, Any]], stop: str = "end_turn") -> list[dict[str, Any]]:
    """message_start, then per block its start / deltas / stop, then message_delta + stop."""
    out: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_s",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": "m",
                "stop_reason": None,
                "usage": {"input_tokens": 30, "output_tokens": 1, "cache_read_input_tokens": 8},
            },
        }
    ]
    for i, (start, *deltas) in enumerate(blocks):
        out.append({"type": "content_block_start", "index": i, "content_block": start})
        out.extend({"type": "content_block_delta", "index": i, "delta": d} for d in deltas)
        out.append({"type": "content_block_stop", "index": i})
        out.append({"type": "ping"})
    out.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 42},
        }
    )
    out.append({"type": "message_stop"})
    return out


def run(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], StreamTranslator]:
    translator = StreamTranslator("claude", "anthropic")
    chunks = [c for e in events for c in translator.feed(e)]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk, strict=True)
    return chunks, translator


def text(*pieces: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": ""}, *({"type": "text_delta", "text": p} for p in pieces)]


def tool(tool_id: str, name: str, *pieces: str) -> list[dict[str, Any]]:
    start = {"type": "tool_use", "id": tool_id, "name": name, "input": {}}
    return [start, *({"type": "input_json_delta", "partial_json": p} for p in ("", *pieces))]


def test_stream_text() -> None:
    chunks, translator = run(events_for(text("Hel", "lo")))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert text_of(chunks) == "Hello"
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert {c["id"] for c in chunks} == {"msg_s"}
    assert len({c["created"] for c in chunks}) == 1
    assert all(c["model"] == "claude" for c in chunks)
    usage = translator.usage()
    assert (usage.prompt_tokens, usage.completion_tokens) == (38, 42)
    frame = orjson.loads(usage.frame.removeprefix(b"data: "))  # type: ignore[union-attr]
    validate("CreateChatCompletionStreamResponse", frame, strict=True)
    assert frame["choices"] == [] and frame["id"] == "msg_s"
    assert frame["usage"]["prompt_tokens_details"]["cached_tokens"] == 8


def test_stream_text_then_two_tool_calls() -> None:
    # Block indexes count the text block; tool-call indexes start at 0 and count only tools.
    chunks, _ = run(
        events_for(
            text("Let me check."),
            tool("toolu_a", "get_weather", '{"ci', 'ty": "Par', 'is"}'),
            tool("toolu_b", "get_time", '{"tz": "CET"}'),
            stop="tool_use",
        )
    )
    assert text_of(chunks) == "Let me check."
    assert tool_calls_of(chunks) == [
        {"id": "toolu_a", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"id": "toolu_b", "name": "get_time", "arguments": '{"tz": "CET"}'},
    ]
    assert finish_reasons(chunks) == ["tool_calls"]


def test_stream_thinking_and_unknown_events_are_skipped() -> None:
    events = events_for(
        [
            {"type": "thinking", "thinking": ""},
            {"type": "thinking_delta", "thinking": "hmm"},
            {"type": "signature_delta", "signature": "abc"},
        ],
        text("Answer"),
    )
    events.insert(3, {"type": "some_future_event", "data": 1})
    chunks, _ = run(events)
    assert text_of(chunks) == "Answer"
    assert len(chunks) == 3  # role, "Answer", finish


@pytest.mark.parametrize(("stop", "finish"), [("max_tokens", "length"), ("stop_sequence", "stop")])
def test_stream_stop_reason(stop: str, finish: str) -> None:
    chunks, _ = run(events_for(text("x"), stop=stop))
    assert finish_reasons(chunks) == [finish]


def test_stream_message_delta_may_carry_final_input_counts() -> None:
    events = events_for(text("x"))
    events[-2]["usage"] = {
        "input_tokens": 31,
        "output_tokens": 9,
        "cache_read_input_tokens": 8,
        "cache_creation_input_tokens": None,
    }
    _, translator = run(events)
    usage = translator.usage()
    assert (usage.prompt_tokens, usage.completion_tokens) == (39, 9)


@pytest.mark.parametrize(
    ("kind", "status", "retryable", "fallback"),
    [
        ("overloaded_error", 529, True, True),
        ("api_error", 500, True, True),
        ("rate_limit_error", 429, True, True),
        ("invalid_request_error", 400, False, False),
    ],
)
def test_stream_error_event(kind: str, status: int, retryable: bool, fallback: bool) -> None:
    translator = StreamTranslator("claude", "anthropic")
    translator.feed(events_for(text("x"))[0])
    with pytest.raises(UpstreamHTTPError) as info:
        translator.feed({"type": "error", "error": {"type": kind, "message": "Overloaded"}})
    err = info.value
    assert (err.http_status, err.retryable, err.fallback) == (status, retryable, fallback)
    assert "Overloaded" in err.message


def test_stream_error_event_for_a_long_prompt_is_context_length() -> None:
    translator = StreamTranslator("claude", "anthropic")
    with pytest.raises(ContextLengthExceeded):
        translator.feed(
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                },
            }
        )


def test_a_stream_without_message_stop_was_cut() -> None:
    _, translator = run(events_for(text("x"))[:-1])
    with pytest.raises(UpstreamConnectionError):
        translator.usage()
