"""POST /v1/route: the routing decision for a chat body, as JSON, without calling any upstream."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.doors.chat_parse import parse_chat
from gateway.pipeline import read_body
from gateway.plan import Planner


class RouteDecision:
    def __init__(self, planner: Planner, max_body_bytes: int) -> None:
        self.planner = planner
        self.max_body_bytes = max_body_bytes

    async def decide(self, request: Request, key: ApiKey | None) -> Response:
        req = parse_chat(await read_body(request, self.max_body_bytes))
        return JSONResponse(self.planner.explain(req))
