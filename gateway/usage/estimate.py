"""Usage estimates: the one estimator of what a request will cost, and of what an answer did
when the upstream did not say.

Before the call, tokens come from the router's classification of the request (its prompt
estimate, which errs high, and the answer length typical of its task), priced by the one
formula routing, budgets and `gateway eval` share (`routing.catalog.tokens_usd`); budgets
reserve the worst case (every output token the request allows). After
the call, an upstream that reported no usage (a stream cut mid-answer, a llama.cpp server that
sends no usage chunk) is counted from what was delivered, and the row says it was estimated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.routing.catalog import tokens_usd
from gateway.routing.tokens import estimate_text
from providers.base import Usage

# When neither the request (max_tokens) nor the model (max_output_tokens) bounds the answer,
# the worst case is what is left of the context window, capped here: no chat answer is longer.
UNBOUNDED_OUTPUT_CAP = 32_768


@dataclass(frozen=True, slots=True)
class Estimate:
    """Tokens of one request before it is sent."""

    prompt_tokens: int
    expected_output_tokens: int
    max_output_tokens: int | None  # the request's own cap (max_tokens), if any
    n: int = 1  # choices asked for

    @classmethod
    def of(cls, body: Mapping[str, Any], prompt_tokens: int, expected_output: int) -> Estimate:
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        n = body.get("n") or 1
        return cls(prompt_tokens, expected_output, cap if isinstance(cap, int) else None,
                   n if isinstance(n, int) else 1)

    def worst_usd(self, input_per_mtok: float, output_per_mtok: float, *,
                  model_max_output: int | None, context_window: int) -> float:
        """The most this request can cost: the whole prompt, and every output token allowed."""
        out = self.max_output_tokens or model_max_output
        if out is None:
            out = min(max(context_window - self.prompt_tokens, 1), UNBOUNDED_OUTPUT_CAP)
        return tokens_usd(self.prompt_tokens, out * self.n, input_per_mtok, output_per_mtok)


def delivered_text(frames: Iterable[bytes]) -> str:
    """The text (content, refusals, thinking, tool arguments) that stream frames carried:
    OpenAI chunks, or Anthropic's events (a native Messages call)."""
    chunks = []
    native: list[str] = []
    for frame in frames:
        if frame.startswith(b"event:"):
            at = frame.find(b"\ndata:")
            native.extend(event_text(frame[at + 6:]) if at >= 0 else ())
            continue
        try:
            chunks.append(orjson.loads(frame[5:]))
        except orjson.JSONDecodeError:
            continue
    return chunk_text(chunks) + "".join(native)


def event_text(data: bytes) -> list[str]:
    """The text one Anthropic `content_block_delta` event's data carries (none for the others)."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        return []
    delta = event.get("delta") if isinstance(event, dict) else None
    if not isinstance(delta, dict) or event.get("type") != "content_block_delta":
        return []
    return [v for k in ("text", "thinking", "partial_json") if isinstance(v := delta.get(k), str)]


def chunk_text(chunks: Iterable[Any]) -> str:
    """The text (content, refusals, tool arguments) that parsed OpenAI chunks carried."""
    parts: list[str] = []
    for chunk in chunks:
        for choice in chunk.get("choices") or () if isinstance(chunk, dict) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if not isinstance(delta, dict):
                continue
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str):
                    parts.append(delta[key])
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict):
                    parts.extend(v for v in (fn.get("name"), fn.get("arguments"))
                                 if isinstance(v, str))
    return "".join(parts)


def estimated_usage(prompt_tokens: int, completion_text: str) -> Usage:
    """Usage for an answer the upstream did not count; `raw` marks it as estimated."""
    completion = estimate_text(completion_text)
    return Usage(prompt_tokens, completion, raw={
        "prompt_tokens": prompt_tokens, "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion, "estimated": True})
