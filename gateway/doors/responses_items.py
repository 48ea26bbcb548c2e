"""Responses door, input items: `GET /v1/responses/{id}/input_items` as the SDK's
`client.responses.input_items.list` reads it.

The items are those the response was generated from: the conversation of the turns it
continued, then its own input, as stored. Each is shown as the item resource OpenAI returns
(an id, a `status`, message content as parts). An item the client sent with an id keeps it; the
others get one made from the response id and their place, the same on every read, so `after`
pages through them (`api/responses.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

PREFIXES = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}


def item_resources(response_id: str, items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The stored input items as resources, in conversation order (reasoning items, which
    carry nothing a chat upstream used, are left out)."""
    stem = hashlib.sha256(response_id.encode()).hexdigest()[:24]
    out: list[dict[str, Any]] = []
    for place, item in enumerate(items):
        kind = item.get("type", "message")
        if kind not in PREFIXES:
            continue
        made = f"{PREFIXES[kind]}_{stem}{place:04x}"
        item_id = item["id"] if isinstance(item.get("id"), str) and item["id"] else made
        out.append({"id": item_id, **_resource(kind, item)})
    return out


def _resource(kind: str, item: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "function_call":
        return {"type": kind, "call_id": item["call_id"], "name": item["name"],
                "arguments": item["arguments"], "status": "completed"}
    if kind == "function_call_output":
        return {"type": kind, "call_id": item["call_id"], "output": item["output"],
                "status": "completed"}
    role = item["role"]
    content = item.get("content")
    if role == "assistant":
        if isinstance(content, str):
            content = [{"type": "output_text", "text": content}]
        parts = [{**p, "annotations": p.get("annotations", [])}
                 if p.get("type") == "output_text" else p for p in content or ()]
        return {"type": "message", "role": role, "status": "completed", "content": parts}
    if isinstance(content, str):
        content = [{"type": "input_text", "text": content}]
    return {"type": "message", "role": role, "status": "completed", "content": list(content or ())}
