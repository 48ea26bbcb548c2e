"""GET /v1/models: the configured models, their aliases, and every name that asks the router;
GET /v1/models/{model}: one of them (the SDK's `models.retrieve`), or 404 `model_not_found`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey, GatewayConfig
from gateway.errors import ModelNotFound

_CREATED = 1_700_000_000


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
        return JSONResponse(self.body)

    async def retrieve(self, request: Request, key: ApiKey | None) -> Response:
        name = request.path_params["model"]
        found = self.by_id.get(name)
        if found is None:
            raise ModelNotFound(name, list(self.by_id))
        return JSONResponse(found)
