"""Soak upstream: an OpenAI-compatible fake that fails a share of calls (`--fault-rate 0.2`).

Each chat call draws one outcome: with probability `--fault-rate` one of four faults, picked
uniformly: HTTP 500, HTTP 429 with `retry-after: 0.05`, a stall longer than the gateway's
first-token timeout (`--stall-s`), or a cut (a streamed answer closes the connection after a
couple of chunks; a non-streaming one sends half of its declared body and closes). Otherwise a
normal answer, after `--delay-ms`. Counts per outcome are served at `GET /stats`. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import time
from typing import Any

from aiohttp import web

WORDS = ("Hello", " from", " the", " soak", " upstream.")
USAGE = {"prompt_tokens": 12, "completion_tokens": len(WORDS), "total_tokens": 12 + len(WORDS)}
FAULTS = ("http_500", "http_429", "stall", "cut")


def _completion(model: str) -> dict[str, Any]:
    return {"id": "chatcmpl-soak", "object": "chat.completion", "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": "".join(WORDS)}}],
            "usage": USAGE}


def _chunks(model: str, usage: bool) -> list[bytes]:
    base = {"id": "chatcmpl-soak", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    out += [chunk({"content": w}) for w in WORDS]
    out.append(chunk({}, "stop"))
    if usage:
        out.append({**base, "choices": [], "usage": USAGE})
    return [b"data: " + json.dumps(c).encode() + b"\n\n" for c in out] + [b"data: [DONE]\n\n"]


class Soak:
    """The handlers and their per-outcome counters (no module-level state)."""

    def __init__(self, fault_rate: float, stall_s: float, delay_s: float, seed: int) -> None:
        self.fault_rate, self.stall_s, self.delay_s = fault_rate, stall_s, delay_s
        self.rng = random.Random(seed)
        self.counts: collections.Counter[str] = collections.Counter()

    def draw(self) -> str:
        if self.rng.random() < self.fault_rate:
            return self.rng.choice(FAULTS)
        return "ok"

    async def chat(self, request: web.Request) -> web.StreamResponse:
        req = await request.json()
        model, stream = str(req.get("model") or "soak"), bool(req.get("stream"))
        outcome = self.draw()
        self.counts[outcome] += 1
        self.counts["stream" if stream else "plain"] += 1
        if outcome == "http_500":
            return web.json_response({"error": {"message": "injected 500", "type": "server_error"}},
                                     status=500)
        if outcome == "http_429":
            return web.json_response({"error": {"message": "injected 429", "type": "rate_limit"}},
                                     status=429, headers={"retry-after": "0.05"})
        if outcome == "stall":
            await asyncio.sleep(self.stall_s)
        elif self.delay_s:
            await asyncio.sleep(self.delay_s)
        cut = outcome == "cut"
        if stream:
            return await self._stream(request, model, req, cut)
        body = json.dumps(_completion(model)).encode()
        if not cut:
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "application/json",
                                           "content-length": str(len(body))})
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        assert request.transport is not None
        request.transport.close()  # the rest of the declared body never comes
        return resp

    async def _stream(self, request: web.Request, model: str, req: dict[str, Any],
                      cut: bool) -> web.StreamResponse:
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        events = _chunks(model, usage)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for i, event in enumerate(events):
            if cut and i == 3:  # role chunk + two content chunks went out, then the wire drops
                assert request.transport is not None
                request.transport.close()
                return resp
            await resp.write(event)
        await resp.write_eof()
        return resp

    async def stats(self, _: web.Request) -> web.Response:
        return web.json_response(dict(self.counts))

    async def health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def models(self, _: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "soak", "object": "model"}]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--stall-s", type=float, default=3.0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    soak = Soak(args.fault_rate, args.stall_s, args.delay_ms / 1000, args.seed)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", soak.chat)
    app.router.add_get("/v1/models", soak.models)
    app.router.add_get("/health", soak.health)
    app.router.add_get("/stats", soak.stats)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
