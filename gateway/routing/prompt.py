"""Routing, step 0: read the parts of a chat-completions body that routing looks at.

The body is the client's OpenAI-shaped request, already parsed. Nothing here validates it (the
API layer does); malformed parts are skipped, so routing never fails on content it cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PromptView:
    """The text and shape of one request, as routing sees it."""

    text: str  # every message's text, oldest first (for token counts and features)
    last_user: str  # the newest user message: what the request asks now
    system: str  # the system / developer messages
    n_messages: int
    n_user_turns: int
    n_images: int
    n_audio: int
    has_tool_results: bool  # a `tool` (or `function`) message: an agent loop is running
    extra_chars: int  # characters outside message text that still count as prompt (tools)


def _part_text(part: Any) -> tuple[str, int, int]:
    """Text of one content part, and whether it is an image or audio."""
    if isinstance(part, str):
        return part, 0, 0
    if not isinstance(part, Mapping):
        return "", 0, 0
    kind = part.get("type")
    if kind in ("image_url", "image", "input_image"):
        return "", 1, 0
    if kind in ("input_audio", "audio"):
        return "", 0, 1
    text = part.get("text")
    return (text if isinstance(text, str) else ""), 0, 0


def _content(content: Any) -> tuple[str, int, int]:
    if isinstance(content, str):
        return content, 0, 0
    if not isinstance(content, Sequence):
        return "", 0, 0
    texts: list[str] = []
    images = audio = 0
    for part in content:
        text, i, a = _part_text(part)
        if text:
            texts.append(text)
        images += i
        audio += a
    return "\n".join(texts), images, audio


def _tool_chars(body: Mapping[str, Any]) -> int:
    """Tool schemas are sent to the model as prompt tokens; count their size cheaply."""
    total = 0
    for key in ("tools", "functions"):
        tools = body.get(key)
        if isinstance(tools, Sequence) and not isinstance(tools, str):
            # repr is ~2x faster than json.dumps and within a few % of its length
            total += len(repr(tools))
    return total


def view(body: Mapping[str, Any]) -> PromptView:
    """Collect what routing needs from a chat-completions body in one pass over its messages."""
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        messages = ()
    texts: list[str] = []
    system: list[str] = []
    last_user = ""
    n_user = images = audio = 0
    tool_results = False
    extra = 0
    for msg in messages:
        if not isinstance(msg, Mapping):
            continue
        role = msg.get("role")
        text, i, a = _content(msg.get("content"))
        images += i
        audio += a
        if role == "user":
            n_user += 1
            last_user = text
        elif role in ("system", "developer"):
            system.append(text)
        elif role in ("tool", "function"):
            tool_results = True
        calls = msg.get("tool_calls")
        if calls:
            extra += len(repr(calls))
        if text:
            texts.append(text)
    return PromptView(
        text="\n".join(texts),
        last_user=last_user,
        system="\n".join(system),
        n_messages=len(messages),
        n_user_turns=n_user,
        n_images=images,
        n_audio=audio,
        has_tool_results=tool_results,
        extra_chars=extra + _tool_chars(body),
    )


def single_prompt(text: str) -> dict[str, Any]:
    """A one-message request body, as `gateway route TEXT` and the evaluation replay build it."""
    return {"messages": [{"role": "user", "content": text}]}
