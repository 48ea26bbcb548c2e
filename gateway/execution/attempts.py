"""Execution: every upstream call of one request, as the `attempts` rows record it and as it is
billed (a wrapper, itself an Upstream, around each call).

`AttemptLog` belongs to one request: it numbers the calls, keeps a row per call with its
latency and cost, and sums tokens and USD over the calls that were billed. A call that
delivered content but reported no usage (cut mid-answer, or an upstream that never counts) is
counted from what it delivered and marked estimated, so spend is never under-counted.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import orjson

from gateway.config import ModelConfig
from gateway.errors import AttemptInfo, ProviderError
from gateway.resilience.timeouts import closing
from gateway.usage.estimate import delivered_text, estimated_usage
from gateway.usage.events import RequestRecord
from providers.base import Completion, Upstream, UpstreamCall, Usage

Pricer = Callable[[ModelConfig, Usage], "tuple[float | None, str | None]"]


class AttemptLog:
    def __init__(self, record: RequestRecord, price: Pricer, prompt_estimate: int) -> None:
        self.record = record
        self.price = price
        self.prompt_estimate = prompt_estimate
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = None
        self.cost_note: str | None = None
        self.estimated = False
        self.usage_raw: dict[str, object] | None = None  # the last billed call's own usage

    def begin(self) -> int:
        self.record.attempts += 1
        return self.record.attempts

    def end(self, n: int, model: ModelConfig, provider: str, started: float, wall: float, *,
            status: str, error: ProviderError | None = None, usage: Usage | None = None,
            delivered: str = "") -> None:
        """Row n is over: bill what it used (estimated from `delivered` when not reported)."""
        if (usage is None or not usage.raw) and delivered:
            usage = estimated_usage(self.prompt_estimate, delivered)
        cost: float | None = None
        if usage is not None and usage.raw:
            cost, note = self.price(model, usage)
            self._bill(usage, cost, note)
        self.record.attempt_rows.append(AttemptInfo(
            n, model.id, provider, status, error.http_status if error else
            (200 if status == "success" else None), error.message if error else None,
            (time.perf_counter() - started) * 1000, cost, wall))

    def _bill(self, usage: Usage, cost: float | None, note: str | None) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.estimated = self.estimated or bool(usage.raw.get("estimated"))
        self.usage_raw = usage.raw
        if cost is not None:
            self.cost_usd = (self.cost_usd or 0.0) + cost
        elif note:
            self.cost_note = note

    def usage_with(self, usage: Usage) -> Usage:
        """The sum of every billed call so far plus `usage` (a call not yet ended)."""
        prompt = self.prompt_tokens + usage.prompt_tokens
        completion = self.completion_tokens + usage.completion_tokens
        return Usage(prompt, completion, raw={"prompt_tokens": prompt,
                                              "completion_tokens": completion,
                                              "total_tokens": prompt + completion})


class Recorded:
    """One upstream call as one `attempts` row (skipped by an open circuit: no row)."""

    def __init__(self, inner: Upstream, log: AttemptLog, model: ModelConfig, provider: str) -> None:
        self.inner = inner
        self.name = inner.name
        self.log = log
        self.model = model
        self.provider = provider

    def __repr__(self) -> str:
        return f"<Recorded {self.inner!r}>"

    async def complete(self, call: UpstreamCall) -> Completion:
        n, t0, wall = self.log.begin(), time.perf_counter(), time.time()
        try:
            completion = await self.inner.complete(call)
        except ProviderError as exc:
            self.log.end(n, self.model, self.provider, t0, wall, status="error", error=exc,
                         delivered=exc.delivered)
            raise
        except BaseException:
            self.log.end(n, self.model, self.provider, t0, wall, status="cancelled")
            raise
        delivered = "" if completion.usage.raw else _body_text(completion.body)
        self.log.end(n, self.model, self.provider, t0, wall, status="success",
                     usage=completion.usage, delivered=delivered)
        return completion

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        n, t0, wall = self.log.begin(), time.perf_counter(), time.time()
        frames: list[bytes] = []
        usage: Usage | None = None
        error: ProviderError | None = None
        try:
            async with closing(self.inner.stream(call)) as items:
                async for item in items:
                    if isinstance(item, Usage):
                        usage = item
                    else:
                        frames.append(item)
                    yield item
        except ProviderError as exc:
            error = exc
            raise
        finally:
            # the usage item comes last: a consumer that stops after it ended the call well
            status = "success" if usage is not None else "error" if error else "cancelled"
            delivered = "" if usage is not None and usage.raw else delivered_text(frames)
            self.log.end(n, self.model, self.provider, t0, wall, status=status, error=error,
                         usage=usage, delivered=delivered)


def _body_text(body: bytes) -> str:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    out: list[str] = []
    for choice in parsed.get("choices") or () if isinstance(parsed, dict) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            out.append(message["content"])
    return "".join(out)
