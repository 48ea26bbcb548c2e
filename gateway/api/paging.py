"""Cursor paging for list endpoints: a `limit` and an item id to page after (or before).

OpenAI's lists (`/v1/responses/{id}/input_items`) and Anthropic's (`/v1/models` in its shape)
page the same way, with their own parameter names; bad values are a 400 naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gateway.errors import InvalidRequest


def cursor_page(ids: Sequence[str], query: Mapping[str, str], *, default_limit: int,
                max_limit: int, after: str, before: str | None = None) -> tuple[slice, bool]:
    """The slice of `ids` the query asks for, and whether more follow it (precede it, when
    paging before an id)."""
    try:
        limit = int(query.get("limit", str(default_limit)))
    except ValueError:
        limit = 0
    if not 1 <= limit <= max_limit:
        raise InvalidRequest(f"limit must be an integer from 1 to {max_limit}", param="limit")
    position = {item: i for i, item in enumerate(ids)}
    for param in (after, before):
        value = query.get(param) if param is not None else None
        if value is not None and value not in position:
            raise InvalidRequest(f"{param}: no item with id {value!r} in this list", param=param)
    if before is not None and before in query:
        end = position[query[before]]
        return slice(max(0, end - limit), end), end - limit > 0
    start = position[query[after]] + 1 if after in query else 0
    return slice(start, start + limit), start + limit < len(ids)
