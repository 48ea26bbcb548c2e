"""POST /v1/feedback: how a request went, for the router to learn from.

A client key may rate only its own requests: another key's request id is answered exactly like
an id that does not exist (404), so ids cannot be probed.

An id this instance has not seen may belong to a request another instance (or worker) answered
a moment ago, whose row its writer has not flushed yet: such an id is looked up again until
that writer must have flushed (`lag_s`) before it is called unknown.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.auth import ADMIN
from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.errors import InvalidRequest, NotFound
from gateway.pipeline import read_body
from gateway.usage.events import FeedbackRecord
from gateway.usage.recorder import Recorder
from gateway.usage.reports import LogReader

OUTCOMES = ("success", "partial", "failure")
_MISSING = object()


def parse_feedback(body: Any) -> FeedbackRecord:
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


class Feedback:
    def __init__(self, recorder: Recorder, reader: LogReader, notify: Callable[[], None],
                 max_body_bytes: int, lag_s: float = 0.0) -> None:
        """`lag_s`: how long a finished request's row may take to reach the log."""
        self.recorder = recorder
        self.reader = reader
        self.notify = notify
        self.max_body_bytes = max_body_bytes
        self.lag_s = lag_s

    async def _owner(self, request_id: str) -> object:
        """The key name that made `request_id` (None: no auth), or _MISSING."""
        deadline = time.monotonic() + self.lag_s
        while True:
            if request_id in self.recorder.recent:
                return self.recorder.recent[request_id]
            row = await self.reader.request_owner(request_id)
            if row is not None:
                return row[0]
            if time.monotonic() >= deadline:
                return _MISSING
            await asyncio.sleep(min(0.1, self.lag_s / 4))

    async def post(self, request: Request, key: ApiKey | None) -> Response:
        raw = await read_body(request, self.max_body_bytes)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
        fb = parse_feedback(body)
        owner = await self._owner(fb.request_id)
        if owner is _MISSING or (key is not None and key.role != ADMIN and owner != key.name):
            raise NotFound(f"No request with id {fb.request_id!r}.", param="request_id")
        self.recorder.feedback(fb)
        self.notify()
        return JSONResponse({"object": "feedback", "request_id": fb.request_id,
                             "outcome": fb.outcome, "score": fb.score, "rating": fb.rating})
