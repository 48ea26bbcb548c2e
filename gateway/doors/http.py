"""Doors over HTTP: any door's answer, stream or error as a response with the gateway's headers.

An answer already in the door's own wire format (`Door.wire`: chat from any OpenAI-shaped
upstream, Messages from an Anthropic upstream that got the client's body natively) is relayed
byte for byte; anything else is rendered or encoded by the door.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.responses import Response

from gateway.api.respond import gateway_headers
from gateway.doors.base import SSE_HEADERS, Door, DoorRequest
from gateway.doors.sse import SSEResponse
from gateway.errors import GatewayError
from gateway.resilience.timeouts import aclose
from gateway.usage.events import RequestRecord
from providers.base import Usage

OnFinal = Callable[[bytes], Awaitable[None]]


def answer(door: Door[Any], req: DoorRequest, body: bytes, wire: str, record: RequestRecord
           ) -> tuple[Response, bytes]:
    """The non-streamed answer, and the body the client got (for a door that keeps it)."""
    out = body if wire == door.wire else door.render(req, orjson.loads(body))
    headers = gateway_headers(record)
    headers["x-gateway-cost-usd"] = "" if record.cost_usd is None else f"{record.cost_usd:.10f}"
    return Response(out, headers=headers, media_type="application/json"), out


def failure(door: Door[Any], exc: GatewayError, record: RequestRecord) -> Response:
    status, body, headers = door.error_body(exc)
    return Response(body, status_code=status, headers={**gateway_headers(record), **headers},
                    media_type="application/json")


def stream(door: Door[Any], req: DoorRequest, frames: AsyncIterator[bytes | Usage], wire: str,
           model: str, record: RequestRecord, on_final: OnFinal | None = None) -> Response:
    events = _events(door, req, frames, wire, model, on_final)
    return SSEResponse(events, {**gateway_headers(record), **SSE_HEADERS})


async def _events(door: Door[Any], req: DoorRequest, frames: AsyncIterator[bytes | Usage],
                  wire: str, model: str, on_final: OnFinal | None) -> AsyncGenerator[bytes, None]:
    encoder = door.encoder(req, model)
    relay = wire == door.wire
    try:
        if not relay:
            for out in encoder.start():
                yield out
        async for item in frames:
            if isinstance(item, Usage):
                closing = encoder.finish(item) if not relay or door.relay_finish else []
                final = getattr(encoder, "final", None)
                if on_final is not None and isinstance(final, bytes):
                    await on_final(final)  # kept before the client hears the answer is complete
                for out in closing:
                    yield out
            elif relay:
                yield item
            else:
                for out in encoder.feed(orjson.loads(item[5:])):
                    yield out
    except GatewayError as exc:
        yield encoder.error(exc)
    finally:
        await aclose(frames)  # runs the pipeline's bookkeeping: the stream's log row
