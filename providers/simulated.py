"""Simulated upstream: a deterministic stand-in for a model, inside the gateway process.

`kind: simulated` needs no key and no network. It answers in OpenAI's shapes (a body, or SSE
chunks then the usage chunk; embeddings as unit vectors that follow from the text) with text
that depends on the prompt (see `simulated_answer`),
after a time to first token around `simulate.latency_ms` and at `simulate.tokens_per_s`, and
fails a `simulate.failure_rate` share of calls with an HTTP 503. Everything is deterministic:
the failures and the latency jitter follow from `simulate.seed` and the call's number, the words
from the model and the prompt. It also plays a prompt cache: a conversation whose earlier
messages it has seen reports them as `cached_tokens` (priced as cache reads) and answers sooner.

Every answer is marked: `system_fingerprint` is "simulated" and the text starts "[simulated]".
`gateway serve --demo` runs the shipped models on these; the benchmarks and a user's own load
tests can point at it too.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from gateway.config import ProviderConfig
from gateway.errors import UpstreamHTTPError, UpstreamTimeout
from gateway.routing.prompt import view
from gateway.routing.tokens import estimate_prompt, estimate_text
from providers.base import Completion, UpstreamCall, Usage
from providers.simulated_answer import Choice, answer, digest

FINGERPRINT = "simulated"
_CACHE_ENTRIES = 4096  # prompt prefixes remembered as "cached"
_FRAME_S = 0.02  # a stream sends a frame about every 20 ms, whatever the token rate
EMBEDDING_DIMENSIONS = 1536  # unless the request asks for `dimensions`


class SimulatedProvider:
    """A model that is not there. See the module docstring for what it does."""

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.settings = config.simulate
        self.calls = 0
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def __repr__(self) -> str:
        s = self.settings
        return (f"<SimulatedProvider {self.name} {s.latency_ms:g} ms, {s.tokens_per_s:g} tok/s, "
                f"failure_rate={s.failure_rate:g}, seed={s.seed}>")

    async def aclose(self) -> None:
        return None

    # -- the two calls -------------------------------------------------------------------------

    async def complete(self, call: UpstreamCall) -> Completion:
        choices, usage, ttft_s = await self._begin(call)
        deadline = time.monotonic() - ttft_s + call.timeouts.total_s
        tokens = sum(c.tokens for c in choices)
        await _sleep_until(time.monotonic() + tokens / self.settings.tokens_per_s, deadline,
                           self.name, call.timeouts.total_s)
        body = {
            "id": _id(), "object": "chat.completion", "created": int(time.time()),
            "model": call.model.id, "system_fingerprint": FINGERPRINT,
            "choices": [_message(i, c) for i, c in enumerate(choices)],
            "usage": usage,
        }
        return Completion(orjson.dumps(body), Usage.from_openai(usage))

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        choices, usage, ttft_s = await self._begin(call)
        head = {"id": _id(), "object": "chat.completion.chunk", "created": int(time.time()),
                "model": call.model.id, "system_fingerprint": FINGERPRINT}
        per_frame = max(1, round(self.settings.tokens_per_s * _FRAME_S))
        deadline = time.monotonic() - ttft_s + call.timeouts.total_s
        for i, choice in enumerate(choices):
            for n, delta, finish in _deltas(choice, per_frame):
                if n:
                    await _sleep_until(time.monotonic() + n / self.settings.tokens_per_s,
                                       deadline, self.name, call.timeouts.total_s)
                chunk = {"index": i, "delta": delta, "logprobs": None, "finish_reason": finish}
                yield _frame({**head, "choices": [chunk]})
        yield Usage.from_openai(usage, frame=_frame({**head, "choices": [], "usage": usage}))

    async def embed(self, call: UpstreamCall) -> Completion:
        """One unit vector per input, the same for the same text and model (a text's words
        decide it, so equal inputs embed equal), as floats or base64 float32 as asked."""
        self.calls += 1
        draw = _uniform(self.settings.seed, self.name, self.calls)
        await asyncio.sleep(self.settings.latency_ms / 1000 * _jitter(draw) / 4)
        if draw < self.settings.failure_rate:
            raise self._failure()
        inputs = call.body.get("input")
        items = [inputs] if isinstance(inputs, str) or (
            isinstance(inputs, list) and inputs and isinstance(inputs[0], int)) else list(inputs or [])
        dims = call.body.get("dimensions")
        dims = dims if isinstance(dims, int) and dims > 0 else EMBEDDING_DIMENSIONS
        as_base64 = call.body.get("encoding_format") == "base64"
        data, tokens = [], 0
        for i, item in enumerate(items):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += estimate_text(text) if isinstance(item, str) else len(item)
            seed = int.from_bytes(digest(call.model.id, text)[:8], "big")
            v = np.random.default_rng(seed).standard_normal(dims).astype("<f4")
            v /= np.linalg.norm(v)
            vector: Any = base64.b64encode(v.tobytes()).decode() if as_base64 else v.tolist()
            data.append({"object": "embedding", "index": i, "embedding": vector})
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        body = {"object": "list", "data": data, "model": call.model.id, "usage": usage}
        return Completion(orjson.dumps(body), Usage.from_openai(usage))

    # -- shared --------------------------------------------------------------------------------

    async def _begin(self, call: UpstreamCall) -> tuple[tuple[Choice, ...], dict[str, Any], float]:
        """Decide this call (answer, usage, fate) and wait out its time to first token."""
        self.calls += 1
        draw = _uniform(self.settings.seed, self.name, self.calls)
        body = call.body
        cached = self._cached_tokens(body.get("messages"))
        ttft_s = self.settings.latency_ms / 1000 * _jitter(draw) * (0.5 if cached else 1.0)
        if draw < self.settings.failure_rate:
            await asyncio.sleep(ttft_s / 4)  # a refusal comes back sooner than an answer
            raise self._failure()
        if ttft_s > call.timeouts.total_s:
            await asyncio.sleep(call.timeouts.total_s)
            raise UpstreamTimeout(f"{self.name}: simulated total timeout "
                                  f"({call.timeouts.total_s:g}s)")
        choices = answer(body, call.model.id)
        prompt = estimate_prompt(view(body))
        completion = sum(c.tokens for c in choices)
        usage = {
            "prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": min(cached, prompt)},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }
        await asyncio.sleep(ttft_s)
        return choices, usage, ttft_s

    def _failure(self) -> UpstreamHTTPError:
        return UpstreamHTTPError(f"{self.name}: simulated upstream failure (HTTP 503; "
                                 f"failure_rate {self.settings.failure_rate:g})", http_status=503)

    def _cached_tokens(self, messages: Any) -> int:
        """Tokens of the conversation's earlier messages when they were seen before (a single
        message counts when it is repeated as a whole), else 0; remembers them either way."""
        if not isinstance(messages, Sequence) or isinstance(messages, str) or not messages:
            return 0
        prefix = list(messages[:-1]) if len(messages) > 1 else list(messages)
        key = digest(orjson.dumps(prefix, default=str, option=orjson.OPT_SORT_KEYS).decode())
        hit = key in self._seen
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > _CACHE_ENTRIES:
            self._seen.popitem(last=False)
        return estimate_prompt(view({"messages": prefix})) if hit else 0


def _uniform(seed: int, name: str, n: int) -> float:
    """A deterministic draw in [0, 1) for call `n` of provider `name`."""
    return int.from_bytes(digest(str(seed), name, str(n))[:8], "big") / 2**64


def _jitter(u: float) -> float:
    """Latency around the configured median: mostly 0.6x-1.4x, with a slow tail (1 call in 20)."""
    u2 = (u * 7919) % 1.0  # decorrelated from the failure draw
    return 0.6 + 0.8 * u2 if u2 < 0.95 else 1.4 + (u2 - 0.95) * 40


async def _sleep_until(when: float, deadline: float, name: str, total_s: float) -> None:
    if when > deadline:
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        raise UpstreamTimeout(f"{name}: simulated total timeout ({total_s:g}s)")
    await asyncio.sleep(max(0.0, when - time.monotonic()))


def _id() -> str:
    return "chatcmpl-sim" + os.urandom(12).hex()


def _frame(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _message(index: int, choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
    if choice.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in choice.tool_calls
        ]
    return {"index": index, "message": message, "logprobs": None,
            "finish_reason": choice.finish_reason}


def _deltas(choice: Choice, per_frame: int) -> list[tuple[int, dict[str, Any], str | None]]:
    """(tokens this frame costs, delta, finish_reason) for each chunk of one choice."""
    out: list[tuple[int, dict[str, Any], str | None]] = [(0, {"role": "assistant", "content": ""},
                                                          None)]
    pieces = choice.pieces
    for start in range(0, len(pieces), per_frame):
        part = pieces[start:start + per_frame]
        out.append((len(part), {"content": "".join(part)}, None))
    for i, call in enumerate(choice.tool_calls):
        out.append((1, {"tool_calls": [{"index": i, "id": call.id, "type": "function",
                                        "function": {"name": call.name, "arguments": ""}}]}, None))
        step = max(1, per_frame * 4)  # ~4 characters a token
        for start in range(0, len(call.arguments), step):
            fragment = call.arguments[start:start + step]
            out.append((per_frame, {"tool_calls": [{"index": i, "function": {
                "arguments": fragment}}]}, None))
    out.append((0, {}, choice.finish_reason))
    return out
