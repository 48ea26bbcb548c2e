"""GET /admin/experiments: every A/B experiment's arms with their figures (as
`gateway experiments --json`). Mounted by the composition root next to the other admin routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.errors import InvalidRequest
from gateway.experiments.report import experiments_report
from gateway.usage.reports import parse_since

if TYPE_CHECKING:
    from gateway.app import Gateway


async def admin_experiments(request: Request) -> Response:
    """`?since=24h|7d|ISO` limits the rows read (default: all time)."""
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    since = None
    text = request.query_params.get("since")
    if text:
        try:
            since = parse_since(text)
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="since") from None
    # scipy is loaded by the first report, not at start: a gateway never asked pays nothing.
    return JSONResponse(await experiments_report(gw.reader, gw.config.experiments, since))
