"""SSE: relay an opened upstream stream to the client, and log how it ended, whatever happens.

A stream ends one of three ways: the upstream finishes (``data: [DONE]``), the upstream fails
after the first byte was sent (one ``data: {"error": ...}`` event, logged as an error), or the
client goes away (logged as an error with status 499). Starlette's StreamingResponse on ASGI 2.4
only notices a vanished client at the next write and leaves the iterator unclosed, so this module
has its own small response that watches for the disconnect and always closes the iterator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.respond import error_event, gateway_headers
from gateway.dispatch import OpenStream
from gateway.errors import ProviderError
from gateway.usage.events import RequestRecord
from providers.base import Usage

if TYPE_CHECKING:
    from gateway.app import Gateway

DONE = b"data: [DONE]\n\n"


class SSEResponse(Response):
    media_type = "text/event-stream"

    def __init__(self, frames: AsyncGenerator[bytes, None], headers: dict[str, str]) -> None:
        self.frames = frames
        self.status_code = 200
        self.background = None
        self.init_headers({**headers, "cache-control": "no-cache", "x-accel-buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait((pump, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch):
                task.cancel()
            await asyncio.gather(pump, watch, return_exceptions=True)
            await self.frames.aclose()  # runs the generator's finally: the log row

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for frame in self.frames:
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away between two writes
            return


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def stream_response(
    gw: Gateway, opened: OpenStream, record: RequestRecord, include_usage: bool,
    dispatch_started: float,
) -> SSEResponse:
    record.model, record.provider = opened.model.id, opened.model.provider
    frames = _frames(gw, opened, record, include_usage, dispatch_started)
    return SSEResponse(frames, gateway_headers(record))


async def _frames(
    gw: Gateway, opened: OpenStream, record: RequestRecord, include_usage: bool,
    dispatch_started: float,
) -> AsyncGenerator[bytes, None]:
    usage: Usage | None = None
    error: ProviderError | None = None
    ended = False
    first_sent = 0.0
    try:
        item: bytes | Usage | None = opened.first
        while item is not None:
            if isinstance(item, Usage):
                usage = item
                if include_usage and item.frame:
                    yield item.frame
            else:
                if not first_sent:
                    first_sent = time.perf_counter()
                    record.ttft_ms = (first_sent - record.started) * 1000
                yield item
            item = await anext(opened.rest, None)
        ended = True
        yield DONE
    except ProviderError as exc:
        error = exc
        ended = True
        yield error_event(exc)
    finally:
        opened.finish(error)
        gw.finish_stream(record, opened.model, usage, error, ended, dispatch_started)
        gw.record(record)
        await _close(opened.rest)


async def _close(agen: object) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # the stream already failed or finished; closing must not mask it
            pass
