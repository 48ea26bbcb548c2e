"""The life of one request, top to bottom, whatever door it came in by:

    auth → read → parse (the door) → plan → admit (budget) → execute → price → record

and the answer rendered by the door. Every request leaves exactly one log row, however it ends:
a non-streamed one when `handle` returns, a streamed one when its frame generator is closed
(finished, failed mid-stream, or abandoned by the client).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, runtime_checkable

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.api.auth import Auth
from gateway.api.respond import gateway_headers
from gateway.config import ApiKey, ModelConfig
from gateway.doors import http
from gateway.doors.base import Door, DoorRequest
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, ProviderError
from gateway.execution.attempts import AttemptLog
from gateway.execution.chain import OpenStream
from gateway.execution.executor import Executor
from gateway.execution.judge import JUDGE_MAX_TOKENS
from gateway.execution.legs import JUDGE_FRAME_TOKENS
from gateway.limits import Admission
from gateway.limits.admit import Ticket
from gateway.plan import Plan, Planner, Step
from gateway.resilience.timeouts import aclose
from gateway.usage.estimate import Estimate
from gateway.usage.events import RequestRecord
from gateway.usage.recorder import Recorder
from providers.base import Usage

log = logging.getLogger("gateway.pipeline")
_FINISH = re.compile(rb'"(?:finish_reason|stop_reason)":\s*"(\w+)"')
MAX_DOWNGRADE = 4  # models in a downgraded chain: the cheapest that fit, in order


@runtime_checkable
class Hooks(Protocol):
    """A door that keeps state around its requests (the Responses door and its store): before
    planning it may complete the request (`previous_response_id`), and it is told the body its
    client got (kept before a stream's last event, so the client's next turn finds it)."""

    async def prepare(self, req: DoorRequest, key: ApiKey | None) -> DoorRequest: ...

    async def finished(self, req: DoorRequest, key: ApiKey | None, body: bytes) -> None: ...


class Pipeline:
    def __init__(self, *, auth: Auth, planner: Planner, admission: Admission, executor: Executor,
                 recorder: Recorder, max_body_bytes: int,
                 simulated: frozenset[str] = frozenset()) -> None:
        self.auth = auth
        self.planner = planner
        self.admission = admission
        self.executor = executor
        self.prices = executor.prices
        self.recorder = recorder
        self.max_body_bytes = max_body_bytes
        self.simulated = simulated  # providers whose answers are simulated (the demo)

    async def handle(self, door: Door[Any], request: Request, hooks: Hooks | None = None
                     ) -> Response:
        """One request through `door`; `hooks` is the door again when it keeps state around
        its requests (the caller checks that once, not per request)."""
        record = RequestRecord(id="req_" + os.urandom(12).hex(), endpoint=door.endpoint,
                               traceparent=request.headers.get("traceparent"))
        ticket: Ticket | None = None
        streaming = False
        try:
            key = self.auth.check(request.headers)
            record.api_key = key.name if key else None
            req = door.parse(await read_body(request, self.max_body_bytes), request.headers)
            record.requested_model, record.stream = req.model, req.stream
            if hooks is not None:
                req = await hooks.prepare(req, key)
            plan = self.planner.plan(req, record)
            ticket = await self._admit(plan, record)
            run = self.executor.start(plan, req, record)
            started = time.perf_counter()
            if req.stream:
                opened = await run.open()
                self._answered_by(record, opened.model)
                frames = self._relay(opened, run.log, record, started, ticket)
                on_final = functools.partial(hooks.finished, req, key) if hooks else None
                response = http.stream(door, req, frames, opened.wire, opened.model.id, record,
                                       on_final)
                streaming = True
                return response
            model, completion = await run.complete()
            self._answered_by(record, model)
            self._price(record, run.log)
            record.finish_reasons = _finish_reasons(completion.body)
            record.status, record.http_status = "success", 200
            record.latency_ms = (time.perf_counter() - record.started) * 1000
            record.overhead_ms = max(0.0, record.latency_ms - (time.perf_counter() - started) * 1000)
            response, body = http.answer(door, req, completion.body, completion.wire, record)
            if hooks is not None:
                await hooks.finished(req, key, body)
            return response
        except Exception as exc:
            return self._failure(door, record, exc)
        finally:
            if not streaming:
                self._settle(ticket, record)
                self.recorder.record(record)

    async def answer_here(self, door: Door[Any], request: Request, endpoint: str,
                          answer: Callable[[bytes, Headers], tuple[str, bytes]]) -> Response:
        """A request the gateway answers itself, with no upstream call (Messages'
        `count_tokens`): `answer` takes the body and headers and gives the requested model and
        the JSON answer. Authenticated, errors in the door's shape and one log row, like any
        other request; nothing is routed, admitted or billed."""
        record = RequestRecord(id="req_" + os.urandom(12).hex(), endpoint=endpoint,
                               traceparent=request.headers.get("traceparent"))
        try:
            key = self.auth.check(request.headers)
            record.api_key = key.name if key else None
            model, body = answer(await read_body(request, self.max_body_bytes), request.headers)
            record.requested_model = model
            record.status, record.http_status, record.cost_usd = "success", 200, 0.0
            record.routing_reason = f"{endpoint}: answered by the gateway, no upstream call"
            record.latency_ms = (time.perf_counter() - record.started) * 1000
            return Response(body, headers=gateway_headers(record), media_type="application/json")
        except Exception as exc:
            return self._failure(door, record, exc)
        finally:
            self.recorder.record(record)

    def _failure(self, door: Door[Any], record: RequestRecord, exc: Exception) -> Response:
        """The answer to a request that failed before its stream began, in the door's shape."""
        if isinstance(exc, GatewayError):
            self._failed(record, exc)
            return http.failure(door, exc, record)
        if isinstance(exc, ClientDisconnect):
            self._failed(record, InvalidRequest("client disconnected before sending the body"), 499)
            return Response(status_code=499)
        # a bug of ours: still a row, still an error in the door's shape
        log.exception("request %s failed inside the gateway", record.id, exc_info=exc)
        error = GatewayError(f"Internal gateway error ({type(exc).__name__}); "
                             f"request id {record.id}.")
        self._failed(record, error)
        return http.failure(door, error, record)

    # -- the steps between plan and record ------------------------------------------------------

    async def _admit(self, plan: Plan, record: RequestRecord) -> Ticket | None:
        """Take the key's rate limits and reserve the worst this request can cost on any model
        of its chain (a fallback may cost more than the first), or downgrade to what fits."""
        if not self.admission.active:
            return None  # nothing to count against: no rate limit, no budget
        worst = self._worst(plan, plan.models)
        downgrade = None
        if self.admission.budget.on_exceed == "downgrade" and plan.parallel is None:
            cheaper = self._downgraded(plan, record)
            worst = worst if cheaper is None else cheaper  # 0.0 is a price: a free local model
            downgrade = functools.partial(self._downgraded, plan, record)
        e = plan.estimate
        usd: float | list[float] = worst
        if plan.parallel is not None:  # every leg may be billed in full, and the judge
            usd = [self._worst(plan, [m]) for m in plan.models] + [self._judge_worst(plan)]
        return await self.admission.admit(
            record.api_key, tokens=e.prompt_tokens + e.expected_output_tokens, usd=usd,
            downgrade=downgrade)

    def _judge_worst(self, plan: Plan) -> float:
        """The judge reads the request and every leg's whole answer, and writes a short verdict."""
        judge = plan.parallel.judge if plan.parallel else None
        price = self.prices.price(judge) if judge is not None else None
        if judge is None or price is None:
            return 0.0
        e = plan.estimate
        answer = e.max_output_tokens or e.expected_output_tokens
        reads = e.prompt_tokens + len(plan.models) * answer + JUDGE_FRAME_TOKENS
        judged = Estimate(reads, JUDGE_MAX_TOKENS, JUDGE_MAX_TOKENS)
        return judged.worst_usd(float(price.input), float(price.output),
                                model_max_output=judge.max_output_tokens,
                                context_window=judge.context_window)

    def _downgraded(self, plan: Plan, record: RequestRecord) -> float | None:
        """If the plan does not fit the budget as last seen, switch it to the cheapest models
        that do; their worst case (None: the plan is unchanged)."""
        budget = self.admission.budget
        if budget.fits(record.api_key, self._worst(plan, plan.models)):
            return None
        options = [(m, self._worst(plan, [m])) for m in self.planner.usable_models()]
        cheaper = budget.affordable(record.api_key, options)
        if not cheaper or cheaper[:MAX_DOWNGRADE] == plan.models:
            return None
        plan.steps = [Step(m) for m in cheaper[:MAX_DOWNGRADE]]
        record.routing_reason = (f"budget downgrade: {plan.steps[0].model.id} fits; "
                                 f"was {record.routing_reason}")
        return self._worst(plan, plan.models)

    def _worst(self, plan: Plan, models: list[ModelConfig]) -> float:
        out = 0.0
        for m in models:
            price = self.prices.price(m)
            if price is not None:
                out = max(out, plan.estimate.worst_usd(
                    float(price.input), float(price.output), model_max_output=m.max_output_tokens,
                    context_window=m.context_window))
        return out

    def _settle(self, ticket: Ticket | None, record: RequestRecord) -> None:
        """Give back what the request did not use (in a task: this may run in a cancelled one)."""
        if ticket is not None:
            tokens = None
            if record.prompt_tokens is not None:
                tokens = record.prompt_tokens + (record.completion_tokens or 0)
            self.admission.settle_soon(ticket, tokens=tokens, usd=record.cost_usd or 0.0)

    def _answered_by(self, record: RequestRecord, model: ModelConfig) -> None:
        record.model, record.provider = model.id, model.provider
        record.simulated = model.provider in self.simulated

    def _price(self, record: RequestRecord, attempts: AttemptLog) -> None:
        """What the request cost: the sum of what every upstream call was billed."""
        record.prompt_tokens = attempts.prompt_tokens
        record.completion_tokens = attempts.completion_tokens
        record.cost_usd, record.cost_note = attempts.cost_usd, attempts.cost_note
        record.tokens_estimated = attempts.estimated
        record.usage_json = attempts.usage_raw
        if not attempts.usage_raw:
            record.prompt_tokens = record.completion_tokens = None
            record.cost_note = record.cost_note or "the upstream reported no usage"

    def _failed(self, record: RequestRecord, exc: GatewayError, http_status: int | None = None
                ) -> None:
        record.status = "error"
        record.http_status = http_status or exc.status
        record.error = f"{type(exc).__name__}: {exc.message}"
        record.latency_ms = (time.perf_counter() - record.started) * 1000

    async def _relay(self, opened: OpenStream, attempts: AttemptLog, record: RequestRecord,
                     started: float, ticket: Ticket | None) -> AsyncIterator[bytes | Usage]:
        """The stream as the door relays it; when it ends, however it ends, price and record."""
        error: ProviderError | None = None
        ended = False
        before_last = last = b""
        try:
            async for item in opened.frames:
                if not isinstance(item, Usage):
                    if record.ttft_ms is None:
                        record.ttft_ms = (time.perf_counter() - record.started) * 1000
                    before_last, last = last, item
                yield item
            ended = True
        except ProviderError as exc:
            error, ended = exc, True
            raise
        finally:
            await aclose(opened.frames)
            self._price(record, attempts)
            if error is not None:
                record.status, record.http_status = "error", error.status
                record.error = f"upstream failed mid-stream: {error.message}"
            elif not ended:
                record.status, record.http_status = "error", 499
                record.error = "client disconnected mid-stream"
            else:
                record.status, record.http_status = "success", 200
            # in the last two frames: a chat stream's finish chunk, or the native Messages
            # stream's `message_delta` before its `message_stop`
            record.finish_reasons = _finish_reasons(before_last + last)
            record.latency_ms = (time.perf_counter() - record.started) * 1000
            record.overhead_ms = (started - record.started) * 1000  # the gateway's share of TTFT
            self._settle(ticket, record)
            self.recorder.record(record)


def _finish_reasons(body: bytes) -> tuple[str, ...] | None:
    return tuple(m.decode() for m in _FINISH.findall(body)) or None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


