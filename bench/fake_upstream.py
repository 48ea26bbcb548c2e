"""Benchmark upstream: a very fast OpenAI-compatible fake (`bench/fake_upstream.py --port P`).

A raw asyncio protocol with httptools' parser on uvloop, not a web framework: it shares its core
with the load generator, so every microsecond it spends is one the measured proxy does not get
blamed for. It answers `POST /v1/chat/completions` (JSON with usage, or SSE with a role chunk,
a few content chunks, a finish chunk, a usage chunk when `stream_options.include_usage` asks,
then `[DONE]`), `GET /v1/models` and `GET /health`. Keep-alive, HTTP/1.1, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any, cast

import httptools
import orjson
import uvloop

WORDS = ("Hello", " from", " the", " fake", " upstream.")
MODELS = b'{"object":"list","data":[{"id":"bench-model","object":"model","owned_by":"fake"}]}'
USAGE = {"prompt_tokens": 12, "completion_tokens": len(WORDS), "total_tokens": 12 + len(WORDS)}


def completion(n: int, model: str) -> bytes:
    """A non-streaming answer."""
    return orjson.dumps({
        "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "".join(WORDS),
                                 "refusal": None}}],
        "usage": USAGE,
    })


def stream_events(n: int, model: str, with_usage: bool) -> list[bytes]:
    """The SSE events of a streamed answer, each `data: ...\\n\\n`."""
    base: dict[str, Any] = {"id": f"chatcmpl-{n}", "object": "chat.completion.chunk",
                            "created": int(time.time()), "model": model}
    extra: dict[str, Any] = {"usage": None} if with_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                     "finish_reason": finish}], **extra}

    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [chunk({"content": w}) for w in WORDS]
    chunks.append(chunk({}, "stop"))
    if with_usage:
        chunks.append({**base, "choices": [], "usage": USAGE})
    return [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks] + [b"data: [DONE]\n\n"]


def _chunked(events: list[bytes]) -> bytes:
    """HTTP/1.1 chunked framing: one HTTP chunk per SSE event, then the terminator."""
    return b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"


class _Connection(asyncio.Protocol):
    """One client connection; requests are answered in order as they complete."""

    def __init__(self, counter: itertools.count[int]) -> None:
        self.counter = counter
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._send(b"400 Bad Request", b"application/json", b'{"error":"bad request"}', False)
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url, self.body = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        keep = self.parser.should_keep_alive()
        method = self.parser.get_method()
        path = self.url.split(b"?", 1)[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            self._chat(keep)
        elif method == b"GET" and path.endswith(b"/models"):
            self._send(b"200 OK", b"application/json", MODELS, keep)
        elif method == b"GET" and path == b"/health":
            self._send(b"200 OK", b"application/json", b'{"status":"ok"}', keep)
        else:
            self._send(b"404 Not Found", b"application/json", b'{"error":"not found"}', keep)
        if not keep and self.transport is not None:
            self.transport.close()

    # answers --------------------------------------------------------------------------------------

    def _chat(self, keep: bool) -> None:
        try:
            req = orjson.loads(b"".join(self.body))
        except orjson.JSONDecodeError:
            self._send(b"400 Bad Request", b"application/json", b'{"error":"invalid json"}', keep)
            return
        n = next(self.counter)
        model = str(req.get("model") or "bench-model")
        if not req.get("stream"):
            self._send(b"200 OK", b"application/json", completion(n, model), keep)
            return
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        head = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
                b"transfer-encoding: chunked\r\n" + _connection(keep) + b"\r\n")
        assert self.transport is not None
        self.transport.write(head + _chunked(stream_events(n, model, usage)))

    def _send(self, status: bytes, ctype: bytes, body: bytes, keep: bool) -> None:
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype
            + b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n"
            + _connection(keep) + b"\r\n" + body
        )


def _connection(keep: bool) -> bytes:
    return b"connection: keep-alive\r\n" if keep else b"connection: close\r\n"


async def serve(host: str, port: int) -> None:
    """Serve until cancelled."""
    counter = itertools.count(1)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(counter), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    args = parser.parse_args()
    uvloop.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
