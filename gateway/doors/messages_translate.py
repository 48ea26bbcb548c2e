"""Messages door, translate: a validated Messages body -> the chat-completions body the pipeline runs.

Runs on bodies `messages_request` has checked, so it never fails. What chat completions cannot
say is left out and named in `dropped` (an Anthropic-kind upstream gets the native body, with
all of it): `thinking`, `top_k`, `output_config.effort`, Anthropic's server tools and their
blocks, images given by file id, and documents given by file id or URL. Left out without a word,
as they change no answer: `cache_control` (OpenAI-compatible servers cache prefixes on their own)
and the `thinking` blocks of earlier turns. A tool result's images, which a chat `tool` message
cannot hold, follow the tool messages in a user message. `output_config.format` (a JSON schema)
becomes `response_format`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

Message = dict[str, Any]
_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}
_SILENT = ("thinking", "redacted_thinking")  # an earlier turn's reasoning: no chat equivalent


def to_chat(body: Mapping[str, Any], dropped: list[str]) -> dict[str, Any]:
    """The chat-completions body of a Messages body; what it leaves out is appended to `dropped`."""
    messages: list[Message] = []
    system = system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body.get("messages") or []):
        where = f"messages.{i}"
        if message["role"] == "assistant":
            messages.extend(_assistant(message["content"], where, dropped))
        else:
            messages.extend(_user(message["content"], where, dropped))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_tokens") is not None:
        chat["max_tokens"] = body["max_tokens"]
    if body.get("stream"):
        chat["stream"] = True
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            chat[key] = body[key]
    if body.get("stop_sequences"):
        chat["stop"] = list(body["stop_sequences"])
    user = (body.get("metadata") or {}).get("user_id")
    if user:
        chat["user"] = user
    _tools(body, chat, dropped)
    config = body.get("output_config") or {}
    if config.get("format"):
        schema = {"name": "output", "schema": config["format"]["schema"]}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    if config.get("effort") is not None:
        dropped.append("output_config.effort")
    for key in ("thinking", "top_k"):
        if body.get(key) is not None:
            dropped.append(key)
    return chat


def system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    return "\n\n".join(b["text"] for b in system or () if b["text"])


def _assistant(content: Any, where: str, dropped: list[str]) -> list[Message]:
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}] if content else []
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        kind = block["type"]
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block["input"]).decode()
            calls.append({"id": block["id"], "type": "function",
                          "function": {"name": block["name"], "arguments": arguments}})
        elif kind not in _SILENT:
            dropped.append(f"{where}.content.{j} ({kind})")
    text = "".join(texts)
    if not text and not calls:
        return []
    message: Message = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return [message]


def _user(content: Any, where: str, dropped: list[str]) -> list[Message]:
    """Tool results first (chat wants them right after the assistant's calls), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    out: list[Message] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        if block["type"] == "tool_result":
            text, images = _tool_result(block, at, dropped)
            out.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
            if images:
                label = f"The image(s) returned by tool call {block['tool_use_id']}:"
                parts.extend([{"type": "text", "text": label}, *images])
        else:
            parts.extend(_part(block, at, dropped))
    if parts:
        texts = [p["text"] for p in parts if p["type"] == "text"]
        only_text = len(texts) == len(parts)
        out.append({"role": "user", "content": "\n".join(texts) if only_text else parts})
    return out


def _tool_result(
    block: Mapping[str, Any], where: str, dropped: list[str]
) -> tuple[str, list[dict[str, Any]]]:
    content = block.get("content")
    if content is None or isinstance(content, str):
        return content or "", []
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    for k, inner in enumerate(content):
        for part in _part(inner, f"{where}.content.{k}", dropped):
            if part["type"] == "text":
                texts.append(part["text"])
            else:
                images.append(part)
    return "\n".join(texts), images


def _part(block: Mapping[str, Any], where: str, dropped: list[str]) -> list[dict[str, Any]]:
    """A user content block as chat content parts (none when it has no chat equivalent)."""
    kind = block["type"]
    if kind == "text":
        return [{"type": "text", "text": block["text"]}] if block["text"] else []
    if kind == "image":
        source = block["source"]
        if source["type"] == "base64":
            url = f"data:{source['media_type']};base64,{source['data']}"
            return [{"type": "image_url", "image_url": {"url": url}}]
        if source["type"] == "url":
            return [{"type": "image_url", "image_url": {"url": source["url"]}}]
    if kind == "document":
        part = _document(block["source"])
        if part is not None:
            return [part]
    if kind not in _SILENT:
        dropped.append(f"{where} ({kind})")
    return []


def _document(source: Mapping[str, Any]) -> dict[str, Any] | None:
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    if kind == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type") or "application/pdf"
        data_url = f"data:{media};base64,{source['data']}"
        return {"type": "file", "file": {"filename": "document.pdf", "file_data": data_url}}
    if kind == "content" and isinstance(source.get("content"), list):
        texts = [b.get("text") for b in source["content"] if isinstance(b, Mapping)]
        joined = "\n".join(t for t in texts if isinstance(t, str) and t)
        return {"type": "text", "text": joined} if joined else None
    return None


def _tools(body: Mapping[str, Any], chat: dict[str, Any], dropped: list[str]) -> None:
    tools = []
    for i, tool in enumerate(body.get("tools") or []):
        if tool.get("type") not in (None, "custom"):
            dropped.append(f"tools.{i} ({tool['type']})")
            continue
        function: dict[str, Any] = {"name": tool["name"], "parameters": tool["input_schema"]}
        if tool.get("description"):
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    if not tools:
        return  # a tool_choice without tools means nothing upstream
    chat["tools"] = tools
    choice = body.get("tool_choice")
    if not choice:
        return
    if choice["type"] == "tool":
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        chat["tool_choice"] = _TOOL_CHOICE[choice["type"]]
    if choice.get("disable_parallel_tool_use"):
        chat["parallel_tool_calls"] = False
