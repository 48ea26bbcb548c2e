"""Per-key rpm and tpm: counted, corrected, shared between instances, rendered as OpenAI's 429."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import openai
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.api.respond import error_response
from gateway.config import ApiKey
from gateway.errors import RateLimited
from gateway.limits import RateLimiter
from gateway.state import State
from tests.fakes.server import free_port

KEYS = [ApiKey(name="team-a", key="ka", role="client", rpm=2, tpm=100),
        ApiKey(name="team-b", key="kb", role="client", rpm=3),
        ApiKey(name="free", key="kf")]


def run(make: Callable[[], State], main: Callable[..., Coroutine[Any, Any, None]],
        clients: int = 1) -> None:
    async def go() -> None:
        states = [make() for _ in range(clients)]
        try:
            await main(*[RateLimiter(KEYS, s) for s in states])
        finally:
            for s in {id(s): s for s in states}.values():
                await s.aclose()

    asyncio.run(go())


def test_rpm_refuses_the_request_past_the_limit_with_retry_after(state_clients) -> None:
    async def main(limiter: RateLimiter) -> None:
        for _ in range(2):
            await limiter.take("team-a", 1)
        with pytest.raises(RateLimited) as info:
            await limiter.take("team-a", 1)
        err = info.value
        assert (err.status, err.type, err.code) == (429, "requests", "rate_limit_exceeded")
        assert "team-a" in err.message and "RPM" in err.message
        assert 1 <= int(err.headers()["retry-after"]) <= 30  # a slot frees every 30 s
        await limiter.take("team-b", 1)  # another key is not affected
        assert await limiter.take("free", 10**9) is None  # no limits, no state call
        assert await limiter.take(None, 10) is None  # auth off

    run(state_clients, main)


def test_tpm_counts_the_estimate_then_the_real_usage(state_clients) -> None:
    async def main(limiter: RateLimiter) -> None:
        ticket = await limiter.take("team-a", 90)
        with pytest.raises(RateLimited) as info:
            await limiter.take("team-a", 20)
        assert info.value.type == "tokens" and "requested 20" in info.value.message
        await limiter.correct(ticket, 30)  # the call used 30 of the 90 estimated
        await limiter.take("team-a", 20)

    run(state_clients, main)


def test_rpm_is_shared_by_two_instances(state_clients) -> None:
    async def main(a: RateLimiter, b: RateLimiter) -> None:
        await a.take("team-b", 0)
        await b.take("team-b", 0)
        await a.take("team-b", 0)
        with pytest.raises(RateLimited):
            await b.take("team-b", 0)

    run(state_clients, main, clients=2)


@pytest.fixture
def limited_server() -> Iterator[tuple[str, list[float]]]:
    """An app that answers one RateLimited(retry 0.4 s) and then succeeds; the hits' times."""
    hits: list[float] = []

    async def chat(request: Request) -> Response:
        hits.append(time.monotonic())
        if len(hits) == 1:
            return error_response(RateLimited("slow down", retry_after_s=0.4))
        return JSONResponse({
            "id": "c1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}]})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]),
        host="127.0.0.1", port=port, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/v1", hits
    server.should_exit = True
    thread.join(10)


def test_the_openai_sdk_waits_as_retry_after_says(limited_server: tuple[str, list[float]]) -> None:
    url, hits = limited_server
    client = openai.OpenAI(base_url=url, api_key="k", max_retries=1)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "ok"
    assert len(hits) == 2 and hits[1] - hits[0] >= 0.35  # it honoured retry-after-ms

    client = openai.OpenAI(base_url=url, api_key="k", max_retries=0)
    hits.clear()
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    body = info.value.response.json()["error"]
    assert (body["type"], body["code"]) == ("requests", "rate_limit_exceeded")
    assert info.value.response.headers["retry-after"] == "1"
