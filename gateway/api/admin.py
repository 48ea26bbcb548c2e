"""GET /admin/usage, /admin/requests, /admin/budget; POST /admin/circuits/{name}/reset."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.errors import InvalidRequest, NotFound
from gateway.usage.reports import parse_since

if TYPE_CHECKING:
    from gateway.app import Gateway

GROUPS = ("model", "provider", "task", "day", "key")


def _since(request: Request) -> datetime | None:
    text = request.query_params.get("since")
    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None


async def admin_usage(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    by = request.query_params.get("by", "model")
    if by not in GROUPS:
        raise InvalidRequest(f"by must be one of {', '.join(GROUPS)}, got {by!r}", param="by")
    return JSONResponse(await gw.reader.usage_report(_since(request), by))


async def admin_requests(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    text = request.query_params.get("limit", "50")
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise InvalidRequest(f"limit must be an integer from 1 to 10000, got {text!r}",
                             param="limit")
    rows = await gw.reader.recent(int(text), _since(request))
    return JSONResponse({"object": "list", "data": rows})


async def admin_budget(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    return JSONResponse(gw.budget.report())


async def reset_circuit(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    name = request.path_params["name"]
    done = gw.breakers.reset(name)
    if not done:
        raise NotFound(f"No circuit named {name!r}: use a provider name or a model id.",
                       param="name")
    return JSONResponse({"name": done[0].name, **done[0].snapshot(),
                         "reset": [b.name for b in done]})
