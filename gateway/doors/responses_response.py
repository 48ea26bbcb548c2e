"""Responses door, answer: a chat completion -> a Response object (and the pieces streams reuse).

`status` is `completed`, or `incomplete` with its reason when the model stopped at the token
limit (`max_output_tokens`) or a content filter. Usage keeps OpenAI's meaning: `input_tokens`
is the whole prompt, of which `input_tokens_details.cached_tokens` came from the cache.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from providers.base import Usage

if TYPE_CHECKING:
    from gateway.doors.responses_request import ResponsesRequest

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def item_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def response_usage(usage: Mapping[str, Any] | Usage | None) -> dict[str, Any] | None:
    """OpenAI chat usage (a dict, or our Usage) -> the Responses API's usage."""
    if isinstance(usage, Usage):
        usage = usage.raw or {
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
        }
    if not usage:
        return None
    prompt = _count(usage.get("prompt_tokens"))
    output = _count(usage.get("completion_tokens"))
    details = usage.get("prompt_tokens_details") or {}
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": _count(details.get("cached_tokens")),
                                 "cache_write_tokens": _count(details.get("cache_write_tokens"))},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": _count(reasoning)},
        "total_tokens": prompt + output,
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(msg_id: str, text: str | None, status: str) -> dict[str, Any]:
    content = [] if text is None else [text_part(text)]
    return {"type": "message", "id": msg_id, "status": status, "role": "assistant",
            "content": content}


def call_item(fc_id: str, call_id: Any, name: Any, arguments: str, status: str) -> dict[str, Any]:
    call_id = call_id if isinstance(call_id, str) and call_id else item_id("call")
    return {"type": "function_call", "id": fc_id, "call_id": call_id, "name": str(name or ""),
            "arguments": arguments, "status": status}


def status_of(finish_reason: Any) -> tuple[str, dict[str, str] | None]:
    reason = INCOMPLETE.get(str(finish_reason))
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def response_object(
    req: ResponsesRequest, model: str, created_at: int, *, status: str,
    output: Sequence[dict[str, Any]] = (), usage: dict[str, Any] | None = None,
    incomplete: dict[str, str] | None = None, error: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Response object with the request's echoed fields."""
    echo = req.echo
    out = {
        "id": req.id, "object": "response", "created_at": created_at, "status": status,
        "completed_at": int(time.time()) if status == "completed" else None,
        "error": error, "incomplete_details": incomplete, "model": model,
        "output": list(output), "usage": usage,
        **{k: v for k, v in echo.items() if k != "tools"},
        "tools": [_echo_tool(t) for t in echo.get("tools") or ()],
    }
    for key in ("usage", "user"):  # objects or strings in OpenAI's schema: absent, never null
        if out[key] is None:
            del out[key]
    return out


def _echo_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "function", "name": tool["name"], "description": tool.get("description"),
            "parameters": tool.get("parameters"), "strict": tool.get("strict")}


def render_response(req: ResponsesRequest, completion: Mapping[str, Any]) -> dict[str, Any]:
    """The Response for a finished `chat.completion` (its first choice)."""
    choices = completion.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    chat = choice.get("message") or {}
    status, incomplete = status_of(choice.get("finish_reason"))
    output: list[dict[str, Any]] = []
    text = chat.get("content") or chat.get("refusal")
    if isinstance(text, str) and text:
        output.append(message_item(item_id("msg"), text, status))
    for call in chat.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments")
        output.append(call_item(item_id("fc"), call.get("id"), function.get("name"),
                                arguments if isinstance(arguments, str) else "{}", "completed"))
    created = completion.get("created")
    return response_object(
        req, str(completion.get("model") or ""),
        created if isinstance(created, int) else int(time.time()), status=status, output=output,
        usage=response_usage(completion.get("usage")), incomplete=incomplete,
    )
