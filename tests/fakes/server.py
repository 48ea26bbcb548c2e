"""A scriptable fake upstream: a real aiohttp server on 127.0.0.1, in its own thread and loop.

Tests read like scripts (after simonw/llm's `enqueue`): `fake.enqueue(Reply(status=500))`
makes the next request fail; with the queue empty the server answers `fake.default`. Every
request is counted and its body kept, so a test can say how many hits an upstream got.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    """What the fake does for one request."""

    status: int = 200
    content: str = "Hello from the fake upstream."
    tool_calls: list[dict[str, Any]] | None = None  # [{"id", "name", "arguments"}]
    preamble: str | None = None  # with tool_calls: the text said before them ("I'll look.")
    headers: dict[str, str] = field(default_factory=dict)
    error: dict[str, Any] | None = None  # body for an error status
    delay_s: float = 0.0  # before the status line
    chunk_delay_s: float = 0.0  # between stream chunks
    cut_after: int | None = None  # stream: drop the connection after N chunks
    stall_after: int | None = None  # stream: go silent after N chunks
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None  # Anthropic: prompt tokens written to the cache
    finish_reason: str | None = None
    raw: bytes | None = None  # send exactly these bytes as a 200 body
    hang: bool = False  # accept the request and never answer it
    first_token_delay_s: float = 0.0  # stream: headers at once, then silence before chunk 1
    malformed_after: int | None = None  # stream: a frame that is not JSON after N chunks
    no_done: bool = False  # stream: close cleanly without `data: [DONE]`
    no_usage: bool = False  # never report usage (llama.cpp's server sends no usage chunk)
    reject_prefill: bool = False  # 400 when the last message is the assistant's (a prefill)
    answer: Callable[[dict[str, Any]], str] | None = None  # the content, from the request body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FakeServer:
    """Base: runs `self.app()` on a free loopback port until `stop()`."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.queue: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.port = free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- scripting ------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    @property
    def hits(self) -> int:
        with self._lock:
            return len(self.requests)

    def next_reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self.queue.popleft() if self.queue else self.default

    async def read(self, request: web.Request) -> tuple[dict[str, Any], Reply]:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            body = {"_invalid": raw.decode("utf-8", "replace")}
        return body, self.next_reply(body, {k.lower(): v for k, v in request.headers.items()})

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> web.Application:
        raise NotImplementedError

    def start(self) -> FakeServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            # handlers still asleep (a hanging or stalled reply) end here, not at loop.close()
            loop.run_until_complete(_cancel_all())
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=type(self).__name__)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _cancel_all() -> None:
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def error_response(reply: Reply) -> web.Response:
    body = reply.error or {
        "error": {"message": f"fake failure {reply.status}", "type": "server_error", "code": None}
    }
    return web.Response(
        status=reply.status, body=orjson.dumps(body), headers=reply.headers,
        content_type="application/json",
    )
