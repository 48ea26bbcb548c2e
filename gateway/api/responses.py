"""The Responses door with its store: `previous_response_id` looked up before planning, every
returned Response kept (unless `store: false`), `GET /v1/responses/{id}`, its
`/input_items`, and `DELETE /v1/responses/{id}`.

A client key finds only the responses it created; another key's id is answered exactly as an id
that does not exist. An admin key finds every one.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.auth import ADMIN
from gateway.api.paging import cursor_page
from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.doors.base import DoorRequest, StreamEncoder
from gateway.doors.responses import DOOR, not_found
from gateway.doors.responses_items import item_resources
from gateway.doors.responses_request import ResponsesRequest
from gateway.errors import GatewayError, InvalidRequest
from gateway.usage.response_store import ResponseStore, StoredResponse


class KeptResponses:
    """`DOOR` (pure wire format) plus the pipeline hooks that read and write the store."""

    endpoint = DOOR.endpoint
    wire = DOOR.wire
    relay_finish = DOOR.relay_finish

    def __init__(self, store: ResponseStore) -> None:
        self.store = store

    def parse(self, raw: bytes, headers: Any) -> DoorRequest:
        return DOOR.parse(raw, headers)

    def render(self, req: Any, completion: Any) -> bytes:
        return DOOR.render(req, completion)

    def encoder(self, req: Any, model: str) -> StreamEncoder:
        return DOOR.encoder(req, model)

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return DOOR.error_body(exc)

    async def _find(self, response_id: str, key: ApiKey | None) -> StoredResponse:
        stored = await self.store.get(response_id, owner=key.name if key else None,
                                      admin=key is None or key.role == ADMIN)
        if stored is None:
            raise not_found(response_id)
        return stored

    async def prepare(self, req: DoorRequest, key: ApiKey | None) -> DoorRequest:
        assert isinstance(req, ResponsesRequest)
        if not req.previous_response_id:
            return req
        return DOOR.continue_from(req, await self._find(req.previous_response_id, key))

    async def finished(self, req: DoorRequest, key: ApiKey | None, body: bytes) -> None:
        assert isinstance(req, ResponsesRequest)
        stored = DOOR.keep(req, key.name if key else None, body)
        if stored is not None:
            await self.store.put(stored)

    async def get(self, request: Request, key: ApiKey | None) -> Response:
        stored = await self._find(request.path_params["response_id"], key)
        return Response(DOOR.render_stored(stored), media_type="application/json")

    async def input_items(self, request: Request, key: ApiKey | None) -> Response:
        """The items the response came from, newest first unless `order=asc`, paged by
        `after` and `limit` (1-100, default 20)."""
        stored = await self._find(request.path_params["response_id"], key)
        order = request.query_params.get("order", "desc")
        if order not in ("asc", "desc"):
            raise InvalidRequest("order must be 'asc' or 'desc'", param="order")
        items = item_resources(stored.id, stored.items)
        if order == "desc":
            items.reverse()
        span, more = cursor_page([i["id"] for i in items], request.query_params,
                                 default_limit=20, max_limit=100, after="after")
        page = items[span]
        return JSONResponse({"object": "list", "data": page, "has_more": more,
                             "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None})

    async def delete(self, request: Request, key: ApiKey | None) -> Response:
        response_id = request.path_params["response_id"]
        if not await self.store.delete(response_id, owner=key.name if key else None,
                                       admin=key is None or key.role == ADMIN):
            raise not_found(response_id)
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})
