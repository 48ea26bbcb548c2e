"""Benchmark baseline: the least a Python proxy can do (Starlette + uvicorn + one aiohttp session).

No parsing, routing or logging: the body goes upstream as is and the answer comes back as is,
streamed or not. It runs on the same stack as the gateway (uvicorn with uvloop and httptools),
so gateway minus passthrough is what the gateway's own work costs, and passthrough minus direct
is what the framework and one extra hop cost.
`python bench/passthrough.py --upstream http://127.0.0.1:P/v1 --port Q`
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


def create_app(upstream: str) -> Starlette:
    sessions: list[aiohttp.ClientSession] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=256)
        sessions.append(aiohttp.ClientSession(connector=connector))
        yield
        await sessions[0].close()

    async def chat(request: Request) -> Response:
        data = await request.body()
        resp = await sessions[0].post(f"{upstream}/chat/completions", data=data,
                                      headers={"content-type": "application/json"})
        ctype = resp.headers.get("content-type", "application/json")
        if not ctype.startswith("text/event-stream"):
            body = await resp.read()
            resp.release()
            return Response(body, status_code=resp.status, media_type=ctype)

        async def relay() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_any():
                    yield chunk
            finally:
                resp.release()

        return StreamingResponse(relay(), status_code=resp.status, media_type=ctype)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [Route("/v1/chat/completions", chat, methods=["POST"]), Route("/health", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True, help="the fake's /v1 URL")
    parser.add_argument("--port", type=int, default=9200)
    args = parser.parse_args()
    uvicorn.run(create_app(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port,
                loop="uvloop", http="httptools", access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
