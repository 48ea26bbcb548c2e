"""A door on a real provider over real HTTP: the doors' pure halves wired the simplest way.

Not the gateway's pipeline (no routing, retries, budgets or log): parse -> one call to one real
provider (pointed at a loopback fake) -> render or encode, every error in the door's shape. The
official SDKs talk to it on 127.0.0.1, and it shows how a door is meant to be wired: the first
stream item is awaited before the status line (an upstream that fails at once is an error
status), a failure after it is the encoder's error event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gateway.config import parse_config
from gateway.doors.base import SSE_HEADERS, Door, DoorRequest, StreamEncoder
from gateway.doors.embeddings import DOOR as EMBEDDINGS
from gateway.doors.messages import DOOR as MESSAGES
from gateway.doors.messages_request import MessagesRequest
from gateway.doors.responses import DOOR as RESPONSES
from gateway.doors.responses import not_found
from gateway.doors.responses_request import ResponsesRequest
from gateway.doors.responses_stream import ResponsesEncoder
from gateway.errors import AttemptInfo, GatewayError, ProviderError, UpstreamUnavailable
from gateway.usage.response_store import MemoryResponseStore, ResponseStore
from providers import build_provider
from providers.base import Embedder, NativeMessages, UpstreamCall, Usage
from tests.fakes.server import free_port

T = TypeVar("T")
MODEL = "door-model"
ADMIN_KEY = "admin-key"


def key_of(request: Request) -> str | None:
    """The caller's key, standing in for its name (the store scopes responses by it)."""
    auth = request.headers.get("authorization", "")
    return request.headers.get("x-api-key") or auth.removeprefix("Bearer ") or None


