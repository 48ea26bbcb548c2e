"""POST /v1/chat/completions: auth, parse, plan, dispatch, respond — and always leave a log row."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.api.parse import parse_chat
from gateway.api.respond import error_response, gateway_headers
from gateway.api.stream import stream_response
from gateway.errors import GatewayError, InvalidRequest, PayloadTooLarge
from gateway.usage.events import RequestRecord
from providers.base import UpstreamCall

if TYPE_CHECKING:
    from gateway.app import Gateway

log = logging.getLogger("gateway.api")


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


async def chat_completions(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    record = RequestRecord(id=gw.new_request_id())
    handed_over = False
    try:
        record.api_key = gw.auth.name_for(request.headers)
        raw = await read_body(request, gw.max_body_bytes)
        req = parse_chat(raw)
        record.requested_model, record.stream = req.model, req.stream
        chain = gw.plan(req, record)
        gw.budget_check(record, chain, req)
        call = UpstreamCall(
            body=req.body, model=chain[0], timeouts=gw.config.timeouts_for(chain[0]),
            stream=req.stream, include_usage=req.include_usage,
        )
        dispatch_started = time.perf_counter()
        if req.stream:
            opened = await gw.dispatcher.stream(chain, call, record)
            handed_over = True
            return stream_response(gw, opened, record, req.include_usage, dispatch_started)
        model, completion = await gw.dispatcher.complete(chain, call, record)
        upstream_ms = (time.perf_counter() - dispatch_started) * 1000
        gw.finish_success(record, model, completion.usage, upstream_ms)
        headers = gateway_headers(record)
        headers["x-gateway-cost-usd"] = "" if record.cost_usd is None else f"{record.cost_usd:.10f}"
        return Response(completion.body, headers=headers, media_type="application/json")
    except GatewayError as exc:
        gw.finish_error(record, exc)
        return error_response(exc, record)
    except ClientDisconnect:
        gw.finish_error(record, InvalidRequest("client disconnected before sending the body"),
                        http_status=499)
        return Response(status_code=499)
    except Exception as exc:  # a bug of ours: still a row, still an OpenAI-shaped answer
        log.exception("request %s failed inside the gateway", record.id)
        error = GatewayError(f"Internal gateway error ({type(exc).__name__}); "
                             f"request id {record.id}.")
        gw.finish_error(record, error)
        return error_response(error, record)
    finally:
        if not handed_over:
            gw.record(record)
