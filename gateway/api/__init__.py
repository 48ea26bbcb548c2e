"""API: the HTTP surface. Each endpoint parses, calls into the gateway, and renders."""

from __future__ import annotations

from starlette.routing import Route

from gateway.api.admin import admin_budget, admin_requests, admin_usage, reset_circuit
from gateway.api.chat import chat_completions
from gateway.api.decide import feedback, route_decision
from gateway.api.info import health, list_models, metrics


def routes() -> list[Route]:
    return [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/route", route_decision, methods=["POST"]),
        Route("/v1/feedback", feedback, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/admin/usage", admin_usage, methods=["GET"]),
        Route("/admin/requests", admin_requests, methods=["GET"]),
        Route("/admin/budget", admin_budget, methods=["GET"]),
        Route("/admin/circuits/{name:path}/reset", reset_circuit, methods=["POST"]),
    ]
