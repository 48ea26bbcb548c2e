"""Doors, stream: what every stream encoder reads from chat chunks, in one place.

A door's encoder subclasses `ChunkReader` and says what text and tool-call fragments become in
its own stream; the reader keeps the finish reason and any usage a chunk carried. Only the first
choice is read (the doors ask for one), and fragments are passed with their tool-call index.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Usage


class ChunkReader:
    def __init__(self) -> None:
        self.finish_reason: Any = None
        self.dropped = 0  # tool-call fragments that arrived after their block or item closed
        self._chunk_usage: Mapping[str, Any] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> list[bytes]:
        """The frames one `chat.completion.chunk` produces (often none, sometimes several)."""
        out: list[bytes] = []
        if isinstance(chunk.get("usage"), Mapping):
            self._chunk_usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content") or delta.get("refusal")
            if isinstance(text, str) and text:
                out.extend(self.text(text))
            for fragment in delta.get("tool_calls") or ():
                if isinstance(fragment, Mapping):
                    index = fragment.get("index", 0)
                    out.extend(self.tool(index if isinstance(index, int) else 0, fragment))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def text(self, text: str) -> list[bytes]:
        raise NotImplementedError

    def tool(self, index: int, fragment: Mapping[str, Any]) -> list[bytes]:
        raise NotImplementedError

    def usage(self, usage: Usage | None) -> Usage | Mapping[str, Any] | None:
        """The stream's usage: the pipeline's, when it has figures, else a chunk's, else None."""
        if usage is not None and (usage.raw or usage.prompt_tokens or usage.completion_tokens):
            return usage
        return self._chunk_usage
