"""Messages door, stream encoder (pure): Anthropic's exact event sequence for any sequence of
chat chunks, read back by Anthropic's own SDK types and accumulator."""

from __future__ import annotations

from gateway.doors.messages_stream import MessagesEncoder
from gateway.errors import UpstreamUnavailable
from providers.base import Usage
from tests.doors.streams import anthropic_message, chunk, run, tool

ROLE = chunk({"role": "assistant", "content": ""})


def encoder(estimate: int = 42) -> MessagesEncoder:
    return MessagesEncoder("msg_1", "gw-model", estimate)


def test_text_then_tools_then_text() -> None:
    chunks = [ROLE, chunk({"content": "Let me look."}),
              tool(0, "", "call_a", "find"), tool(0, '{"q": '), tool(0, '"x"}'),
              tool(1, '{}', "call_b", "list"),
              chunk({"content": "Done."}), chunk({}, "tool_calls")]
    usage = Usage(prompt_tokens=30, completion_tokens=12,
                  raw={"prompt_tokens": 30, "completion_tokens": 12,
                       "prompt_tokens_details": {"cached_tokens": 20}})
    events = run(encoder(), chunks, usage)
    names = [n for n, _ in events]
    assert names == [
        "message_start", "content_block_start", "ping", "content_block_delta",
        "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
        "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
        "message_stop"]
    starts = [d for n, d in events if n == "content_block_start"]
    assert [s["index"] for s in starts] == [0, 1, 2, 3]
    message = anthropic_message(events)
    assert [b.type for b in message.content] == ["text", "tool_use", "tool_use", "text"]
    assert message.content[1].id == "call_a" and message.content[1].input == {"q": "x"}
    assert message.content[2].input == {} and message.content[3].text == "Done."
    assert message.stop_reason == "tool_use" and message.model == "gw-model"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.output_tokens) == (10, 20, 12)


def test_start_carries_the_estimate_and_the_end_the_counts() -> None:
    events = run(encoder(estimate=77), [ROLE, chunk({"content": "x"}, "stop")],
                 Usage(prompt_tokens=50, completion_tokens=1))
    assert events[0][1]["message"]["usage"]["input_tokens"] == 77
    assert events[-2][1]["usage"] == {"input_tokens": 50, "cache_creation_input_tokens": 0,
                                      "cache_read_input_tokens": 0, "output_tokens": 1}


def test_usage_from_a_chunk_or_the_estimate() -> None:
    with_chunk = run(encoder(), [chunk({"content": "x"}, "stop"),
                                 {"choices": [], "usage": {"prompt_tokens": 9,
                                                           "completion_tokens": 2}}], None)
    assert with_chunk[-2][1]["usage"]["input_tokens"] == 9
    nothing = run(encoder(estimate=13), [chunk({"content": "x"}, "stop")], Usage())
    assert nothing[-2][1]["usage"]["input_tokens"] == 13


def test_empty_answer_and_stop_reasons() -> None:
    events = run(encoder(), [ROLE, chunk({}, "length")], None)
    assert [n for n, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert anthropic_message(events).stop_reason == "max_tokens"
    refused = run(encoder(), [chunk({"refusal": "No."}, "content_filter")], None)
    assert anthropic_message(refused).stop_reason == "refusal"


def test_interleaved_fragment_is_dropped_not_misplaced() -> None:
    enc = encoder()
    events = run(enc, [tool(0, '{"a":', "c0", "f"), tool(1, "{}", "c1", "g"), tool(0, "1}")],
                 None)
    assert enc.dropped == 1
    message = anthropic_message(events)
    assert [b.id for b in message.content] == ["c0", "c1"]


def test_missing_tool_id_gets_one_and_other_choices_are_ignored() -> None:
    other = {"choices": [{"index": 1, "delta": {"content": "no"}, "finish_reason": None}]}
    events = run(encoder(), [tool(0, "{}", "", "f"), other], None)
    message = anthropic_message(events)
    assert len(message.content) == 1 and message.content[0].id.startswith("toolu_")


def test_error_event() -> None:
    name, data = encoder().error(UpstreamUnavailable([], status=503)).split(b"\n")[:2]
    assert name == b"event: error"
    assert b'"overloaded_error"' in data
