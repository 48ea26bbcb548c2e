"""GET /v1/models: the configured models, their aliases, and every name that asks the router."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey, GatewayConfig

_CREATED = 1_700_000_000


class Models:
    def __init__(self, config: GatewayConfig) -> None:
        data = [{"id": n, "object": "model", "created": _CREATED, "owned_by": "gateway"}
                for n in config.routing.route_names()]
        for m in config.models:
            data.extend({"id": name, "object": "model", "created": _CREATED, "owned_by": m.provider}
                        for name in (m.id, *m.aliases))
        self.body = {"object": "list", "data": data}

    async def list(self, request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(self.body)
