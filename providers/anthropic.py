"""Anthropic adapter: chat completions -> `POST /v1/messages` and back, natively over HttpTransport.

Why native and not through litellm: the hot path stays light (no multi-second litellm import,
no per-chunk pydantic objects: one orjson parse per upstream event and one dump per chunk), we
control the stream translation exactly (tool-call fragments in OpenAI's shape, one id for the
whole stream, usage from message_start + message_delta), and timeouts, pooling and exception
translation are the same `HttpTransport` every other adapter uses. The wire formats live in
`anthropic_request` (outbound) and `anthropic_response` (inbound); this module only does I/O.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, cast

import orjson

from gateway.config import ProviderConfig
from gateway.errors import UpstreamConnectionError, UpstreamHTTPError
from providers.anthropic_request import to_anthropic
from providers.anthropic_response import StreamTranslator, completion, stream_error
from providers.base import KEEPALIVE, Completion, UpstreamCall, Usage
from providers.http import HttpTransport

API_VERSION = "2023-06-01"
PATH = "/v1/messages"


class AnthropicProvider:
    """Anthropic's Messages API (or anything speaking it at `{base_url}/v1/messages`)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.config = config
        self.http = HttpTransport(config)
        configured = {k.lower() for k in config.headers}
        self._headers = {"content-type": "application/json", "accept": "application/json"}
        if "anthropic-version" not in configured:  # a configured version (or beta) wins
            self._headers["anthropic-version"] = API_VERSION
        if config.api_key:
            self._headers["x-api-key"] = config.api_key
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.http.base_url}>"

    async def complete(self, call: UpstreamCall) -> Completion:
        request = orjson.dumps(to_anthropic(call.body, call.model))
        raw = await self.http.post(PATH, request, self._headers, call.timeouts)
        message = self._parse(raw)
        if message.get("type") == "error":  # an error body behind a 200, seen from some proxies
            raise stream_error(message, self.name)
        if message.get("type") != "message":
            raise UpstreamHTTPError(
                f"{self.name}: answer is not a message: {raw[:200]!r}", http_status=502
            )
        body, usage = completion(message, call.model.id)
        return Completion(orjson.dumps(body), usage)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        request = orjson.dumps(to_anthropic(call.body, call.model, stream=True))
        translator = StreamTranslator(call.model.id, self.name)
        events = cast(
            AsyncGenerator[bytes, None],
            self.http.sse(PATH, request, self._stream_headers, call.timeouts),
        )
        async with aclosing(events):  # releases the connection as soon as we stop reading
            async for event in events:
                data = _data(event)
                chunks = translator.feed(self._parse(data)) if data is not None else []
                if not chunks:
                    yield KEEPALIVE  # ping, thinking, block stops: alive, nothing to relay
                for chunk in chunks:
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                if translator.done:
                    break
        yield translator.usage()  # raises if the stream was cut before message_stop

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamConnectionError(f"{self.name}: answer is not JSON: {exc}") from None
        if not isinstance(value, Mapping):
            raise UpstreamConnectionError(f"{self.name}: answer is not a JSON object")
        return dict(value)

    async def aclose(self) -> None:
        await self.http.aclose()


def _data(event: bytes) -> bytes | None:
    """The `data:` payload of one SSE event (Anthropic also sends `event:` lines: redundant with
    the payload's own `type`)."""
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None
