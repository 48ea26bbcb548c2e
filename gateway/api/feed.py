"""WS /ws/routing: the live feed of finished requests, for admin keys, one JSON text frame each.

The key comes as `?key=` (browsers cannot set headers on a WebSocket) or in `Authorization`.
A refused handshake is answered with the gateway's usual JSON error and status (401, 403)
where the server supports WebSocket denial responses, else closed with code 1008. A consumer
that falls behind is closed with 1013 (try again later); a gateway shutting down closes with
1001. Messages from the client are read and ignored, so a disconnect is noticed at once.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.datastructures import Headers
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.api.auth import ADMIN, Auth
from gateway.api.respond import error_response
from gateway.errors import GatewayError
from gateway.telemetry.feed import RoutingFeed, Subscription

CLOSE_POLICY, CLOSE_GOING_AWAY, CLOSE_TRY_LATER = 1008, 1001, 1013


def key_headers(websocket: WebSocket) -> Headers:
    """The handshake's headers, with `?key=` turned into a bearer token when present."""
    key = websocket.query_params.get("key")
    if not key:
        return websocket.headers
    raw = [(k, v) for k, v in websocket.headers.raw if k != b"authorization"]
    return Headers(raw=[*raw, (b"authorization", f"Bearer {key}".encode())])


class Feed:
    def __init__(self, auth: Auth, feed: RoutingFeed, role: str | None = ADMIN) -> None:
        """`role`: the key the handshake needs (the route table's row says which)."""
        self.auth = auth
        self.feed = feed
        self.role = role

    async def serve(self, websocket: WebSocket) -> None:
        try:
            if self.role is not None:
                self.auth.check(key_headers(websocket), self.role)
        except GatewayError as exc:
            await _deny(websocket, exc)
            return
        await websocket.accept()
        sub = self.feed.subscribe()
        try:
            code = await _serve(websocket, sub)
        finally:
            self.feed.unsubscribe(sub)
        if code is not None:
            with contextlib.suppress(RuntimeError, OSError):  # the client may be gone already
                await websocket.close(code, sub.reason[:120])


async def _serve(websocket: WebSocket, sub: Subscription) -> int | None:
    """Relay until the client leaves (None) or the subscription ends (the close code)."""

    async def pump() -> None:
        while True:
            await websocket.send_text(await sub.get())

    async def listen() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    tasks = [asyncio.ensure_future(c) for c in (pump(), listen(), sub.ended.wait())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    if not sub.ended.is_set():
        return None  # the client went away (or a send failed because it did)
    return CLOSE_TRY_LATER if sub.slow else CLOSE_GOING_AWAY


async def _deny(websocket: WebSocket, exc: GatewayError) -> None:
    try:
        await websocket.send_denial_response(error_response(exc))
    except RuntimeError:  # the server has no denial-response extension
        await websocket.close(CLOSE_POLICY, exc.message[:120])
