"""A fake Anthropic upstream (`POST /v1/messages`, streaming and not) for tests.

Scripted with the same `Reply` as the OpenAI fake. Token counts keep OpenAI's meaning:
`prompt_tokens` is the whole prompt, of which `cached_tokens` were read from the cache and
`cache_write_tokens` written to it, so the fake reports `input_tokens = prompt_tokens -
cached_tokens - cache_write_tokens`, `cache_read_input_tokens = cached_tokens` and
`cache_creation_input_tokens = cache_write_tokens`. `finish_reason` may be OpenAI's (stop,
length, tool_calls) or Anthropic's own stop_reason (end_turn, stop_sequence, ...). `raw` is sent
as the body as-is: JSON for a plain request, SSE text for a streaming one, so a test can script
any exact event sequence.

Like the real API it answers 401 without an `x-api-key` header, and rejects a malformed
request with a 400 `invalid_request_error` (no max_tokens, a system message inside `messages`,
a tool_result for an unknown tool_use, a whitespace-only stop sequence, ...): a translation bug
shows up as a failing call, not as a silently accepted body. A stalled stream ends as soon as
the client hangs up, so `stop()` never waits on it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import FakeServer, Reply

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
KNOWN_BLOCKS = ("text", "tool_use", "tool_result", "image", "document", "thinking",
                "redacted_thinking")
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    kind = ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message or f"fake {kind}"}}


def sse(event: dict[str, Any]) -> bytes:
    """One event exactly as Anthropic writes it: an `event:` line, a `data:` line, a blank line."""
    kind = str(event["type"]).encode()
    return b"event: " + kind + b"\ndata: " + orjson.dumps(event) + b"\n\n"


def problems(body: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """What the real Messages API would reject in this request (the checks that catch bugs)."""
    found = []
    if not headers.get("anthropic-version"):
        found.append("anthropic-version header is required")
    if not isinstance(body.get("max_tokens"), int):
        found.append("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return [*found, "messages: at least one message is required"]
    tool_ids: set[str] = set()
    for i, m in enumerate(messages):
        if m.get("role") not in ("user", "assistant"):
            found.append(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = m.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        if not isinstance(blocks, list) or not blocks:
            found.append(f"messages.{i}.content: must be a non-empty string or list")
            continue
        for j, b in enumerate(blocks):
            where = f"messages.{i}.content.{j}"
            if b.get("type") == "text" and not b.get("text"):
                found.append(f"{where}: text content blocks must be non-empty")
            elif b.get("type") == "tool_use":
                tool_ids.add(b.get("id"))
                if not isinstance(b.get("input"), dict):
                    found.append(f"{where}.input: Input should be a valid dictionary")
            elif b.get("type") == "tool_result" and b.get("tool_use_id") not in tool_ids:
                found.append(f"{where}: tool_result for an unknown tool_use id")
            elif b.get("type") == "image" and b.get("source", {}).get("type") not in (
                "base64",
                "url",
            ):
                found.append(f"{where}.source.type: must be base64 or url")
            elif b.get("type") not in KNOWN_BLOCKS:
                found.append(f"{where}.type: unknown content block type {b.get('type')!r}")
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") == "assistant" and isinstance(last.get("content"), str) \
            and last["content"] != last["content"].rstrip():
        found.append("final assistant content cannot end with trailing whitespace")
    if any(not str(s).strip() for s in body.get("stop_sequences") or ()):
        found.append("stop_sequences: each stop sequence must contain non-whitespace")
    if "tool_choice" in body and not body.get("tools"):
        found.append("tool_choice: may only be specified while providing tools")
    found.extend(_thinking_problems(body, messages))
    return found


def _thinking_problems(body: dict[str, Any], messages: list[Any]) -> list[str]:
    """With thinking on, the assistant turn before the last tool results must open with its
    thinking block, as the API says."""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") == "disabled" or len(messages) < 2:
        return []
    turn, results = messages[-2], messages[-1]
    content, last = turn.get("content"), results.get("content")
    if turn.get("role") != "assistant" or not isinstance(content, list) or not content \
            or not isinstance(last, list):
        return []
    if not any(b.get("type") == "tool_result" for b in last) or \
            not any(b.get("type") == "tool_use" for b in content):
        return []
    if content[0].get("type") in ("thinking", "redacted_thinking"):
        return []
    return [f"messages.{len(messages) - 2}.content.0.type: Expected `thinking` or "
            f"`redacted_thinking`, but found `{content[0].get('type')}`. When `thinking` is "
            "enabled, a final `assistant` message must start with a thinking block"]


async def stall(request: web.Request, limit_s: float = 3600) -> None:
    """Go silent until the client hangs up, so `stop()` does not wait on a sleeping handler."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while loop.time() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.02)


