"""A fake OpenAI-compatible upstream (`/v1/chat/completions`, `/v1/embeddings`, `/v1/models`).

Embeddings are deterministic: each input's vector comes from the SHA-256 of its JSON, so a test
can compute what it must get back (`vector(input, dimensions)`); `prompt_tokens` is the Reply's.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import struct
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Reply, error_response


def _usage(reply: Reply) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }
    if reply.cached_tokens is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": reply.cached_tokens}
    return usage


def vector(item: Any, size: int) -> list[float]:
    """The fake's embedding of one input: `size` floats in [-1, 1), exact in float32."""
    seed = hashlib.sha256(orjson.dumps(item)).digest()
    while len(seed) < size:
        seed += hashlib.sha256(seed).digest()
    return [(b - 128) / 128 for b in seed[:size]]


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": t["id"], "type": "function",
         "function": {"name": t["name"], "arguments": t["arguments"]}}
        for t in reply.tool_calls or []
    ]


class FakeOpenAI(FakeServer):
    """Speaks OpenAI's chat-completions wire format, streaming and not."""

    model_ids = ("fake-model",)

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/embeddings", self.embeddings)
        app.router.add_get("/v1/models", self.models)
        return app

    async def scripted(self, reply: Reply) -> web.Response | None:
        """The answer a Reply scripts whatever was asked (a delay first, an error, raw bytes)."""
        if reply.hang:
            await asyncio.sleep(3600)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status >= 400:
            return await error_response(reply)
        if reply.raw is not None:
            return web.Response(body=reply.raw, content_type="application/json")
        return None

    async def embeddings(self, request: web.Request) -> web.Response:
        body, reply = await self.read(request)
        scripted = await self.scripted(reply)
        if scripted is not None:
            return scripted
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs
                                       and isinstance(inputs[0], int)):
            inputs = [inputs]
        size = body.get("dimensions") or 8
        data = []
        for i, item in enumerate(inputs or []):
            values = vector(item, size)
            encoded: Any = values
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{size}f", *values)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        out = {"object": "list", "data": data, "model": str(body.get("model")),
               "usage": {"prompt_tokens": reply.prompt_tokens,
                         "total_tokens": reply.prompt_tokens}}
        return web.Response(body=orjson.dumps(out), content_type="application/json")

    async def models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                for m in self.model_ids]
        return web.json_response({"object": "list", "data": data})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body, reply = await self.read(request)
        messages = body.get("messages") or [{}]
        if reply.reject_prefill and messages[-1].get("role") == "assistant":
            return await error_response(Reply(status=400, error={"error": {
                "message": "This model does not support assistant message prefill: the last "
                           "message must be from the user.",
                "type": "invalid_request_error", "param": "messages", "code": None}}))
        scripted = await self.scripted(reply)
        if scripted is not None:
            return scripted
        if reply.answer is not None:
            reply = dataclasses.replace(reply, content=reply.answer(body), answer=None)
        if body.get("stream"):
            return await self.stream(request, body, reply)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content, "refusal": None}
        finish = reply.finish_reason or "stop"
        if reply.tool_calls:
            message = {"role": "assistant", "content": reply.preamble, "refusal": None,
                       "tool_calls": _tool_calls(reply)}
            finish = reply.finish_reason or "tool_calls"
        out = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": str(body.get("model", "fake-model")) + "-2025-01-01",
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": _usage(reply),
        }
        if reply.no_usage:
            del out["usage"]
        return web.Response(body=orjson.dumps(out), content_type="application/json")

    def chunks(self, body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": str(body.get("model", "fake-model")) + "-2025-01-01"}
        with_usage = bool((body.get("stream_options") or {}).get("include_usage")) and \
            not reply.no_usage

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                      "finish_reason": finish}]}
            if with_usage:
                c["usage"] = None
            return c

        out = [chunk({"role": "assistant", "content": ""})]
        if reply.tool_calls and reply.preamble:
            out.extend(chunk({"content": w if i == 0 else " " + w})
                       for i, w in enumerate(reply.preamble.split(" ")))
        if reply.tool_calls:
            for i, t in enumerate(reply.tool_calls):
                args = t["arguments"]
                out.append(chunk({"tool_calls": [{"index": i, "id": t["id"], "type": "function",
                                                  "function": {"name": t["name"],
                                                               "arguments": ""}}]}))
                for j in range(0, len(args), 7):
                    out.append(chunk({"tool_calls": [{"index": i, "function": {
                        "arguments": args[j:j + 7]}}]}))
            out.append(chunk({}, reply.finish_reason or "tool_calls"))
        else:
            words = reply.content.split(" ")
            for i, w in enumerate(words):
                out.append(chunk({"content": w if i == 0 else " " + w}))
            out.append(chunk({}, reply.finish_reason or "stop"))
        if with_usage:
            out.append({**base, "choices": [], "usage": _usage(reply)})
        return out

    async def stream(
        self, request: web.Request, body: dict[str, Any], reply: Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if reply.first_token_delay_s:
            await asyncio.sleep(reply.first_token_delay_s)
        for n, c in enumerate(self.chunks(body, reply)):
            if reply.cut_after is not None and n >= reply.cut_after:
                assert request.transport is not None
                request.transport.abort()  # the connection dies mid-stream
                return resp
            if reply.stall_after is not None and n >= reply.stall_after:
                await asyncio.sleep(3600)
            if reply.malformed_after is not None and n == reply.malformed_after:
                await resp.write(b'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"cont\n\n')
            await resp.write(b"data: " + orjson.dumps(c) + b"\n\n")
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
        if not reply.no_done:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
