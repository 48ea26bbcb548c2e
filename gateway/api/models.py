"""GET /v1/models: the configured models, their aliases, and every name that asks the router;
GET /v1/models/{model}: one of them (the SDK's `models.retrieve`), or 404 `model_not_found`.

A request with an `anthropic-version` header (every Anthropic SDK sends one; OpenAI's never
does) gets Anthropic's shape instead: `ModelInfo` objects in a page with `has_more`,
`first_id` and `last_id`, paged by `limit`, `after_id` and `before_id`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.paging import cursor_page
from gateway.api.respond import JSONResponse
from gateway.config import ApiKey, GatewayConfig
from gateway.errors import ModelNotFound

_CREATED = 1_700_000_000
_CREATED_AT = datetime.fromtimestamp(_CREATED, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
ANTHROPIC_MAX_LIMIT = 1000


class Models:
    def __init__(self, config: GatewayConfig) -> None:
        data = [{"id": n, "object": "model", "created": _CREATED, "owned_by": "gateway"}
                for n in config.routing.route_names()]
        for m in config.models:
            data.extend({"id": name, "object": "model", "created": _CREATED, "owned_by": m.provider}
                        for name in (m.id, *m.aliases))
        self.body = {"object": "list", "data": data}
        self.by_id: dict[str, dict[str, object]] = {str(m["id"]): m for m in data}

    async def list(self, request: Request, key: ApiKey | None) -> Response:
        if "anthropic-version" in request.headers:
            return JSONResponse(self._anthropic_page(request.query_params))
        return JSONResponse(self.body)

    async def retrieve(self, request: Request, key: ApiKey | None) -> Response:
        name = request.path_params["model"]
        found = self.by_id.get(name)
        if found is None:
            raise ModelNotFound(name, list(self.by_id))
        if "anthropic-version" in request.headers:
            return JSONResponse(_model_info(name))
        return JSONResponse(found)

    def _anthropic_page(self, query: Mapping[str, str]) -> dict[str, Any]:
        ids = list(self.by_id)
        span, more = cursor_page(ids, query, default_limit=20, max_limit=ANTHROPIC_MAX_LIMIT,
                                 after="after_id", before="before_id")
        page = ids[span]
        return {"data": [_model_info(i) for i in page], "has_more": more,
                "first_id": page[0] if page else None, "last_id": page[-1] if page else None}


def _model_info(name: str) -> dict[str, str]:
    return {"type": "model", "id": name, "display_name": name, "created_at": _CREATED_AT}
