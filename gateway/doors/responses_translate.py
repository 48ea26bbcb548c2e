"""Responses door, translate: input items (earlier turns' included) -> a chat-completions body.

Runs on bodies `responses_request` has checked. Consecutive function calls, and a function call
that follows the assistant's text, become one assistant message with `tool_calls`, as chat
completions wants; reasoning items carry nothing a chat upstream reads and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Item = dict[str, Any]
Message = dict[str, Any]
_IMAGE_DETAIL = ("low", "high", "auto")


def to_chat(body: Mapping[str, Any], instructions: str | None, items: Sequence[Item]
            ) -> dict[str, Any]:
    """The chat-completions body of a checked Responses body whose input is `items`."""
    messages: list[Message] = [{"role": "system", "content": instructions}] if instructions else []
    messages.extend(to_messages(items))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("stream"):
        chat["stream"] = True
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier",
                "prompt_cache_key"):
        if body.get(key) is not None:
            chat[key] = body[key]
    effort = (body.get("reasoning") or {}).get("effort")
    if effort:
        chat["reasoning_effort"] = effort
    tools = [_tool(t) for t in body.get("tools") or ()]
    if tools:
        chat["tools"] = tools
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        elif choice is not None:
            chat["tool_choice"] = choice
    fmt = (body.get("text") or {}).get("format")
    if fmt and fmt["type"] != "text":
        chat["response_format"] = _format(fmt)
    return chat


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": tool["name"],
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _format(fmt: Mapping[str, Any]) -> dict[str, Any]:
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    schema: dict[str, Any] = {"name": fmt["name"], "schema": fmt["schema"]}
    for key in ("strict", "description"):
        if fmt.get(key) is not None:
            schema[key] = fmt[key]
    return {"type": "json_schema", "json_schema": schema}


def to_messages(items: Sequence[Item]) -> list[Message]:
    out: list[Message] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            out.append(_message(item))
        elif kind == "function_call":
            call = {"id": item["call_id"], "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]}}
            last = out[-1] if out else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item["output"]
            content = output if isinstance(output, str) else _texts(output)
            out.append({"role": "tool", "tool_call_id": item["call_id"], "content": content})
    return out


def _message(item: Item) -> Message:
    role = item["role"]
    content = item["content"]
    if role == "assistant":
        text = content if isinstance(content, str) else _texts(content)
        return {"role": "assistant", "content": text}
    chat_role = "system" if role == "developer" else role  # widest upstream support
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    parts = [_part(p) for p in content]
    if all(p["type"] == "text" for p in parts):
        return {"role": chat_role, "content": "\n".join(p["text"] for p in parts)}
    return {"role": chat_role, "content": parts}


def _texts(parts: Sequence[Mapping[str, Any]]) -> str:
    out = []
    for part in parts:
        value = part.get("text") if part.get("type") != "refusal" else part.get("refusal")
        if isinstance(value, str):
            out.append(value)
    return "".join(out)


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind == "input_text":
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        image: dict[str, Any] = {"url": part["image_url"]}
        if part.get("detail") in _IMAGE_DETAIL:
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    file = {k: part[k] for k in ("file_data", "file_id", "filename") if isinstance(part.get(k), str)}
    return {"type": "file", "file": file}


def output_as_input(output: Sequence[Any]) -> list[Item]:
    """A stored Response's output items, as the input items of the next turn (keeping their ids,
    which the next turn's `input_items` shows)."""
    items: list[Item] = []
    for item in output:
        if not isinstance(item, Mapping):
            continue
        if item.get("type") == "message":
            items.append({"id": item.get("id"), "type": "message", "role": "assistant",
                          "content": [p for p in item.get("content") or () if isinstance(p, dict)]})
        elif item.get("type") == "function_call":
            items.append({k: item.get(k) for k in ("id", "type", "call_id", "name", "arguments")})
    return items
