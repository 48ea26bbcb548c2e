"""OpenAI-compatible adapter: forwards the client's body as sent and passes the stream through.

LM Studio, Ollama and vLLM are presets of this class (rows of `providers/kinds.py`: a default
base URL, no key needed), not new translators. Streams are split into SSE events but never
re-serialised: the only edits are a regex swap of the `model` field (the client sees the
gateway's model id) and lifting out the usage chunk, which is always requested upstream so cost
is known.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.config import ProviderConfig
from gateway.errors import ProviderError, UpstreamConnectionError, UpstreamHTTPError
from gateway.usage.estimate import chunk_text
from providers.base import Completion, UpstreamCall, Usage
from providers.http import HttpTransport

_MODEL_FIELD = re.compile(rb'(?<!\\)"model":\s*"(?:[^"\\]|\\.)*"')
_DONE = b"data: [DONE]"
_FINISHED = re.compile(rb'"finish_reason":\s*"')


def upstream_body(call: UpstreamCall) -> bytes:
    """The client's body with the upstream model name; usage always requested on streams."""
    body: dict[str, Any] = dict(call.body)
    body["model"] = call.model.upstream
    if call.stream:
        body["stream"] = True
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        body["stream_options"] = options
    return orjson.dumps(body)


class OpenAICompatProvider:
    """Any server speaking OpenAI's `/chat/completions`."""

    bounds_waits = True  # its transport bounds the first token, the silences and the whole

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.config = config
        self.http = HttpTransport(config)
        self._auth = {"authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._headers = {"content-type": "application/json", **self._auth}
        self.dropped_frames = 0  # upstream frames that were not JSON: counted, never relayed

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.http.base_url}>"

    async def aclose(self) -> None:
        await self.http.aclose()

    async def complete(self, call: UpstreamCall) -> Completion:
        raw = await self.http.post(
            "/chat/completions", upstream_body(call), self._headers, call.timeouts
        )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamConnectionError(f"{self.name}: answer is not JSON: {exc}") from None
        if not isinstance(body, dict) or "choices" not in body:
            raise UpstreamHTTPError(
                f"{self.name}: answer has no choices: {raw[:200]!r}", http_status=502
            )
        body["model"] = call.model.id
        return Completion(orjson.dumps(body), Usage.from_openai(body.get("usage")))

    async def embed(self, call: UpstreamCall) -> Completion:
        """POST /embeddings; the answer's bytes kept as they came (vectors are not re-encoded)
        but for `model`, which becomes the gateway's id."""
        body = dict(call.body)
        body["model"] = call.model.upstream
        raw = await self.http.post("/embeddings", orjson.dumps(body), self._headers, call.timeouts)
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamConnectionError(f"{self.name}: answer is not JSON: {exc}") from None
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), list):
            raise UpstreamHTTPError(
                f"{self.name}: answer has no embeddings: {raw[:200]!r}", http_status=502
            )
        model_field = b'"model":' + orjson.dumps(call.model.id)
        out, found = _MODEL_FIELD.subn(model_field, raw, count=1)
        if not found:
            out = orjson.dumps({**answer, "model": call.model.id})
        return Completion(out, Usage.from_openai(answer.get("usage")))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        model_field = b'"model":' + orjson.dumps(call.model.id)
        usage: Usage | None = None
        finished = False
        async for event in self.http.sse(
            "/chat/completions", upstream_body(call), self._headers, call.timeouts
        ):
            if event.startswith(_DONE) or event.startswith(b"data:[DONE]"):
                break
            chunk = self._chunk(event)
            if chunk is None:
                continue
            frame = _MODEL_FIELD.sub(model_field, event, count=1) + b"\n\n"
            if chunk.get("usage"):
                if not chunk.get("choices"):
                    usage = Usage.from_openai(chunk["usage"], frame=frame)
                    continue
                usage = Usage.from_openai(chunk["usage"])
            if not finished and _FINISHED.search(event):
                finished = True
            yield frame
        if not finished:
            # Closed without a finish_reason: the answer was cut, whatever the transport said.
            raise UpstreamConnectionError(f"{self.name}: the stream ended before the answer did")
        yield usage or Usage(raw={})


    async def collect(self, call: UpstreamCall) -> tuple[list[dict[str, Any]], Usage]:
        """A streamed answer nobody relays as it comes (the executor assembles it into one):
        its chunks, each parsed once, and its usage. The same limits bound it as a stream (the
        transport reads the rest in one go once the first event is in)."""
        chunks: list[dict[str, Any]] = []
        usage: Usage | None = None
        finished = False
        try:
            async for event in self.http.sse(
                "/chat/completions", upstream_body(call), self._headers, call.timeouts, bulk=True
            ):
                if event.startswith(_DONE) or event.startswith(b"data:[DONE]"):
                    break
                chunk = self._chunk(event)
                if chunk is None:
                    continue
                if chunk.get("usage"):
                    usage = Usage.from_openai(chunk["usage"])
                finished = finished or any(
                    c.get("finish_reason") for c in chunk.get("choices") or ())
                chunks.append(chunk)
            if not finished:
                raise UpstreamConnectionError(
                    f"{self.name}: the stream ended before the answer did")
        except ProviderError as exc:
            exc.delivered = chunk_text(chunks)  # billed though cut: the attempt row counts it
            raise
        return chunks, usage or Usage(raw={})

    def _chunk(self, event: bytes) -> dict[str, Any] | None:
        """One SSE event's JSON chunk, or None for an event that carries nothing for the client:
        comments (": ping") and `event:` lines, and frames its SDK could not parse (counted and
        dropped). An error frame raises."""
        if not event.startswith(b"data:"):
            return None
        try:
            chunk = orjson.loads(event[5:])
        except orjson.JSONDecodeError:
            chunk = None
        if not isinstance(chunk, dict):
            self.dropped_frames += 1
            return None
        if "error" in chunk:
            raise _stream_error(self.name, chunk.get("error"), event)
        return chunk


def _stream_error(name: str, err: Any, event: bytes) -> UpstreamHTTPError:
    message = err.get("message") if isinstance(err, dict) else str(err or "")
    return UpstreamHTTPError(f"{name}: error mid-stream: {message or event[:200]!r}", http_status=502)
