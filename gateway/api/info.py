"""GET /v1/models, /health and /metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse

if TYPE_CHECKING:
    from gateway.app import Gateway


async def list_models(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    created = 1_700_000_000
    data = [{"id": name, "object": "model", "created": created, "owned_by": "gateway"}
            for name in gw.model_names[len(gw.config.models):]]
    for m in gw.config.models:
        data.append({"id": m.id, "object": "model", "created": created, "owned_by": m.provider})
        data.extend({"id": a, "object": "model", "created": created, "owned_by": m.provider}
                    for a in m.aliases)
    return JSONResponse({"object": "list", "data": data})


async def health(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    return JSONResponse(gw.health())


async def metrics(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    return Response(generate_latest(gw.metrics.registry), media_type=CONTENT_TYPE_LATEST)
