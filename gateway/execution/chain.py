"""Execution: walk a plan's candidates until one answers (fallback), and continue a stream cut
mid-answer on the next one (resume). The chain is itself an Upstream-like runner for one request.

A candidate is skipped, with the reason, when it cannot be called now (no key, local server
down, circuit open) or its context window is no larger than one that already said the prompt is
too long. A request every model would refuse (an upstream 400: malformed, content filter) stops
the walk with the upstream's own error. A stream falls back freely until its first frame reaches
the client; after that, a cut is resumed (see resilience/resume.py) when that is on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.config import ModelConfig, Timeouts
from gateway.errors import (
    AttemptInfo,
    CircuitOpen,
    ContextLengthExceeded,
    GatewayError,
    ProviderError,
    UpstreamConnectionError,
    UpstreamHTTPError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.execution.attempts import AttemptLog
from gateway.plan import Step
from gateway.resilience.resume import Delivered, Splicer, continuation
from gateway.resilience.resume_native import (
    NativeCut,
    NativeDelivered,
    NativeSplicer,
    native_continuation,
    thinking_on,
)
from gateway.resilience.timeouts import aclose
from providers.base import Completion, Upstream, UpstreamCall, Usage


@dataclass
class OpenStream:
    """A stream whose first frame has arrived from `model`, in the format `wire`."""

    model: ModelConfig
    frames: AsyncIterator[bytes | Usage]
    wire: str = "openai"


class Chain:
    def __init__(
        self,
        steps: list[Step],
        log: AttemptLog,
        *,
        build: Callable[[Step], Upstream],
        why_not: Callable[[ModelConfig], str | None],
        timeouts: Callable[[ModelConfig], Timeouts],
        wire: Callable[[Step], str] = lambda step: "openai",
        resume: bool = True,
        retries: int = 0,
        on_resume: Callable[[str], None] = lambda outcome: None,
        native: Mapping[str, Any] | None = None,
    ) -> None:
        self.steps = steps
        self.log = log
        self.build = build
        self.why_not = why_not
        self.timeouts = timeouts
        self.wire = wire
        self.resume = resume
        self.retries = retries  # a step's own `retries` wins
        self.on_resume = on_resume
        self.native = native  # a Messages request's own body, which native calls send
        self.failures: list[ProviderError] = []
        self.skipped: list[AttemptInfo] = []
        self.floor = 0  # the largest context window that was already too small

    # -- the walk ------------------------------------------------------------------------------

    def _candidates(self, steps: list[Step]) -> Iterator[tuple[Step, Upstream]]:
        for step in steps:
            m = step.model
            why = self.why_not(m)
            if why is None and m.context_window <= self.floor:
                why = f"context window {m.context_window} too small for this prompt"
            if why is not None:
                self._skip(m, why)
                continue
            yield step, self.build(step)

    def _call(self, call: UpstreamCall, model: ModelConfig) -> UpstreamCall:
        return call.to(model, self.timeouts(model))

    def _skip(self, m: ModelConfig, why: str) -> None:
        self.skipped.append(AttemptInfo(0, m.id, m.provider, "skipped", None, why, 0.0))

    def _failed(self, step: Step, exc: ProviderError) -> None:
        """Note a candidate's failure; raise at once if no other model can do better."""
        if isinstance(exc, CircuitOpen):
            self._skip(step.model, exc.message)
            return
        self.failures.append(exc)
        if isinstance(exc, ContextLengthExceeded):
            self.floor = max(self.floor, step.model.context_window)
        if not exc.fallback:
            self.log.record.model, self.log.record.provider = step.model.id, step.model.provider
            raise rejected(exc)

    def unavailable(self) -> GatewayError:
        if self.failures and all(isinstance(f, ContextLengthExceeded) for f in self.failures):
            # the prompt fits no model that could take it: the client's to shorten, and its SDK
            # knows the upstream's own 400 (Claude Code compacts on "prompt is too long")
            return rejected(self.failures[-1])
        attempts = [*self.log.record.attempt_rows, *self.skipped]
        status = 503  # nothing could even be tried
        if self.failures:
            timeouts = all(isinstance(f, UpstreamTimeout) for f in self.failures)
            status = 504 if timeouts else 502
        return UpstreamUnavailable(attempts, status)

    async def complete(self, call: UpstreamCall) -> tuple[ModelConfig, Completion]:
        for step, upstream in self._candidates(self.steps):
            try:
                return step.model, await upstream.complete(self._call(call, step.model))
            except ProviderError as exc:
                self._failed(step, exc)
        raise self.unavailable()

    async def open(self, call: UpstreamCall) -> OpenStream:
        for step, upstream in self._candidates(self.steps):
            agen = upstream.stream(self._call(call, step.model))
            try:
                first = await anext(agen)
            except (ProviderError, StopAsyncIteration) as exc:
                await aclose(agen)
                self._failed(step, _provider_error(exc, step))
                continue
            wire = self.wire(step)
            frames = self._relay(first, agen, step, call, self._delivered(wire), None)
            return OpenStream(step.model, frames, wire)
        raise self.unavailable()

    # -- streams and their resume --------------------------------------------------------------

    def _delivered(self, wire: str) -> Delivered | NativeDelivered | None:
        """What will follow a stream's frames, in a format a continuation can be spliced into
        (chat chunks, or the Messages events of a native call); None for any other."""
        if wire == "openai":
            return Delivered()
        return NativeDelivered() if wire == "anthropic" and self.native is not None else None

    async def _relay(self, first: bytes | Usage, agen: AsyncIterator[bytes | Usage], step: Step,
                     call: UpstreamCall, delivered: Delivered | NativeDelivered | None,
                     splice: Splicer | NativeSplicer | None) -> AsyncIterator[bytes | Usage]:
        item: bytes | Usage = first
        try:
            while True:
                if isinstance(item, Usage):
                    if splice is not None:
                        for frame in splice.close():
                            yield frame
                        item = self._summed(item, splice)
                    yield item
                    return
                frames = [item] if splice is None else splice.feed(item)
                for frame in frames:
                    if delivered is not None:
                        delivered.add(frame)
                    yield frame
                item = await anext(agen)
        except (ProviderError, StopAsyncIteration) as exc:
            cut = _provider_error(exc, step)
        finally:
            await aclose(agen)
        if delivered is None:
            raise cut  # an answer in another wire format cannot be spliced
        async for out in self._resume(cut, step, call, delivered):
            yield out

    def _summed(self, usage: Usage, splice: Splicer | NativeSplicer) -> Usage:
        total = self.log.usage_with(usage)
        total.frame = splice.usage_frame(total.raw)
        return total

    async def _resume(self, cut: ProviderError, step: Step, call: UpstreamCall,
                      delivered: Delivered | NativeDelivered) -> AsyncIterator[bytes | Usage]:
        """The rest of a cut answer from the next candidate that can give it, else the cut."""
        sent: NativeCut | None = None
        head: dict[str, Any] = {}
        if isinstance(delivered, NativeDelivered):
            sent = delivered.read()
            text, resumable = sent.text, sent.resumable
        else:
            head, text, tools, several = delivered.read()
            resumable = not tools and not several
        if not self.resume or not resumable or len(self.failures) > 2 * len(self.steps):
            raise cut
        self.failures.append(cut)
        self.log.record.resumed = True
        retries = self.retries if step.retries is None else step.retries
        again = retries > 0 and cut.retryable and not isinstance(cut, UpstreamTimeout)
        same = [step] if again else []
        later = self.steps[self.steps.index(step) + 1:] if step in self.steps else []
        # a continuation is spliced into the answer in the answer's own format: chat chunks,
        # or the events of a native Messages call
        wire = self.wire(step)
        later = [s for s in later if self.wire(s) == wire]
        native = self.native if sent is not None else None
        # with thinking on, Anthropic takes no prefill: the text goes as an ordinary turn
        variants = (False,) if native is not None and thinking_on(native) else (True, False)
        for nxt, upstream in self._candidates(same + later):
            for prefill in variants:
                if native is None:
                    again_call = dataclasses.replace(
                        call, body=continuation(dict(call.body), text, prefill=prefill))
                else:
                    again_call = dataclasses.replace(
                        call, native=native_continuation(native, text, prefill=prefill))
                agen = upstream.stream(self._call(again_call, nxt.model))
                try:
                    first = await anext(agen)
                except (ProviderError, StopAsyncIteration) as exc:
                    await aclose(agen)
                    err = _provider_error(exc, nxt)
                    if prefill and text and _refused_prefill(err):
                        self.on_resume("prefill_refused")
                        continue  # the same text as an ordinary turn
                    if isinstance(err, CircuitOpen):
                        self._skip(nxt.model, err.message)
                    else:
                        self.failures.append(err)
                    break
                self.on_resume("resumed")
                splice: Splicer | NativeSplicer = Splicer(head, text) if sent is None else \
                    NativeSplicer(sent, self.log.prompt_tokens, self.log.completion_tokens)
                async for out in self._relay(first, agen, nxt, call, delivered, splice):
                    yield out
                return
        self.on_resume("failed")
        raise cut


def _provider_error(exc: BaseException, step: Step) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    return UpstreamConnectionError(f"{step.model.id}: the stream ended before the answer did")


def _refused_prefill(exc: ProviderError) -> bool:
    """An upstream that will not take a trailing assistant message answers 400 (or 422)."""
    return isinstance(exc, UpstreamHTTPError) and exc.http_status in (400, 422) and \
        not isinstance(exc, ContextLengthExceeded)


def rejected(exc: ProviderError) -> GatewayError:
    """The upstream's own refusal of the request, as the client will see it."""
    body = getattr(exc, "upstream_body", None)
    err = body.get("error") if isinstance(body, dict) else None
    if not isinstance(err, dict):
        err = {}
    return UpstreamRejected(
        exc.message, status=exc.http_status or 400,
        type=err.get("type") if isinstance(err.get("type"), str) else None,
        code=err.get("code") if isinstance(err.get("code"), str) else "invalid_request",
        param=err.get("param") if isinstance(err.get("param"), str) else None,
    )
