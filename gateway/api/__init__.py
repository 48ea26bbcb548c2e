"""API: the HTTP surface, and the one table that says which role each endpoint needs.

`ENDPOINTS` lists every endpoint the gateway serves with the role it needs: `admin`, `client`
(any key) or None (open: health checks, Prometheus scrapes, the dashboard's page, which holds
no data). `routes()` mounts exactly these rows and nothing else but the dashboard's static
assets. Doors (chat completions, ...) go through the pipeline, which checks the key itself so
that a refused request still leaves its log row; the live feed checks the row's role at its
WebSocket handshake; every other endpoint is wrapped by `guarded` with its row's role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gateway.api.admin import Admin
from gateway.api.auth import ADMIN, CLIENT, Auth
from gateway.api.batch import RouteBatch
from gateway.api.dashboard import dashboard, static_assets
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
from gateway.pipeline import Hooks

if TYPE_CHECKING:
    from gateway.app import Parts

Handler = Callable[[Request, ApiKey | None], Awaitable[Response]]
WS = "WS"  # the method of a WebSocket endpoint


@dataclass(frozen=True)
class Endpoint:
    """One row of the route table: `method path` needs a key of `role` (None: no key)."""

    method: str
    path: str
    role: str | None
    handler: str  # its name among the handlers `routes()` builds


# Doors and the count_tokens helper check the key themselves (any key, i.e. CLIENT).
DOORS = frozenset({"chat", "messages", "count_tokens", "responses", "embeddings"})
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/chat/completions", CLIENT, "chat"),
    Endpoint("POST", "/chat/completions", CLIENT, "chat"),
    Endpoint("POST", "/v1/messages", CLIENT, "messages"),
    Endpoint("POST", "/v1/messages/count_tokens", CLIENT, "count_tokens"),
    Endpoint("POST", "/v1/responses", CLIENT, "responses"),
    Endpoint("POST", "/v1/embeddings", CLIENT, "embeddings"),
    Endpoint("GET", "/v1/models", CLIENT, "models"),
    Endpoint("GET", "/v1/models/{model:path}", CLIENT, "model"),
    Endpoint("POST", "/v1/route", CLIENT, "route"),
    Endpoint("POST", "/v1/route/batch", CLIENT, "route_batch"),
    Endpoint("POST", "/v1/feedback", CLIENT, "feedback"),  # its own request ids only
    Endpoint("GET", "/v1/responses/{response_id}", CLIENT, "response"),  # its own only
    Endpoint("GET", "/v1/responses/{response_id}/input_items", CLIENT, "input_items"),  # its own
    Endpoint("DELETE", "/v1/responses/{response_id}", CLIENT, "delete_response"),  # its own
    Endpoint("GET", "/health", None, "health"),
    Endpoint("GET", "/metrics", None, "metrics"),
    Endpoint("GET", "/admin/usage", ADMIN, "usage"),
    Endpoint("GET", "/admin/requests", ADMIN, "requests"),
    Endpoint("GET", "/admin/budget", ADMIN, "budget"),
    Endpoint("GET", "/admin/experiments", ADMIN, "experiments"),
    Endpoint("GET", "/admin/series", ADMIN, "series"),
    Endpoint("GET", "/admin/latency", ADMIN, "latency"),
    Endpoint("GET", "/admin/routing", ADMIN, "routing"),
    Endpoint("GET", "/admin/circuits", ADMIN, "circuits"),
    Endpoint("POST", "/admin/circuits/{name:path}/reset", ADMIN, "reset_circuit"),
    Endpoint(WS, "/ws/routing", ADMIN, "feed"),
    Endpoint("GET", "/dashboard", None, "dashboard"),
)


def guarded(auth: Auth, role: str | None, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        key = auth.check(request.headers, role) if role else None
        return await handler(request, key)

    return endpoint


def door(parts: Parts, d: Door[Any]) -> Callable[[Request], Awaitable[Response]]:
    hooks = d if isinstance(d, Hooks) else None

    async def endpoint(request: Request) -> Response:
        return await parts.pipeline.handle(d, request, hooks)

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
        return await parts.pipeline.answer_here(messages.DOOR, request, "count_tokens",
                                                messages.DOOR.count_tokens)

    async def health(request: Request, key: ApiKey | None) -> Response:
        return JSONResponse(parts.health.report())

    async def metrics(request: Request, key: ApiKey | None) -> Response:
        return Response(generate_latest(parts.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def page(request: Request, key: ApiKey | None) -> Response:
        return await dashboard(request)

    doors: dict[str, Callable[[Request], Awaitable[Response]]] = {
        "chat": chat_door, "messages": door(parts, messages.DOOR), "count_tokens": count_tokens,
        "responses": door(parts, responses), "embeddings": door(parts, embeddings.DOOR)}
    handlers: dict[str, Handler] = {
        "models": models.list, "model": models.retrieve, "route": decide.decide, "route_batch": batch.decide,
        "feedback": feedback.post, "response": responses.get, "input_items": responses.input_items,
        "delete_response": responses.delete, "health": health,
        "metrics": metrics, "usage": admin.usage, "requests": admin.requests,
        "budget": admin.budget_report, "experiments": experiments.get, "series": admin.series,
        "latency": admin.latency, "routing": admin.routing, "circuits": admin.circuits,
        "reset_circuit": admin.reset_circuit, "dashboard": page}
    out: list[BaseRoute] = []
    for e in ENDPOINTS:
        if e.method == WS:
            out.append(WebSocketRoute(e.path, Feed(parts.auth, parts.feed, e.role).serve))
        elif e.handler in DOORS:
            if e.role != CLIENT:  # the pipeline asks for any known key, nothing more
                raise ValueError(f"{e.path}: a door takes a client key, not {e.role}")
            out.append(Route(e.path, doors[e.handler], methods=[e.method]))
        else:
            out.append(Route(e.path, guarded(parts.auth, e.role, handlers[e.handler]),
                             methods=[e.method]))
    return [*out, static_assets()]
