"""Responses door: `POST /v1/responses` and `GET /v1/responses/{id}`, as `client.responses` sends them.

Parse (`responses_request`), translate to chat completions (`responses_translate`), answer
(`responses_response`) and stream (`responses_stream`). Conversation state is the pipeline's to
fetch and keep (through a `ResponseStore`); the door only says what to do with it:
`continue_from` puts a stored response's conversation before the new input, and `keep` makes the
record to store (None when the client asked `store: false`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.doors.responses_request import ResponsesRequest, parse_responses
from gateway.doors.responses_response import render_response
from gateway.doors.responses_stream import ResponsesEncoder
from gateway.doors.responses_translate import output_as_input, to_chat
from gateway.errors import GatewayError, NotFound
from gateway.usage.response_store import StoredResponse


def not_found(response_id: str) -> NotFound:
    """The answer for an id that does not exist, or that another key stored (the same words)."""
    return NotFound(f"No response with id {response_id!r} found.", param="previous_response_id")


class ResponsesDoor:
    """OpenAI's Responses API (the `Door` of `base`, for `ResponsesRequest`)."""

    endpoint = "responses"
    wire = "responses"  # no upstream answers in this format: every answer is translated
    relay_finish = False

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> ResponsesRequest:
        return parse_responses(raw, headers)

    def render(self, req: ResponsesRequest, completion: Mapping[str, Any]) -> bytes:
        return orjson.dumps(render_response(req, completion))

    def encoder(self, req: ResponsesRequest, model: str) -> ResponsesEncoder:
        return ResponsesEncoder(req, model)

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return exc.status, orjson.dumps(exc.body()), exc.headers()

    def continue_from(self, req: ResponsesRequest, previous: StoredResponse) -> ResponsesRequest:
        """`req` with the conversation of `previous` (its inputs, then its output) before its own
        input. The previous turn's `instructions` are not carried over, as OpenAI does."""
        output = previous.response().get("output") or []
        items = [*previous.items, *output_as_input(output), *req.items]
        body = to_chat(req.source, req.source.get("instructions"), items)
        return dataclasses.replace(req, body=body, items=items)

    def keep(self, req: ResponsesRequest, api_key: str | None, body: bytes) -> StoredResponse | None:
        """What to store for the Response `body` this request got (None: `store: false`)."""
        if not req.store:
            return None
        return StoredResponse(id=req.id, api_key=api_key, body=body, items=req.items)

    def render_stored(self, stored: StoredResponse) -> bytes:
        """`GET /v1/responses/{id}`: the Response as it was returned."""
        return stored.body


DOOR = ResponsesDoor()
