"""The chat-completions door: OpenAI's wire format in (`chat_parse`) and out, passed through.

Bodies and stream frames come from the upstream already in OpenAI's shape, so this door adds
only the gateway's headers, the usage chunk when the client asked for it, `[DONE]`, and the
error event of a stream that failed after it started.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from starlette.datastructures import Headers
from starlette.responses import Response

from gateway.api.respond import error_event, error_response, gateway_headers
from gateway.doors.base import Answer, ChatRequest, Frames
from gateway.doors.chat_parse import parse_chat
from gateway.doors.sse import DONE, SSEResponse
from gateway.errors import GatewayError
from gateway.usage.events import RequestRecord
from providers.base import Usage


class ChatDoor:
    endpoint = "chat"

    def parse(self, raw: bytes, headers: Headers) -> ChatRequest:
        return parse_chat(raw)

    def respond(self, answer: Answer, record: RequestRecord) -> Response:
        headers = gateway_headers(record)
        headers["x-gateway-cost-usd"] = "" if record.cost_usd is None else f"{record.cost_usd:.10f}"
        return Response(answer.body, headers=headers, media_type="application/json")

    def stream(self, frames: Frames, request: ChatRequest, record: RequestRecord) -> Response:
        return SSEResponse(_encode(frames, request.include_usage), gateway_headers(record))

    def error(self, exc: GatewayError, record: RequestRecord) -> Response:
        return error_response(exc, record)


async def _encode(frames: Frames, include_usage: bool) -> AsyncGenerator[bytes, None]:
    try:
        async for item in frames:
            if isinstance(item, Usage):
                if include_usage and item.frame:
                    yield item.frame
            else:
                yield item
        yield DONE
    except GatewayError as exc:
        yield error_event(exc)
    finally:
        aclose = getattr(frames, "aclose", None)
        if aclose is not None:
            await aclose()  # runs the pipeline's bookkeeping: the stream's log row
