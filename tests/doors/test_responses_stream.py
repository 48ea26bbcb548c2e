"""Responses door, stream encoder (pure): numbered typed events for any sequence of chat chunks,
each valid against OpenAI's spec and accumulated by OpenAI's SDK into the final Response."""

from __future__ import annotations

import orjson

from gateway.doors.responses_request import parse_responses
from gateway.doors.responses_stream import ResponsesEncoder
from gateway.errors import UpstreamUnavailable
from providers.base import Usage
from tests.doors.streams import chunk, openai_response, parse_frame, run, tool
from tests.spec import validate

ROLE = chunk({"role": "assistant", "content": ""})


def encoder(**body: object) -> ResponsesEncoder:
    req = parse_responses(orjson.dumps({"model": "auto", "input": "x", **body}), {})
    return ResponsesEncoder(req, "gw-model")


def test_text_then_calls() -> None:
    enc = encoder(tools=[{"type": "function", "name": "f", "parameters": {}}])
    chunks = [ROLE, chunk({"content": "Checking"}), chunk({"content": " now."}),
              tool(0, "", "c1", "f"), tool(0, '{"a":'), tool(0, "1}"), tool(1, "{}", "c2", "f"),
              chunk({}, "tool_calls")]
    usage = Usage(prompt_tokens=7, completion_tokens=5,
                  raw={"prompt_tokens": 7, "completion_tokens": 5,
                       "completion_tokens_details": {"reasoning_tokens": 2}})
    events = run(enc, chunks, usage)
    assert [n for n, _ in events] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    snapshot, final = openai_response(events)
    assert final.output_text == "Checking now."
    assert [(o.type, getattr(o, "arguments", None)) for o in final.output] == [
        ("message", None), ("function_call", '{"a":1}'), ("function_call", "{}")]
    assert [o.type for o in snapshot.output] == ["message", "function_call", "function_call"]
    assert final.usage.output_tokens_details.reasoning_tokens == 2
    assert enc.final is not None
    validate("Response", orjson.loads(enc.final))
    assert orjson.loads(enc.final) == events[-1][1]["response"]


def test_incomplete_at_the_limit() -> None:
    enc = encoder(max_output_tokens=2)
    events = run(enc, [chunk({"content": "cut"}, "length")], Usage(prompt_tokens=1))
    assert events[-1][0] == "response.incomplete"
    response = events[-1][1]["response"]
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["output"][0]["status"] == "incomplete"
    openai_response(events)  # every event valid, the SDK's state takes them


def test_usage_from_a_chunk() -> None:
    events = run(encoder(), [chunk({"content": "x"}, "stop"),
                             {"choices": [], "usage": {"prompt_tokens": 4,
                                                       "completion_tokens": 1}}], None)
    assert events[-1][1]["response"]["usage"]["total_tokens"] == 5


def test_interleaved_fragment_is_dropped() -> None:
    enc = encoder()
    events = run(enc, [tool(0, "{", "c0", "f"), tool(1, "{}", "c1", "g"), tool(0, "}")], None)
    assert enc.dropped == 1
    _, final = openai_response(events)
    assert [o.call_id for o in final.output] == ["c0", "c1"]


def test_error_events() -> None:
    enc = encoder()
    frames = [*enc.start(), *enc.feed(chunk({"content": "part"}))]
    frames.append(enc.error(UpstreamUnavailable([], status=502)))
    events = [parse_frame(f) for f in b"".join(frames).split(b"\n\n") if f]
    assert [n for n, _ in events[-2:]] == ["error", "response.failed"]
    assert events[-2][1]["code"] == "upstream_unavailable"
    failed = events[-1][1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    openai_response(events)
    assert enc.final is None  # nothing to store
