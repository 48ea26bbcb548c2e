"""Anthropic adapter, outbound: an OpenAI chat-completions body -> a Messages API body (pure).

What has no Anthropic equivalent is dropped on purpose (seed, logprobs, penalties, logit_bias);
what would silently change the answer is refused with a 400 naming the parameter (`n` > 1,
audio input, tools that are not functions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from gateway.config import ModelConfig
from gateway.errors import InvalidRequest

DEFAULT_MAX_TOKENS = 4096
_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)(?:;[^,]*)?;base64,(?P<data>.*)$", re.S)
_TOOL_CHOICE = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}

Block = dict[str, Any]


def to_anthropic(
    body: Mapping[str, Any], model: ModelConfig, stream: bool = False
) -> dict[str, Any]:
    """The Messages API request for `body`, sent to `model.upstream`."""
    n = body.get("n")
    if n is not None and n != 1:
        raise InvalidRequest(
            f"n={n} is not supported by {model.id}: Anthropic returns one choice", param="n"
        )
    system, messages = _messages(body.get("messages") or [])
    out: dict[str, Any] = {
        "model": model.upstream,
        "max_tokens": _max_tokens(body, model),
        "messages": messages,
    }
    instruction = _format_instruction(body.get("response_format"))
    if instruction:
        system.append({"type": "text", "text": instruction})
    if system:
        cached = any("cache_control" in b for b in system)
        out["system"] = system if cached else "\n\n".join(b["text"] for b in system)
    _sampling(body, out)
    _tools(body, out)
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if stream:
        out["stream"] = True
    return out


def _max_tokens(body: Mapping[str, Any], model: ModelConfig) -> int:
    # Anthropic requires max_tokens; OpenAI clients usually leave it out.
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if asked is None:
        return model.max_output_tokens or DEFAULT_MAX_TOKENS
    if not isinstance(asked, int) or isinstance(asked, bool) or asked < 1:
        raise InvalidRequest(
            f"max_tokens must be a positive integer, got {asked!r}", param="max_tokens"
        )
    return asked


def _sampling(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        # OpenAI's range is 0..2, Anthropic's 0..1: clamp rather than fail a routable request.
        out["temperature"] = min(float(temperature), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    # Anthropic rejects whitespace-only stop sequences ("\n" is a common OpenAI one): drop them.
    kept = [s for s in stop or () if isinstance(s, str) and s.strip()]
    if kept:
        out["stop_sequences"] = kept


# -- messages -----------------------------------------------------------------------------------


def _messages(messages: Sequence[Any]) -> tuple[list[Block], list[dict[str, Any]]]:
    """(system blocks, turns). Consecutive turns of one role merge, so tool results share a turn."""
    system: list[Block] = []
    turns: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise InvalidRequest(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_text_blocks(msg.get("content"), f"messages[{i}].content"))
            continue
        if role == "user":
            blocks = _user_blocks(msg.get("content"), f"messages[{i}].content")
        elif role == "assistant":
            blocks = _assistant_blocks(msg, i)
        elif role == "tool":
            role, blocks = "user", [_tool_result(msg, i)]
        else:
            raise InvalidRequest(
                f"messages[{i}].role: unsupported role {role!r}", param=f"messages[{i}].role"
            )
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty assistant turn carries nothing
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # the plain-string form when a turn is only text: smaller and canonical
        c = turn["content"]
        if len(c) == 1 and c[0]["type"] == "text" and "cache_control" not in c[0]:
            turn["content"] = c[0]["text"]
    return system, turns


def _text_blocks(content: Any, where: str) -> list[Block]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for j, part in enumerate(_parts(content, where)):
        if part.get("type") not in ("text", "refusal"):
            raise InvalidRequest(
                f"{where}[{j}]: only text parts are allowed here", param=f"{where}[{j}].type"
            )
        text = part.get("text") if part.get("type") == "text" else part.get("refusal")
        if text:
            blocks.append(_with_cache({"type": "text", "text": str(text)}, part))
    return blocks


def _user_blocks(content: Any, where: str) -> list[Block]:
    if content is None or isinstance(content, str):
        return _text_blocks(content, where)
    blocks: list[Block] = []
    for j, part in enumerate(_parts(content, where)):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append(_with_cache({"type": "text", "text": str(part["text"])}, part))
        elif kind == "image_url":
            blocks.append(_with_cache(_image(part.get("image_url"), f"{where}[{j}]"), part))
        elif kind == "file":
            blocks.append(_with_cache(_document(part.get("file"), f"{where}[{j}]"), part))
        else:
            raise InvalidRequest(
                f"{where}[{j}]: content part {kind!r} is not supported by Anthropic",
                param=f"{where}[{j}].type",
            )
    return blocks


def _parts(content: Any, where: str) -> list[Mapping[str, Any]]:
    if not isinstance(content, list) or not all(isinstance(p, Mapping) for p in content):
        raise InvalidRequest(f"{where} must be a string or a list of content parts", param=where)
    return content


def _with_cache(block: Block, part: Mapping[str, Any]) -> Block:
    # Anthropic-style prompt caching rides on OpenAI content parts (as litellm accepts it).
    if isinstance(part.get("cache_control"), Mapping):
        block["cache_control"] = dict(part["cache_control"])
    return block


def _image(image_url: Any, where: str) -> Block:
    url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{where}.image_url.url is required", param=f"{where}.image_url")
    if url.startswith("data:"):
        m = _DATA_URL.match(url)
        if not m:
            raise InvalidRequest(
                f"{where}.image_url.url: a data: URL must be base64", param=f"{where}.image_url.url"
            )
        source = {"type": "base64", "media_type": m["media"], "data": m["data"]}
        return {"type": "image", "source": source}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequest(
        f"{where}.image_url.url must be an http(s) or data: URL", param=f"{where}.image_url.url"
    )


def _document(file: Any, where: str) -> Block:
    data = file.get("file_data") if isinstance(file, Mapping) else None
    m = _DATA_URL.match(data) if isinstance(data, str) else None
    if not m:
        raise InvalidRequest(
            f"{where}.file.file_data must be a base64 data: URL", param=f"{where}.file.file_data"
        )
    return {
        "type": "document",
        "source": {"type": "base64", "media_type": m["media"], "data": m["data"]},
    }


def _assistant_blocks(msg: Mapping[str, Any], i: int) -> list[Block]:
    blocks = _text_blocks(msg.get("content"), f"messages[{i}].content")
    for j, call in enumerate(msg.get("tool_calls") or []):
        where = f"messages[{i}].tool_calls[{j}]"
        fn = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(fn, Mapping) or not fn.get("name") or not call.get("id"):
            raise InvalidRequest(f"{where} needs an id and a function name", param=where)
        blocks.append(
            {
                "type": "tool_use",
                "id": call["id"],
                "name": fn["name"],
                "input": _arguments(fn.get("arguments"), f"{where}.function.arguments"),
            }
        )
    return blocks


def _arguments(raw: Any, where: str) -> Any:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        raise InvalidRequest(f"{where} is not valid JSON", param=where) from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"{where} must be a JSON object", param=where)
    return value


def _tool_result(msg: Mapping[str, Any], i: int) -> Block:
    tool_id = msg.get("tool_call_id")
    if not tool_id:
        raise InvalidRequest(
            f"messages[{i}].tool_call_id is required", param=f"messages[{i}].tool_call_id"
        )
    content = msg.get("content")
    block: Block = {"type": "tool_result", "tool_use_id": tool_id}
    if isinstance(content, str):
        block["content"] = content
    elif content:
        block["content"] = _user_blocks(content, f"messages[{i}].content")
    return block


# -- tools and output format -------------------------------------------------------------------


def _tools(body: Mapping[str, Any], out: dict[str, Any]) -> None:
    tools = body.get("tools") or []
    converted = []
    for j, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(fn, Mapping) or tool.get("type", "function") != "function":
            raise InvalidRequest(
                f"tools[{j}]: only function tools are supported by Anthropic",
                param=f"tools[{j}].type",
            )
        item: dict[str, Any] = {
            "name": fn.get("name"),
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            item["description"] = fn["description"]
        converted.append(_with_cache(item, tool))
    if not converted:
        return  # Anthropic rejects a tool_choice without tools
    out["tools"] = converted
    choice = _tool_choice(body.get("tool_choice"))
    if body.get("parallel_tool_calls") is False:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice:
        out["tool_choice"] = choice


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICE:
        return dict(_TOOL_CHOICE[choice])
    if isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        name = choice["function"].get("name")
        if name:
            return {"type": "tool", "name": name}
    raise InvalidRequest(f"tool_choice {choice!r} is not supported", param="tool_choice")


def _format_instruction(fmt: Any) -> str | None:
    """Anthropic has no JSON mode: ask for it in the system prompt (best effort)."""
    if not isinstance(fmt, Mapping) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_object":
        return "Respond with one valid JSON object only: no prose, no markdown code fences."
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = orjson.dumps(spec.get("schema") or {}).decode()
        return (
            "Respond with one valid JSON object only, no prose and no markdown code fences, "
            f"that conforms to this JSON Schema:\n{schema}"
        )
    raise InvalidRequest(
        f"response_format type {fmt.get('type')!r} is not supported", param="response_format"
    )
