"""Limits every door enforces on a parsed body before anything else reads it.

Nesting depth: the gateway re-serialises bodies (to send upstream, to store in the log), and
orjson refuses anything nested deeper than 255 levels; the parser (and Python's own recursion)
would accept far more. A body the gateway could not re-serialise must be a 400 naming where it
is too deep, never a 500 halfway through a request. 64 levels is far beyond any real JSON
schema or message, and well inside every serialiser on the way.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import InvalidRequest

MAX_DEPTH = 64


def check_depth(body: Any, raw: bytes | None = None, limit: int = MAX_DEPTH) -> None:
    """Raise InvalidRequest naming the first path nested deeper than `limit` levels."""
    if raw is not None and raw.count(b"{") + raw.count(b"[") <= limit:
        return  # cannot be that deep: the common case costs two C-speed scans
    # (value, its path while short enough to name a parameter, depth)
    stack: list[tuple[Any, str, int]] = [(body, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > limit:
            raise InvalidRequest(f"{path} is nested more than {limit} levels deep", param=path)
        named = depth >= _NAMED_DEPTH
        if isinstance(value, dict):
            stack.extend((v, path if named else _key(path, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, path if named else f"{path}[{i}]", depth + 1)
                         for i, v in enumerate(value))


_NAMED_DEPTH = 4  # `tools[0].function.parameters` names the parameter; deeper paths do not help


def _key(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> InvalidRequest:
    """The 400 for a body too deep for the JSON parser itself, naming where it gets too deep
    (found by a scan of the raw bytes; runs only on that error path)."""
    stack: list[list[Any]] = []  # [kind, key or index] per open container
    last_string: bytes | None = None
    for m in _TOKENS.finditer(raw):
        tok = m.group()
        if tok in (b"{", b"["):
            stack.append([tok, None if tok == b"{" else 0])
            if len(stack) > limit:
                break
        elif tok in (b"}", b"]"):
            if stack:
                stack.pop()
        elif tok == b":" and stack and last_string is not None:
            stack[-1][1] = last_string[1:-1].decode("utf-8", "replace")
        elif tok == b"," and stack and stack[-1][0] == b"[":
            stack[-1][1] += 1
        last_string = tok if tok.startswith(b'"') else None
    path = ""
    for kind, at in stack[:_NAMED_DEPTH]:
        del kind
        path = f"{path}[{at}]" if isinstance(at, int) else _key(path, at)
    return InvalidRequest(f"{path or 'the body'} is nested more than {limit} levels deep",
                          param=path or None)
