"""The admin endpoints (admin keys only): the cost report, the newest requests, budgets,
circuits (and their reset), and the dashboard's aggregates, all read through the same
`LogReader` as `gateway costs`:

    GET /admin/usage?since=&by=          the `gateway costs` report
    GET /admin/requests?limit=&since=    the newest log rows, with their attempts
    GET /admin/budget                    spend against every budget, with alerts
    GET /admin/series?since=&by=&bucket= spend, requests and errors per time bucket
    GET /admin/latency?since=&bucket=    latency and TTFT percentiles per time bucket
    GET /admin/routing?since=            where `auto` sent each task (task x model)
    GET /admin/circuits                  every provider's and model's circuit, as /health
    POST /admin/circuits/{name}/reset    close a provider's or a model's circuit
"""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.errors import InvalidRequest, NotFound
from gateway.health import Health
from gateway.limits.budget import Budget
from gateway.resilience.breaker import Breakers
from gateway.usage.aggregates import BUCKET_NAMES
from gateway.usage.reports import GROUPS, LogReader, parse_since

SERIES_GROUPS = ("model", "provider", "task", "key")
DEFAULT_WINDOW = "24h"


def since_param(request: Request) -> datetime | None:
    text = request.query_params.get("since")
    if not text:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="since") from None


def _window(request: Request) -> datetime:
    since = since_param(request)
    return since if since is not None else parse_since(DEFAULT_WINDOW)


def _bucket(request: Request) -> str | None:
    bucket = request.query_params.get("bucket") or None
    if bucket is not None and bucket not in BUCKET_NAMES:
        raise InvalidRequest(f"bucket must be one of {', '.join(BUCKET_NAMES)}, got {bucket!r}",
                             param="bucket")
    return bucket


class Admin:
    def __init__(self, reader: LogReader, budget: Budget, breakers: Breakers,
                 health: Health) -> None:
        self.reader = reader
        self.budget = budget
        self.breakers = breakers
        self.health = health

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
        return JSONResponse(await self.budget.report())

    async def series(self, request: Request, key: ApiKey | None) -> Response:
        by = request.query_params.get("by", "model")
        if by not in SERIES_GROUPS:
            raise InvalidRequest(f"by must be one of {', '.join(SERIES_GROUPS)}, got {by!r}",
                                 param="by")
        return JSONResponse(await self.reader.series(_window(request), by, _bucket(request)))

    async def latency(self, request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(await self.reader.latency(_window(request), _bucket(request)))

    async def routing(self, request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(await self.reader.routing_matrix(_window(request)))

    async def circuits(self, request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(self.health.report())

    async def reset_circuit(self, request: Request, key: ApiKey | None) -> Response:
        name = request.path_params["name"]
        done = self.breakers.reset(name)
        if not done:
            raise NotFound(f"No circuit named {name!r}: use a provider name or a model id.",
                           param="name")
        return JSONResponse({"name": done[0].name, **done[0].snapshot(),
                             "reset": [b.name for b in done]})