class FakeAnthropic(FakeServer):
    """Speaks Anthropic's Messages API wire format, streaming (with event: lines) and not."""

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/messages", self.messages)
        return app

    async def messages(self, request: web.Request) -> web.StreamResponse:
        body, reply = await self.read(request)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status >= 400:
            return web.json_response(
                reply.error or error_body(reply.status), status=reply.status, headers=reply.headers
            )
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not headers.get("x-api-key"):  # as the API does: 401 before looking at the body
            return web.json_response(error_body(401, "x-api-key header is required"), status=401)
        bad = problems(body, headers)
        if bad:
            return web.json_response(error_body(400, "; ".join(bad)), status=400)
        if reply.raw is not None:
            kind = "text/event-stream" if body.get("stream") else "application/json"
            return web.Response(body=reply.raw, headers={"content-type": kind})
        if body.get("stream"):
            return await self.stream(request, body, reply)
        return web.json_response(self.message(body, reply), headers=reply.headers)

    # -- what the answer holds ------------------------------------------------------------------

    def usage(self, reply: Reply, output: bool = True) -> dict[str, Any]:
        cached = reply.cached_tokens or 0
        written = reply.cache_write_tokens or 0
        return {
            "input_tokens": reply.prompt_tokens - cached - written,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": cached,
            "output_tokens": reply.completion_tokens if output else 1,
        }

    def blocks(self, reply: Reply) -> list[dict[str, Any]]:
        if reply.tool_calls:
            said = [{"type": "text", "text": reply.preamble}] if reply.preamble else []
            return said + [
                {
                    "type": "tool_use",
                    "id": t["id"],
                    "name": t["name"],
                    "input": orjson.loads(t["arguments"] or "{}"),
                }
                for t in reply.tool_calls
            ]
        return [{"type": "text", "text": reply.content}]

    def stop_reason(self, reply: Reply) -> str:
        reason = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return STOP_REASONS.get(reason, reason)

    def message(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        return {
            "id": "msg_fake01",
            "type": "message",
            "role": "assistant",
            "model": body.get("model"),
            "content": self.blocks(reply),
            "stop_reason": self.stop_reason(reply),
            "stop_sequence": None,
            "usage": self.usage(reply),
        }

    def events(self, body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
        """The event sequence Anthropic sends for this reply, in order."""
        start = {
            **self.message(body, reply),
            "content": [],
            "stop_reason": None,
            "usage": self.usage(reply, output=False),
        }
        out: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
        for i, block in enumerate(self.blocks(reply)):
            if block["type"] == "text":
                out.append(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    }
                )
                if i == 0:
                    out.append({"type": "ping"})
                words = block["text"].split(" ")
                out.extend(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": w if k == 0 else " " + w},
                    }
                    for k, w in enumerate(words)
                )
            else:
                out.append(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {**block, "input": {}},
                    }
                )
                args = orjson.dumps(block["input"]).decode()
                pieces = [""] + [args[j : j + 7] for j in range(0, len(args), 7)]
                out.extend(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "input_json_delta", "partial_json": p},
                    }
                    for p in pieces
                )
            out.append({"type": "content_block_stop", "index": i})
        out.append(
            {
                "type": "message_delta",
                "delta": {"stop_reason": self.stop_reason(reply), "stop_sequence": None},
                "usage": {"output_tokens": reply.completion_tokens},
            }
        )
        out.append({"type": "message_stop"})
        return out

    async def stream(
        self, request: web.Request, body: dict[str, Any], reply: Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", **reply.headers})
        await resp.prepare(request)
        for n, event in enumerate(self.events(body, reply)):
            if reply.cut_after is not None and n >= reply.cut_after:
                assert request.transport is not None
                request.transport.abort()  # the connection dies mid-stream
                return resp
            if reply.stall_after is not None and n >= reply.stall_after:
                await stall(request)
                return resp
            await resp.write(sse(event))
            if reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
        await resp.write_eof()
        return resp
