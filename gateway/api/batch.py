"""POST /v1/route/batch: up to 1,000 routing decisions in one call, an error in place of each
bad element (the others are still decided). No upstream is called.

`decide_batch` is the core, independent of HTTP: it takes a callable deciding one body (what
`POST /v1/route` does) and applies it to each element, turning a `GatewayError` into that
element's OpenAI-shaped error with its `param` prefixed by the element's place
(`requests[3].messages`). A decision takes well under a millisecond, but a thousand of them
would hold the event loop for a noticeable time, so the loop gets a turn every `YIELD_EVERY`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.api.respond import JSONResponse
from gateway.config import ApiKey
from gateway.doors.chat_parse import parse_chat
from gateway.errors import GatewayError, InvalidRequest
from gateway.pipeline import read_body
from gateway.plan import Planner

log = logging.getLogger("gateway.api")

MAX_BATCH = 1000
YIELD_EVERY = 32

DecideOne = Callable[[dict[str, Any]], Mapping[str, Any]]


def _element_error(exc: GatewayError, i: int) -> dict[str, Any]:
    body = exc.body()
    param = body["error"].get("param")
    body["error"]["param"] = f"requests[{i}]" + (f".{param}" if param else "")
    return body


def _requests(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object", param=None)
    items = body.get("requests")
    if not isinstance(items, list):
        raise InvalidRequest("requests must be an array of chat-completions bodies",
                             param="requests")
    if len(items) > MAX_BATCH:
        raise InvalidRequest(f"requests holds {len(items):,} bodies; at most {MAX_BATCH:,} "
                             "are decided in one call", param="requests")
    return items


async def decide_batch(body: Any, decide_one: DecideOne) -> dict[str, Any]:
    """`{"requests": [...]}` -> `{"decisions": [...]}` in order. Raises InvalidRequest only
    for the batch's own shape (not an object, no `requests` array, too many elements)."""
    decisions: list[Mapping[str, Any]] = []
    for i, item in enumerate(_requests(body)):
        if i and i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
        if not isinstance(item, dict):
            shape = InvalidRequest(f"requests[{i}] must be a chat-completions body (a JSON object)")
            decisions.append(_element_error(shape, i))
            continue
        try:
            decisions.append(decide_one(item))
        except GatewayError as exc:
            decisions.append(_element_error(exc, i))
        except Exception as exc:  # a bug of ours must cost one element, not the batch
            log.exception("deciding requests[%d] failed inside the gateway", i)
            bug = GatewayError(f"Internal gateway error ({type(exc).__name__}).")
            decisions.append(_element_error(bug, i))
    return {"decisions": decisions}


class RouteBatch:
    def __init__(self, planner: Planner, max_body_bytes: int) -> None:
        self.planner = planner
        self.max_body_bytes = max_body_bytes

    async def decide(self, request: Request, key: ApiKey | None) -> Response:
        raw = await read_body(request, self.max_body_bytes)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None

        def decide_one(item: dict[str, Any]) -> Mapping[str, Any]:
            # the same parse as one /v1/route body: every check, every limit
            return self.planner.explain(parse_chat(orjson.dumps(item)))

        return JSONResponse(await decide_batch(body, decide_one))
