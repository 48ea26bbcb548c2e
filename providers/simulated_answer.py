"""Simulated upstream, its content: what a `kind: simulated` provider answers to a body (pure).

The answer is a function of the model id and the request alone (a hash of both picks the
words), so the same prompt gets the same answer and two models answer the same prompt
differently: routing is visible in the text, and a repeated prompt is recognisably a repeat.
Every answer says it is simulated. Tools, JSON modes, `n` and `max_tokens` are honoured in
shape (a tool call with arguments that fit the tool's schema, a JSON object, n choices, a cut
answer with `finish_reason: "length"`), so clients and the gateway's own code paths run as they
would against a real model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.routing.prompt import view
from gateway.routing.tokens import estimate_text

MARK = "[simulated]"
_FILLER = (
    "the gateway picked this model by scoring quality cost and latency for the task",
    "a real model would reason about the question here and answer it in full",
    "every figure in this reply is deterministic for the same prompt and model",
    "token counts and costs are computed as they would be for a real answer",
    "retries fallbacks and circuit breakers treat this upstream like any other",
    "the dashboard shows this request with its cost latency and routing reason",
    "point your own load tests at this provider to exercise the gateway without a key",
    "nothing left this machine to produce this text",
)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text


@dataclass(frozen=True)
class Choice:
    """One choice of an answer: text pieces (one token each) or tool calls."""

    pieces: tuple[str, ...]
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str  # stop | length | tool_calls

    @property
    def content(self) -> str | None:
        return "".join(self.pieces) if not self.tool_calls else None

    @property
    def tokens(self) -> int:
        return len(self.pieces) + sum(estimate_text(c.name + c.arguments) for c in self.tool_calls)


def digest(*parts: str) -> bytes:
    return hashlib.blake2b("\0".join(parts).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def answer(body: Mapping[str, Any], model_id: str) -> tuple[Choice, ...]:
    """The choices a simulated `model_id` returns for a chat-completions body."""
    prompt = view(body)
    key = orjson.dumps(body.get("messages"), default=str, option=orjson.OPT_SORT_KEYS).decode()
    n = body.get("n")
    count = n if isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 16 else 1
    limit = _max_tokens(body)
    out = []
    for i in range(count):
        h = digest(model_id, key, str(i))
        tool = _tool_to_call(body, prompt.has_tool_results)
        if tool is not None:
            args = orjson.dumps(_fill(tool.get("parameters"), h)).decode()
            call = ToolCall("call_sim_" + h[:6].hex(), str(tool.get("name")), args)
            out.append(Choice((), (call,), "tool_calls"))
            continue
        text = _text(model_id, prompt.last_user or prompt.text, h, i)
        if _json_mode(body):
            text = orjson.dumps(_json_answer(body, text, model_id, h)).decode()
        pieces = _pieces(text)
        finish = "stop"
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        out.append(Choice(tuple(pieces), (), finish))
    return tuple(out)


def _max_tokens(body: Mapping[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        v = body.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            return v
    return None


def _text(model_id: str, asked: str, h: bytes, index: int) -> str:
    quoted = " ".join(asked.split())
    if len(quoted) > 80:
        quoted = quoted[:77].rstrip() + "..."
    n_filler = 1 + h[0] % 4  # one to four sentences: answers vary in length, like real ones
    order = sorted(range(len(_FILLER)), key=lambda k: h[1 + k])  # distinct sentences
    filler = [_FILLER[k] for k in order[:n_filler]]
    body = ". ".join(f[0].upper() + f[1:] for f in filler)
    variant = f" (choice {index + 1})" if index else ""
    return (f"{MARK} {model_id} answering{variant}: no real model was called. "
            f'You asked: "{quoted}". {body}.')


def _pieces(text: str) -> list[str]:
    """The text as the tokens it is counted and streamed by: words with their leading space."""
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])] if text else []


def _json_mode(body: Mapping[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema")


def _json_answer(body: Mapping[str, Any], text: str, model_id: str, h: bytes) -> Any:
    fmt = body.get("response_format") or {}
    schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    if isinstance(schema, Mapping) and schema.get("type") == "object":
        return _fill(schema, h)
    return {"simulated": True, "model": model_id, "answer": text}


def _tool_to_call(body: Mapping[str, Any], answered: bool) -> Mapping[str, Any] | None:
    """The function a simulated model calls: the one tool_choice names, else the first tool;
    none once a tool result is in the conversation (the model then answers in text)."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, Sequence) or not tools or choice == "none" or answered:
        return None
    functions = [t["function"] for t in tools
                 if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)]
    if isinstance(choice, Mapping):
        wanted = (choice.get("function") or {}).get("name")
        functions = [f for f in functions if f.get("name") == wanted] or functions
    return functions[0] if functions else None


def _fill(schema: Any, h: bytes, depth: int = 0) -> Any:
    """A value that fits a JSON schema's type: required properties filled, others left out."""
    if not isinstance(schema, Mapping) or depth > 8:
        return "simulated"
    if "enum" in schema and isinstance(schema["enum"], Sequence) and schema["enum"]:
        return schema["enum"][h[depth] % len(schema["enum"])]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        required = schema.get("required") or list(props)
        return {str(k): _fill(props.get(k), h, depth + 1) for k in required}
    if kind == "array":
        return [_fill(schema.get("items"), h, depth + 1)]
    if kind == "integer":
        return int(h[depth] % 10) + 1
    if kind == "number":
        return round(h[depth] / 10, 1)
    if kind == "boolean":
        return bool(h[depth] % 2)
    if kind == "null":
        return None
    return "simulated"
