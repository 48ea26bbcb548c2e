"""Shared by the door stream tests: chat chunks to feed an encoder, and the SDKs' own readers of
what comes out (Anthropic's event types and accumulator; OpenAI's spec and stream state)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from pydantic import TypeAdapter

from gateway.doors.base import StreamEncoder
from providers.base import Usage


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


def tool(index: int, arguments: str, call_id: str | None = None, name: str | None = None
         ) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        fragment.update(id=call_id, type="function")
        fragment["function"]["name"] = name
    return chunk({"tool_calls": [fragment]})


def run(encoder: StreamEncoder, chunks: Iterable[dict[str, Any]], usage: Usage | None
        ) -> list[tuple[str, dict[str, Any]]]:
    """Every frame the encoder writes for these chunks, as (event name, data)."""
    frames = [*encoder.start()]
    for c in chunks:
        frames.extend(encoder.feed(c))
    frames.extend(encoder.finish(usage))
    return [parse_frame(f) for f in b"".join(frames).split(b"\n\n") if f]


def parse_frame(frame: bytes) -> tuple[str, dict[str, Any]]:
    name, data = frame.split(b"\n")
    assert name.startswith(b"event: ") and data.startswith(b"data: "), frame
    return name[7:].decode(), orjson.loads(data[6:])


def anthropic_message(events: list[tuple[str, dict[str, Any]]]) -> Any:
    """What Anthropic's SDK makes of an event stream: each event parsed into its type, then the
    SDK's accumulator (the one `messages.stream()` uses) builds the final message."""
    from anthropic.lib.streaming._messages import accumulate_event
    from anthropic.types import RawMessageStreamEvent

    adapter: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
    snapshot: Any = None
    bufs: dict[int, bytes] = {}
    for name, data in events:
        assert name == data["type"]
        if name == "ping":
            continue
        snapshot = accumulate_event(event=adapter.validate_python(data),
                                    current_snapshot=snapshot, json_bufs=bufs)
    return snapshot


def openai_response(events: list[tuple[str, dict[str, Any]]]) -> tuple[Any, Any]:
    """What OpenAI's SDK makes of a Responses event stream (its `responses.stream()` state):
    (the snapshot it accumulated from the deltas, the final Response it parsed or None), each
    event first checked against its own component of OpenAI's spec."""
    from openai import omit
    from openai.lib.streaming.responses._responses import ResponseStreamState
    from openai.types.responses import ResponseStreamEvent

    from tests.spec import members, validate

    adapter: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
    state: Any = ResponseStreamState(input_tools=[], text_format=omit)
    for n, (name, data) in enumerate(events):
        assert name == data["type"] and data["sequence_number"] == n
        validate(members("ResponseStreamEvent")[name], data)
        state.handle_event(adapter.validate_python(data))
    return state._ResponseStreamState__current_snapshot, state._completed_response
