"""Messages door: `POST /v1/messages` and `/v1/messages/count_tokens`, as Anthropic's SDKs send them.

Parse (`messages_request`), translate to chat completions (`messages_translate`), answer
(`messages_response`) and stream (`messages_stream`). For an Anthropic-kind upstream the
pipeline sends `req.native` with `req.native_headers` through the provider's native methods and
relays the answer unchanged; every other upstream gets `req.body`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from gateway.doors.messages_request import MessagesRequest, parse_messages
from gateway.doors.messages_response import error_body, render_message
from gateway.doors.messages_stream import MessagesEncoder
from gateway.errors import GatewayError
from gateway.routing.prompt import view
from gateway.routing.tokens import estimate_prompt


class MessagesDoor:
    """Anthropic's Messages API (the `Door` of `base`, for `MessagesRequest`)."""

    endpoint = "messages"
    wire = "anthropic"  # an Anthropic upstream's native answer is relayed as it is
    relay_finish = False  # that answer carries its own message_delta and message_stop

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> MessagesRequest:
        return parse_messages(raw, headers)

    def render(self, req: MessagesRequest, completion: Mapping[str, Any]) -> bytes:
        return orjson.dumps(render_message(req.id, completion))

    def encoder(self, req: MessagesRequest, model: str) -> MessagesEncoder:
        return MessagesEncoder(req.id, model, estimate_prompt(view(req.body)))

    def error_body(self, exc: GatewayError) -> tuple[int, bytes, dict[str, str]]:
        return error_body(exc)

    def count_tokens(self, raw: bytes, headers: Mapping[str, str]) -> tuple[str, bytes]:
        """The model asked for and `{"input_tokens": N}` for a Messages body: the gateway's
        estimate (it errs high)."""
        req = parse_messages(raw, headers, counting=True)
        return req.model, orjson.dumps({"input_tokens": estimate_prompt(view(req.body))})


DOOR = MessagesDoor()
