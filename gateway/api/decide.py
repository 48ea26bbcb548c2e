"""POST /v1/route (the decision, no upstream call) and POST /v1/feedback (outcomes to learn from)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.chat import read_body
from gateway.api.parse import parse_chat
from gateway.api.respond import JSONResponse
from gateway.errors import InvalidRequest, NotFound
from gateway.usage.events import FeedbackRecord

if TYPE_CHECKING:
    from gateway.app import Gateway

OUTCOMES = ("success", "partial", "failure")


async def route_decision(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    req = parse_chat(await read_body(request, gw.max_body_bytes))
    return JSONResponse(gw.explain(req))


def _feedback(body: Any) -> FeedbackRecord:
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object", param=None)
    rid = body.get("request_id")
    if not isinstance(rid, str) or not rid:
        raise InvalidRequest("request_id must be a non-empty string", param="request_id")
    outcome = body.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidRequest(f"outcome must be one of {', '.join(OUTCOMES)}", param="outcome")
    score = body.get("score")
    if score is not None and (
        not isinstance(score, int | float) or isinstance(score, bool) or not 0 <= score <= 1
    ):
        raise InvalidRequest("score must be a number from 0 to 1", param="score")
    rating = body.get("rating")
    if rating is not None and (
        not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5
    ):
        raise InvalidRequest("rating must be an integer from 1 to 5", param="rating")
    if outcome is None and score is None and rating is None:
        raise InvalidRequest("give at least one of outcome, score or rating", param="outcome")
    if outcome is None:
        value = score if score is not None else (rating - 1) / 4  # type: ignore[operator]
        outcome = "success" if value >= 0.7 else "partial" if value >= 0.4 else "failure"
    return FeedbackRecord(request_id=rid, outcome=outcome,
                          score=None if score is None else float(score), rating=rating)


async def feedback(request: Request) -> Response:
    gw: Gateway = request.app.state.gw
    gw.auth.name_for(request.headers)
    raw = await read_body(request, gw.max_body_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    fb = _feedback(body)
    if not await gw.knows_request(fb.request_id):
        raise NotFound(f"No request with id {fb.request_id!r}.", param="request_id")
    gw.add_feedback(fb)
    return JSONResponse({"object": "feedback", "request_id": fb.request_id,
                         "outcome": fb.outcome, "score": fb.score, "rating": fb.rating})
