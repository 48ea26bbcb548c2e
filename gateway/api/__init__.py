"""API: the HTTP surface, and the one table that says which role each endpoint needs.

Doors (chat completions, ...) go through the pipeline, which checks the key itself so that a
refused request still leaves its log row; every other endpoint is wrapped by `guarded` with the
role its row here names (None: open, as health checks and Prometheus scrapes are).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.api.admin import Admin
from gateway.api.auth import ADMIN, CLIENT, Auth
from gateway.api.batch import RouteBatch
from gateway.api.dashboard import dashboard_routes
from gateway.api.experiments import ExperimentsReport
from gateway.api.feed import Feed
from gateway.api.feedback import Feedback
from gateway.api.models import Models
from gateway.api.respond import JSONResponse
from gateway.api.responses import KeptResponses
from gateway.api.route import RouteDecision
from gateway.config import ApiKey
from gateway.doors import chat, embeddings, messages
from gateway.doors.base import Door
from gateway.errors import GatewayError
from gateway.pipeline import read_body

if TYPE_CHECKING:
    from gateway.app import Parts

Handler = Callable[[Request, ApiKey | None], Awaitable[Response]]


def guarded(auth: Auth, role: str | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        key = auth.check(request.headers, role) if role else None
        return await handler(request, key)

    return endpoint


def door(parts: Parts, d: Door[Any]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await parts.pipeline.handle(d, request)

    return endpoint


def routes(parts: Parts) -> list[BaseRoute]:
    max_body = parts.pipeline.max_body_bytes
    admin = Admin(parts.reader, parts.shared.admission.budget, parts.breakers, parts.health)
    models = Models(parts.config)
    decide = RouteDecision(parts.planner, max_body)
    batch = RouteBatch(parts.planner, max_body)
    experiments = ExperimentsReport(parts.reader, parts.config.experiments)
    # another instance's writer flushes its rows every flush_interval_s (twice, if a batch is
    # being written then): feedback waits that long for an id it has not seen
    lag_s = 2 * parts.config.database.flush_interval_s + 0.25
    feedback = Feedback(parts.recorder, parts.reader, parts.learner.notify, max_body, lag_s)
    chat_door = door(parts, chat.DOOR)
    responses = KeptResponses(parts.responses)

    async def count_tokens(request: Request) -> Response:
        # errors in the Messages door's own shape, like /v1/messages itself
        try:
            parts.auth.check(request.headers)
            raw = await read_body(request, max_body)
            return Response(messages.DOOR.count_tokens(raw, request.headers),
                            media_type="application/json")
        except GatewayError as exc:
            status, body, headers = messages.DOOR.error_body(exc)
            return Response(body, status_code=status, headers=headers,
                            media_type="application/json")

    async def health(request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(parts.health.report())

    async def metrics(request: Request, key: ApiKey | None) -> Response:
        return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    table: list[tuple[str, Handler, str, str | None]] = [
        ("/v1/models", models.list, "GET", CLIENT),
        ("/v1/route", decide.decide, "POST", CLIENT),
        ("/v1/route/batch", batch.decide, "POST", CLIENT),
        ("/v1/feedback", feedback.post, "POST", CLIENT),
        ("/health", health, "GET", None),
        ("/metrics", metrics, "GET", None),
        ("/admin/usage", admin.usage, "GET", ADMIN),
        ("/admin/requests", admin.requests, "GET", ADMIN),
        ("/admin/budget", admin.budget_report, "GET", ADMIN),
        ("/admin/experiments", experiments.get, "GET", ADMIN),
        ("/admin/series", admin.series, "GET", ADMIN),
        ("/admin/latency", admin.latency, "GET", ADMIN),
        ("/admin/routing", admin.routing, "GET", ADMIN),
        ("/admin/circuits", admin.circuits, "GET", ADMIN),
        ("/v1/responses/{response_id}", responses.get, "GET", CLIENT),
        ("/admin/circuits/{name:path}/reset", admin.reset_circuit, "POST", ADMIN),
    ]
    return [
        Route("/v1/chat/completions", chat_door, methods=["POST"]),
        Route("/chat/completions", chat_door, methods=["POST"]),
        Route("/v1/messages", door(parts, messages.DOOR), methods=["POST"]),
        Route("/v1/messages/count_tokens", count_tokens, methods=["POST"]),
        Route("/v1/responses", door(parts, responses), methods=["POST"]),
        Route("/v1/embeddings", door(parts, embeddings.DOOR), methods=["POST"]),
        *(Route(path, guarded(parts.auth, role, handler), methods=[method])
          for path, handler, method, role in table),
        # the feed checks an admin key itself (a browser's WebSocket sends it as `?key=`); the
        # dashboard's page holds no data, and shows only what the admin endpoints give it
        WebSocketRoute("/ws/routing", Feed(parts.auth, parts.feed).serve),
        *dashboard_routes(),
    ]
