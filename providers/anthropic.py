"""Anthropic adapter: chat completions -> `POST /v1/messages` and back, natively over HttpTransport.

Why native and not through litellm: the hot path stays light (no multi-second litellm import,
no per-chunk pydantic objects: one orjson parse per upstream event and one dump per chunk), we
control the stream translation exactly (tool-call fragments in OpenAI's shape, one id for the
whole stream, usage from message_start + message_delta), and timeouts, pooling and exception
translation are the same `HttpTransport` every other adapter uses. The wire formats live in
`anthropic_request` (outbound) and `anthropic_response` (inbound); this module only does I/O.

`complete_native` / `stream_native` serve the Messages door: the client's own Messages body goes
up as it is (unknown fields, `cache_control`, `thinking` kept; only `model` becomes the upstream
name) with the client's `anthropic-version` and `anthropic-beta`, and the answer comes back as
Anthropic wrote it, its `model` the gateway's id, with the usage read from it. One exception:
`thinking` is left out of a tool loop whose last tool call no thinking block precedes (a turn
another kind of model answered, as a fallback), which Anthropic refuses with thinking on.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any, cast

import orjson

from gateway.config import ProviderConfig
from gateway.errors import UpstreamConnectionError, UpstreamHTTPError
from providers.anthropic_request import to_anthropic
from providers.anthropic_response import StreamTranslator, completion, stream_error, usage_of
from providers.base import Completion, UpstreamCall, Usage
from providers.http import HttpTransport

API_VERSION = "2023-06-01"
PATH = "/v1/messages"


class AnthropicProvider:
    """Anthropic's Messages API (or anything speaking it at `{base_url}/v1/messages`)."""

    bounds_waits = True  # its transport bounds the first token, the silences and the whole

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
        # A configured beta list is kept when a client adds its own (the two are merged).
        self._betas = [(k, v) for k, v in config.headers.items() if k.lower() == "anthropic-beta"]

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
                for chunk in chunks:  # none for a ping, thinking, a block's stop
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                if translator.done:
                    break
        yield translator.usage()  # raises if the stream was cut before message_stop

    # -- native: the Messages body as the client sent it ------------------------------------

    async def complete_native(
        self, call: UpstreamCall, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> tuple[bytes, Usage]:
        """POST the client's Messages body; (the message as Anthropic wrote it, its usage)."""
        request = _native_body(body, call, stream=False)
        raw = await self.http.post(
            PATH, request, self._native_headers(self._headers, headers), call.timeouts
        )
        message = self._parse(raw)
        if message.get("type") == "error":
            raise stream_error(message, self.name)
        if message.get("type") != "message":
            raise UpstreamHTTPError(
                f"{self.name}: answer is not a message: {raw[:200]!r}", http_status=502
            )
        message["model"] = call.model.id
        return orjson.dumps(message), usage_of(message.get("usage"))

    async def stream_native(
        self, call: UpstreamCall, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> AsyncIterator[bytes | Usage]:
        """Anthropic's SSE events unchanged (`message_start`'s model made the gateway's id), then
        one Usage (from message_start and message_delta). An `error` event raises."""
        request = _native_body(body, call, stream=True)
        headers = self._native_headers(self._stream_headers, headers)
        usage: dict[str, Any] = {}
        stopped = False
        events = cast(
            AsyncGenerator[bytes, None], self.http.sse(PATH, request, headers, call.timeouts)
        )
        async with aclosing(events):
            async for event in events:
                kind = _event_type(event)
                if kind in ("message_start", "message_delta", "error"):
                    data = self._parse(_data(event) or b"")
                    if kind == "error":
                        raise stream_error(data, self.name)
                    if kind == "message_start":
                        message = data.get("message") or {}
                        usage.update(message.get("usage") or {})
                        event = _event(kind, {**data, "message": {**message, "model": call.model.id}})
                    else:  # cumulative counts; newer API versions repeat the input ones here
                        usage.update({k: v for k, v in (data.get("usage") or {}).items()
                                      if v is not None})
                yield event + b"\n\n"
                if kind == "message_stop":
                    stopped = True
                    break
        if not stopped:
            raise UpstreamConnectionError(f"{self.name}: stream ended before message_stop")
        yield usage_of(usage)

    def _native_headers(
        self, base: Mapping[str, str], client: Mapping[str, str] | None
    ) -> dict[str, str]:
        out = dict(base)
        for name in ("anthropic-version", "anthropic-beta"):
            value = (client or {}).get(name)
            if not value:
                continue
            if name == "anthropic-beta" and self._betas:
                key, configured = self._betas[0]
                merged = [b.strip() for b in f"{configured},{value}".split(",") if b.strip()]
                out[key] = ",".join(dict.fromkeys(merged))
            else:
                out[name] = value
        return out

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


def _native_body(body: Mapping[str, Any], call: UpstreamCall, stream: bool) -> bytes:
    out = dict(body)
    out["model"] = call.model.upstream
    if stream:
        out["stream"] = True
    else:
        out.pop("stream", None)
    if _unthought_tool_call(out):
        del out["thinking"]  # Anthropic's own advice for such a turn: thinking off
    return orjson.dumps(out)


def _unthought_tool_call(body: Mapping[str, Any]) -> bool:
    """Is this a tool loop (tool results last) whose assistant turn called its tools without a
    thinking block first, while thinking is on? Anthropic answers that with a 400 ("a final
    assistant message must start with a thinking block"), and only a model of another kind,
    standing in as a fallback, writes such a turn in a thinking conversation."""
    thinking = body.get("thinking")
    messages = body.get("messages")
    if not isinstance(thinking, Mapping) or thinking.get("type") == "disabled" \
            or not isinstance(messages, list) or len(messages) < 2:
        return False
    results, turn = messages[-1], messages[-2]
    if not (_blocks(results, "user") and _blocks(turn, "assistant")):
        return False
    if not any(b.get("type") == "tool_result" for b in _blocks(results, "user")):
        return False
    blocks = _blocks(turn, "assistant")
    return any(b.get("type") == "tool_use" for b in blocks) and \
        blocks[0].get("type") not in ("thinking", "redacted_thinking")


def _blocks(message: Any, role: str) -> list[Mapping[str, Any]]:
    """A message's content blocks, if it has `role` and a list of them."""
    if not isinstance(message, Mapping) or message.get("role") != role:
        return []
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, Mapping)]


def _event_type(event: bytes) -> str | None:
    """The `event:` name of one SSE event (Anthropic names every event; data then says it too)."""
    if event.startswith(b"event:"):
        return event[6:event.find(b"\n") if b"\n" in event else None].strip().decode()
    data = _data(event)
    if data is None:
        return None  # a comment line
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def _event(kind: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data)


def _data(event: bytes) -> bytes | None:
    """The `data:` payload of one SSE event (Anthropic also sends `event:` lines: redundant with
    the payload's own `type`)."""
    lines = [line[5:].lstrip() for line in event.split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines) if lines else None
