"""The chain: fallback order, skip reasons, what stops the walk, the final error's status, and
resuming a stream cut mid-answer (spliced into one answer)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from gateway.config import ModelConfig, Timeouts
from gateway.errors import (
    CircuitOpen,
    ContextLengthExceeded,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.execution.attempts import AttemptLog, Recorded
from gateway.execution.chain import Chain
from gateway.plan import Step
from gateway.usage.events import RequestRecord
from providers.base import UpstreamCall, Usage
from tests.fakes.upstream import ScriptedUpstream, answer, frame

MODELS = {i: ModelConfig(id=i, provider=f"p-{i}", context_window=w)
          for i, w in (("a", 8000), ("b", 4000), ("c", 32000))}


def price(model: ModelConfig, usage: Usage) -> tuple[float | None, str | None]:
    return (usage.prompt_tokens + usage.completion_tokens) / 1e6, None


class Setup:
    def __init__(self, *ids: str, down: dict[str, str] | None = None, resume: bool = True,
                 retries: int = 0) -> None:
        self.record = RequestRecord(id="req_1")
        self.log = AttemptLog(self.record, price, prompt_estimate=20)
        self.up = {i: ScriptedUpstream(i) for i in MODELS}
        down = down or {}
        self.chain = Chain(
            [Step(MODELS[i]) for i in ids], self.log,
            build=lambda s: Recorded(self.up[s.model.id], self.log, s.model, s.model.provider),
            why_not=lambda m: down.get(m.id), timeouts=lambda m: Timeouts(),
            resume=resume, retries=retries)
        self.call = UpstreamCall(body={"messages": [{"role": "user", "content": "hi"}]},
                                 model=MODELS[ids[0]], timeouts=Timeouts(), stream=True)

    def complete(self) -> Any:
        return asyncio.run(self.chain.complete(self.call))

    def stream(self) -> list[Any]:
        async def run() -> list[Any]:
            opened = await self.chain.open(self.call)
            return [item async for item in opened.frames]
        return asyncio.run(run())


def chunks(items: list[Any]) -> list[dict[str, Any]]:
    return [orjson.loads(i[6:]) for i in items if isinstance(i, bytes)]


def text(items: list[Any]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks(items)
                   if c["choices"])


def test_falls_back_in_order_and_records_every_attempt() -> None:
    s = Setup("a", "b")
    s.up["a"].enqueue([UpstreamHTTPError("down", http_status=503)])
    model, _ = s.complete()
    assert model.id == "b"
    assert [(a.model, a.status) for a in s.record.attempt_rows] == [("a", "error"), ("b", "success")]


def test_unusable_models_are_skipped_with_their_reason() -> None:
    s = Setup("a", "b", "c", down={"a": "no API key (set A_KEY)", "b": "circuit open until 12:00"})
    s.up["c"].enqueue([UpstreamHTTPError("boom", http_status=500)])
    with pytest.raises(UpstreamUnavailable) as info:
        s.complete()
    message = info.value.message
    assert "no API key (set A_KEY)" in message and "circuit open until 12:00" in message
    assert info.value.status == 502


def test_nothing_tried_is_a_503_and_timeouts_only_a_504() -> None:
    with pytest.raises(UpstreamUnavailable) as info:
        Setup("a", down={"a": "no key"}).complete()
    assert info.value.status == 503
    s = Setup("a")
    s.up["a"].enqueue([UpstreamTimeout("slow", kind="first_token")])
    with pytest.raises(UpstreamUnavailable) as info:
        s.complete()
    assert info.value.status == 504


def test_context_length_skips_smaller_windows() -> None:
    s = Setup("a", "b", "c")
    s.up["a"].enqueue([ContextLengthExceeded("too long")])
    model, _ = s.complete()
    assert model.id == "c" and not s.up["b"].calls
    assert any("too small" in (x.error or "") for x in s.chain.skipped)


def test_a_request_every_model_would_refuse_stops_the_walk() -> None:
    s = Setup("a", "b")
    s.up["a"].enqueue([UpstreamHTTPError("bad", http_status=400, upstream_body={"error": {
        "message": "bad", "type": "invalid_request_error", "code": "content_policy_violation"}})])
    with pytest.raises(UpstreamRejected) as info:
        s.complete()
    assert info.value.code == "content_policy_violation" and not s.up["b"].calls
    assert (s.record.model, s.record.provider) == ("a", "p-a")


def test_an_open_circuit_is_a_skip_not_a_failure() -> None:
    s = Setup("a", "b")
    s.up["a"].enqueue([CircuitOpen("circuit open for provider:p-a")])
    model, _ = s.complete()
    assert model.id == "b" and not s.chain.failures
    assert [x.error for x in s.chain.skipped] == ["circuit open for provider:p-a"]


def test_a_stream_falls_back_before_its_first_frame() -> None:
    s = Setup("a", "b")
    s.up["a"].enqueue([UpstreamConnectionError("refused")])
    s.up["b"].enqueue(answer("from", " b"))
    items = s.stream()
    assert text(items) == "from b"


def test_a_stream_cut_mid_answer_is_resumed_as_one_answer() -> None:
    s = Setup("a", "b")
    s.up["a"].enqueue([frame("", role=True), frame("Once"), frame(" upon"),
                       UpstreamConnectionError("cut")])
    s.up["b"].enqueue([frame("", role=True, cid="other"), frame(" upon a time.", cid="other"),
                       frame(finish="stop", cid="other"),
                       Usage(30, 4, raw={"prompt_tokens": 30, "completion_tokens": 4})])
    items = s.stream()
    assert text(items) == "Once upon a time."  # the repeated " upon" was cut
    got = chunks(items)
    assert {c["id"] for c in got} == {"chatcmpl-1"}
    assert sum(1 for c in got if c["choices"] and c["choices"][0]["delta"].get("role")) == 1
    assert sum(1 for c in got if c["choices"] and c["choices"][0]["finish_reason"]) == 1
    usage = items[-1]
    assert isinstance(usage, Usage) and usage.prompt_tokens == 20 + 30  # estimate + reported
    assert orjson.loads(usage.frame[6:])["usage"]["prompt_tokens"] == 50
    resume = s.up["b"].calls[0].body["messages"]
    assert resume[-1] == {"role": "assistant", "content": "Once upon"}
    assert s.record.resumed


def test_a_half_sent_tool_call_is_not_resumed() -> None:
    s = Setup("a", "b")
    tool = {"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "f", "arguments": "{\"x\""}}
    s.up["a"].enqueue([frame("", role=True), frame(tool=tool), UpstreamConnectionError("cut")])
    with pytest.raises(UpstreamConnectionError):
        s.stream()
    assert not s.up["b"].calls


def test_resume_off_ends_with_the_cut() -> None:
    s = Setup("a", "b", resume=False)
    s.up["a"].enqueue([frame("", role=True), frame("x"), UpstreamConnectionError("cut")])
    with pytest.raises(UpstreamConnectionError):
        s.stream()


def test_with_retries_the_same_model_is_asked_to_continue_first() -> None:
    s = Setup("a", "b", retries=1)
    s.up["a"].enqueue([frame("", role=True), frame("x"), UpstreamConnectionError("cut")],
                      answer("y"))
    assert text(s.stream()) == "xy"
    assert len(s.up["a"].calls) == 2 and not s.up["b"].calls
