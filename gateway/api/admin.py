"""GET /admin/usage, /admin/requests, /admin/budget; POST /admin/circuits/{name}/reset (admin keys)."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.errors import InvalidRequest, NotFound
from gateway.resilience.breaker import Breakers
from gateway.resilience.budget import Budget
from gateway.usage.reports import GROUPS, LogReader, parse_since


def since_param(request: Request) -> datetime | None:
    text = request.query_params.get("since")
    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None


class Admin:
    def __init__(self, reader: LogReader, budget: Budget, breakers: Breakers) -> None:
        self.reader = reader
        self.budget = budget
        self.breakers = breakers

    async def usage(self, request: Request, key: ApiKey | None) -> Response:
        by = request.query_params.get("by", "model")
        if by not in GROUPS:
            raise InvalidRequest(f"by must be one of {', '.join(GROUPS)}, got {by!r}", param="by")
        return JSONResponse(await self.reader.usage_report(since_param(request), by))

    async def requests(self, request: Request, key: ApiKey | None) -> Response:
        text = request.query_params.get("limit", "50")
        if not text.isdigit() or not 1 <= int(text) <= 10_000:
            raise InvalidRequest(f"limit must be an integer from 1 to 10000, got {text!r}",
                                 param="limit")
        rows = await self.reader.recent(int(text), since_param(request))
        return JSONResponse({"object": "list", "data": rows})

    async def budget_report(self, request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(self.budget.report())

    async def reset_circuit(self, request: Request, key: ApiKey | None) -> Response:
        name = request.path_params["name"]
        done = self.breakers.reset(name)
        if not done:
            raise NotFound(f"No circuit named {name!r}: use a provider name or a model id.",
                           param="name")
        return JSONResponse({"name": done[0].name, **done[0].snapshot(),
                             "reset": [b.name for b in done]})