class DoorServer:
    """Serves /v1/messages (+ count_tokens), /v1/responses (+ GET) and /v1/embeddings."""

    def __init__(self, provider: dict[str, Any], upstream: str = "fake-model", *,
                 native: bool = True, store: ResponseStore | None = None) -> None:
        config = parse_config({"providers": {"up": provider},
                               "models": [{"id": MODEL, "provider": "up", "upstream": upstream}]},
                              env={})
        self.model = config.models[0]
        self.timeouts = config.timeouts_for(self.model)
        self.provider = build_provider(config.providers["up"])
        self.native = native
        self.store = store or MemoryResponseStore()
        self.usages: list[Usage] = []  # every upstream call's usage, in order
        self.requests: list[DoorRequest] = []  # every parsed request
        self.port = free_port()
        app = Starlette(routes=[
            Route("/v1/messages", self.messages, methods=["POST"]),
            Route("/v1/messages/count_tokens", self.count_tokens, methods=["POST"]),
            Route("/v1/responses", self.responses, methods=["POST"]),
            Route("/v1/responses/{id}", self.get_response, methods=["GET"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ], lifespan=self._lifespan)
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await self.provider.aclose()
        await self.store.aclose()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DoorServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("door server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)

    # -- routes -------------------------------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        async def run() -> Response:
            req = self._parsed(MESSAGES.parse(await request.body(), request.headers))
            assert isinstance(req, MessagesRequest)
            if self.native and isinstance(self.provider, NativeMessages):
                return await self._native(req)
            return await self._run(MESSAGES, req)

        return await self._answer(MESSAGES, run())

    async def count_tokens(self, request: Request) -> Response:
        async def run() -> Response:
            body = MESSAGES.count_tokens(await request.body(), request.headers)
            return Response(body, media_type="application/json")

        return await self._answer(MESSAGES, run())

    async def responses(self, request: Request) -> Response:
        async def run() -> Response:
            req = RESPONSES.parse(await request.body(), request.headers)
            if req.previous_response_id is not None:
                previous = await self._stored(request, req.previous_response_id)
                req = RESPONSES.continue_from(req, previous)
            return await self._run(RESPONSES, self._parsed(req), key_of(request))

        return await self._answer(RESPONSES, run())

    async def get_response(self, request: Request) -> Response:
        async def run() -> Response:
            stored = await self._stored(request, request.path_params["id"])
            return Response(RESPONSES.render_stored(stored), media_type="application/json")

        return await self._answer(RESPONSES, run())

    async def embeddings(self, request: Request) -> Response:
        async def run() -> Response:
            req = self._parsed(EMBEDDINGS.parse(await request.body(), request.headers))
            assert isinstance(self.provider, Embedder)
            call = UpstreamCall(body=req.body, model=self.model, timeouts=self.timeouts)
            done = await self._upstream(self.provider.embed(call))
            self.usages.append(done.usage)
            return Response(done.body, media_type="application/json")

        return await self._answer(EMBEDDINGS, run())

    # -- the steps ----------------------------------------------------------------------------

    def _parsed(self, req: DoorRequest) -> DoorRequest:
        self.requests.append(req)
        return req

    async def _stored(self, request: Request, response_id: str) -> Any:
        key = key_of(request)
        stored = await self.store.get(response_id, owner=key, admin=key == ADMIN_KEY)
        if stored is None:
            raise not_found(response_id)
        return stored

    async def _answer(self, door: Door[Any], run: Awaitable[Response]) -> Response:
        try:
            return await run
        except GatewayError as exc:
            status, body, headers = door.error_body(exc)
            return Response(body, status_code=status, headers=headers,
                            media_type="application/json")

    async def _upstream(self, call: Awaitable[T]) -> T:
        """One upstream call; its failure is the request's final one (no retries here)."""
        try:
            return await call
        except ProviderError as exc:
            raise self._final(exc) from exc

    def _final(self, exc: ProviderError) -> UpstreamUnavailable:
        attempt = AttemptInfo(1, self.model.id, self.provider.name, "error", exc.http_status,
                              exc.message, 0.0)
        return UpstreamUnavailable([attempt], status=exc.status)

    async def _run(self, door: Door[Any], req: DoorRequest, key: str | None = None) -> Response:
        call = UpstreamCall(body=req.body, model=self.model, timeouts=self.timeouts,
                            stream=req.stream, include_usage=req.include_usage)
        if not req.stream:
            done = await self._upstream(self.provider.complete(call))
            self.usages.append(done.usage)
            body = door.render(req, orjson.loads(done.body))
            await self._keep(req, key, body)
            return Response(body, media_type="application/json")
        items = aiter(self.provider.stream(call))
        first = await self._upstream(anext(items))
        encoder = door.encoder(req, self.model.id)
        return StreamingResponse(self._frames(encoder, first, items, req, key),
                                 media_type="text/event-stream", headers=SSE_HEADERS)

    async def _frames(self, encoder: StreamEncoder, first: bytes | Usage,
                      items: AsyncIterator[bytes | Usage], req: DoorRequest, key: str | None
                      ) -> AsyncIterator[bytes]:
        for frame in encoder.start():
            yield frame
        usage: Usage | None = None
        item: bytes | Usage | None = first
        try:
            while item is not None:
                if isinstance(item, Usage):
                    usage = item
                else:
                    for frame in encoder.feed(orjson.loads(item.removeprefix(b"data: "))):
                        yield frame
                item = await anext(items, None)
        except ProviderError as exc:
            yield encoder.error(self._final(exc))
            return
        if usage is not None:
            self.usages.append(usage)
        for frame in encoder.finish(usage):
            yield frame
        if isinstance(encoder, ResponsesEncoder) and encoder.final is not None:
            await self._keep(req, key, encoder.final)

    async def _keep(self, req: DoorRequest, key: str | None, body: bytes) -> None:
        if isinstance(req, ResponsesRequest):
            stored = RESPONSES.keep(req, key, body)
            if stored is not None:
                await self.store.put(stored)

    async def _native(self, req: MessagesRequest) -> Response:
        provider = self.provider
        assert isinstance(provider, NativeMessages) and req.native is not None
        call = UpstreamCall(body=req.body, model=self.model, timeouts=self.timeouts,
                            stream=req.stream)
        if not req.stream:
            body, usage = await self._upstream(
                provider.complete_native(call, req.native, req.native_headers))
            self.usages.append(usage)
            return Response(body, media_type="application/json")
        items = aiter(provider.stream_native(call, req.native, req.native_headers))
        first = await self._upstream(anext(items))

        async def relay() -> AsyncIterator[bytes]:
            item: bytes | Usage | None = first
            try:
                while item is not None:
                    if isinstance(item, Usage):
                        self.usages.append(item)
                    else:
                        yield item
                    item = await anext(items, None)
            except ProviderError as exc:
                yield MESSAGES.encoder(req, self.model.id).error(self._final(exc))

        return StreamingResponse(relay(), media_type="text/event-stream", headers=SSE_HEADERS)
