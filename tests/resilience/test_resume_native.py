"""The native Messages resume, event by event: what was sent is read back, the continuation's
request, and its events spliced into the message under way (indices, the cut block closed when
the continuation opens another kind, repeats and the prefill's dropped whitespace, usage)."""

from __future__ import annotations

from typing import Any

from gateway.resilience.resume import RESUME_USER
from gateway.resilience.resume_native import (
    NativeDelivered,
    NativeSplicer,
    event,
    native_continuation,
    parse,
    thinking_on,
)

START = {"type": "message_start", "message": {"id": "msg_1", "model": "m", "content": [],
                                              "usage": {"input_tokens": 9, "output_tokens": 1}}}


def block(i: int, kind: str = "text", **extra: Any) -> dict[str, Any]:
    return {"type": "content_block_start", "index": i, "content_block": {"type": kind, **extra}}


def text(i: int, t: str) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": t}}


def stop(i: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": i}


def delivered(*events: dict[str, Any]) -> NativeDelivered:
    d = NativeDelivered()
    for e in events:
        d.add(event(e))
    return d


def spliced(splicer: NativeSplicer, *events: dict[str, Any]) -> list[dict[str, Any]]:
    out = [parse(f) for e in events for f in splicer.feed(event(e))]
    return [e for e in [*out, *(parse(f) for f in splicer.close())] if e is not None]


def continuation_of(*events: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**START, "message": {**START["message"], "id": "msg_2"}}, *events,
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
             "usage": {"output_tokens": 4}}, {"type": "message_stop"}]


def test_what_was_sent_is_read_back() -> None:
    cut = delivered(START, block(0, "thinking", thinking=""), stop(0), block(1), text(1, "Hello "),
                    text(1, "there")).read()
    assert (cut.last, cut.kind, cut.open, cut.text, cut.resumable) == (1, "text", True,
                                                                        "Hello there", True)
    assert cut.message["id"] == "msg_1"
    assert not delivered(START, block(0, "thinking", thinking="")).read().resumable
    assert not delivered(START, block(0), text(0, "Let me look."), stop(0),
                         block(1, "tool_use", id="t", name="f", input={})).read().resumable


def test_the_continuation_request() -> None:
    body = {"model": "m", "max_tokens": 500, "messages": [{"role": "user", "content": "hi"}],
            "system": "Be brief."}
    prefilled = native_continuation(body, "Hello there.\n\n", prefill=True)
    assert prefilled["messages"][-1] == {"role": "assistant", "content": "Hello there."}
    assert prefilled["system"] == "Be brief." and prefilled["max_tokens"] < 500
    turn = native_continuation(body, "Hello there.", prefill=False)["messages"]
    assert turn[-2:] == [{"role": "assistant", "content": "Hello there."},
                         {"role": "user", "content": RESUME_USER}]
    assert native_continuation(body, "  ", prefill=True) == body  # nothing to go on from
    assert thinking_on({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert not thinking_on({"thinking": {"type": "disabled"}}) and not thinking_on(body)


def test_text_merges_into_the_cut_block_without_repeats_or_the_dropped_space() -> None:
    cut = delivered(START, block(0), text(0, "The quick brown fox jumps ")).read()
    out = spliced(NativeSplicer(cut, 20, 6), *continuation_of(
        block(0), {"type": "ping"}, text(0, " fox jumps over the lazy dog"), text(0, " again."),
        stop(0)))
    assert [e["type"] for e in out] == ["ping", "content_block_delta", "content_block_stop",
                                        "message_delta", "message_stop"]
    # held back until there was enough to judge, then sent once without the repeat
    assert out[1]["index"] == 0 and out[1]["delta"]["text"] == "over the lazy dog again."
    assert out[2]["index"] == 0
    assert out[3]["usage"] == {"output_tokens": 10, "input_tokens": 29}  # both calls summed


def test_a_continuation_opening_another_block_closes_the_cut_one() -> None:
    cut = delivered(START, block(0), text(0, "Let me check")).read()
    out = spliced(NativeSplicer(cut, 0, 0), *continuation_of(
        block(0, "tool_use", id="t", name="f", input={}), stop(0)))
    assert [(e["type"], e.get("index")) for e in out[:3]] == [
        ("content_block_stop", 0), ("content_block_start", 1), ("content_block_stop", 1)]


def test_after_a_closed_block_the_continuation_follows_it() -> None:
    cut = delivered(START, block(0), text(0, "Done."), stop(0)).read()
    out = spliced(NativeSplicer(cut, 0, 0), *continuation_of(block(0), text(0, " More."),
                                                              stop(0)))
    assert [(e["type"], e.get("index")) for e in out[:3]] == [
        ("content_block_start", 1), ("content_block_delta", 1), ("content_block_stop", 1)]


def test_a_continuation_without_blocks_still_closes_the_cut_one() -> None:
    cut = delivered(START, block(0), text(0, "Almost")).read()
    out = spliced(NativeSplicer(cut, 0, 0), *continuation_of())
    assert [(e["type"], e.get("index")) for e in out] == [
        ("content_block_stop", 0), ("message_delta", None), ("message_stop", None)]
