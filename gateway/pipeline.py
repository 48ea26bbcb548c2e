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
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol, runtime_checkable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.api.auth import Auth
from gateway.config import ApiKey, ModelConfig
from gateway.doors import http
from gateway.doors.base import Door, DoorRequest
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge, ProviderError
from gateway.execution.attempts import AttemptLog
from gateway.execution.chain import OpenStream
from gateway.execution.executor import Executor
from gateway.plan import Plan, Planner, Step
from gateway.resilience.budget import Budget
from gateway.resilience.timeouts import aclose
from gateway.usage.events import RequestRecord
from gateway.usage.pricing import PriceBook
from gateway.usage.recorder import Recorder
from providers.base import Usage

log = logging.getLogger("gateway.pipeline")


@runtime_checkable
class Hooks(Protocol):
    """A door that keeps state around its requests (the Responses door and its store): before
    planning it may complete the request (`previous_response_id`), and it is told the body its
    client got (kept before a stream's last event, so the client's next turn finds it)."""

    async def prepare(self, req: DoorRequest, key: ApiKey | None) -> DoorRequest: ...

    async def finished(self, req: DoorRequest, key: ApiKey | None, body: bytes) -> None: ...


class Pipeline:
    def __init__(self, *, auth: Auth, planner: Planner, budget: Budget, executor: Executor,
                 prices: PriceBook, recorder: Recorder, max_body_bytes: int) -> None:
        self.auth = auth
        self.planner = planner
        self.budget = budget
        self.executor = executor
        self.prices = prices
        self.recorder = recorder
        self.max_body_bytes = max_body_bytes

    async def handle(self, door: Door[Any], request: Request) -> Response:
        record = RequestRecord(id="req_" + os.urandom(12).hex(), endpoint=door.endpoint)
        streaming = False
        try:
            key = self.auth.check(request.headers)
            record.api_key = key.name if key else None
            req = door.parse(await read_body(request, self.max_body_bytes), request.headers)
            record.requested_model, record.stream = req.model, req.stream
            hooks = door if isinstance(door, Hooks) else None
            if hooks is not None:
                req = await hooks.prepare(req, key)
            plan = self.planner.plan(req, record)
            self._admit(plan, record)
            run = self.executor.start(plan, req, record)
            started = time.perf_counter()
            if req.stream:
                opened = await run.open()
                record.model, record.provider = opened.model.id, opened.model.provider
                frames = self._relay(opened, run.log, record, started)
                on_final = functools.partial(hooks.finished, req, key) if hooks else None
                response = http.stream(door, req, frames, opened.wire, opened.model.id, record,
                                       on_final)
                streaming = True
                return response
            model, completion = await run.complete()
            record.model, record.provider = model.id, model.provider
            self._price(record, run.log)
            record.status, record.http_status = "success", 200
            record.latency_ms = (time.perf_counter() - record.started) * 1000
            record.overhead_ms = max(0.0, record.latency_ms - (time.perf_counter() - started) * 1000)
            response, body = http.answer(door, req, completion.body, completion.wire, record)
            if hooks is not None:
                await hooks.finished(req, key, body)
            return response
        except GatewayError as exc:
            self._failed(record, exc)
            return http.failure(door, exc, record)
        except ClientDisconnect:
            self._failed(record, InvalidRequest("client disconnected before sending the body"), 499)
            return Response(status_code=499)
        except Exception as exc:  # a bug of ours: still a row, still an error in the door's shape
            log.exception("request %s failed inside the gateway", record.id)
            error = GatewayError(f"Internal gateway error ({type(exc).__name__}); "
                                 f"request id {record.id}.")
            self._failed(record, error)
            return http.failure(door, error, record)
        finally:
            if not streaming:
                self.recorder.record(record)

    # -- the steps between plan and record ------------------------------------------------------

    def _admit(self, plan: Plan, record: RequestRecord) -> None:
        def expected_usd(model: ModelConfig) -> float:
            price = self.prices.price(model)
            if price is None:
                return 0.0
            return plan.estimate.expected_usd(float(price.input), float(price.output))

        downgrade = self.budget.check(record, plan.models, expected_usd,
                                      self.planner.usable_models)
        if downgrade is not None:
            plan.steps = [Step(m) for m in downgrade]

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
        if record.cost_usd:
            self.budget.spent(record.api_key, record.cost_usd)

    def _failed(self, record: RequestRecord, exc: GatewayError, http_status: int | None = None
                ) -> None:
        record.status = "error"
        record.http_status = http_status or exc.status
        record.error = f"{type(exc).__name__}: {exc.message}"
        record.latency_ms = (time.perf_counter() - record.started) * 1000

    async def _relay(self, opened: OpenStream, attempts: AttemptLog, record: RequestRecord,
                     started: float) -> AsyncIterator[bytes | Usage]:
        """The stream as the door relays it; when it ends, however it ends, price and record."""
        error: ProviderError | None = None
        ended = False
        try:
            async for item in opened.frames:
                if record.ttft_ms is None and not isinstance(item, Usage):
                    record.ttft_ms = (time.perf_counter() - record.started) * 1000
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
            record.latency_ms = (time.perf_counter() - record.started) * 1000
            record.overhead_ms = (started - record.started) * 1000  # the gateway's share of TTFT
            self.recorder.record(record)


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


