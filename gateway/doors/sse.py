"""Server-sent events for every door: a response that relays frames and always closes its source.

Starlette's StreamingResponse on ASGI 2.4 only notices a vanished client at the next write and
leaves the iterator unclosed, so this small response watches for the disconnect itself and
always closes the frame generator: closing it is what runs the pipeline's bookkeeping (the log
row of a stream is written when its generator finishes, whichever way it ends).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

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
            await self.frames.aclose()

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
