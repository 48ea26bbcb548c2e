"""Responses: JSON bodies, the gateway's headers, and one renderer for every GatewayError."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from gateway.errors import GatewayError
from gateway.usage.events import RequestRecord


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def gateway_headers(record: RequestRecord) -> dict[str, str]:
    """The headers every chat response carries (DESIGN: "Every response carries headers ...")."""
    headers = {
        "x-request-id": record.id,
        "x-gateway-model": record.model or "none",
        "x-gateway-provider": record.provider or "none",
        "x-gateway-task": record.task or "none",
        "x-gateway-attempts": str(record.attempts),
    }
    if record.experiment:
        headers["x-gateway-experiment"] = f"{record.experiment}:{record.arm}"
    if record.parallel:
        headers["x-gateway-parallel"] = record.parallel
    if record.consensus:
        headers["x-gateway-consensus"] = record.consensus
    if record.simulated:
        headers["x-gateway-simulated"] = "true"  # no real model answered: the demo
    return headers


def error_response(exc: GatewayError, record: RequestRecord | None = None) -> Response:
    headers = {**(gateway_headers(record) if record else {}), **exc.headers()}
    return Response(orjson.dumps(exc.body()), status_code=exc.status, headers=headers,
                    media_type="application/json")
