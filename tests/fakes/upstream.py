"""A scripted in-process Upstream, for the unit tests of the wrappers and the chain.

It implements the same small protocol a provider does (`complete`, `stream`), fed from a queue
of scripts in the style of `FakeServer.enqueue`: each call takes the next script, a list of
what to yield (frames, a Usage) or raise (a ProviderError), or a coroutine factory to await.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import orjson

from providers.base import Completion, UpstreamCall, Usage

Script = list[Any]


def frame(content: str | None = None, *, role: bool = False, finish: str | None = None,
          cid: str = "chatcmpl-1", tool: dict[str, Any] | None = None) -> bytes:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    if tool is not None:
        delta["tool_calls"] = [tool]
    chunk = {"id": cid, "object": "chat.completion.chunk", "created": 1, "model": "m",
             "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def answer(*words: str, prompt: int = 10, completion: int = 5) -> Script:
    """A whole streamed answer: a role chunk, the words, a finish chunk, the usage."""
    return [frame("", role=True), *(frame(w) for w in words), frame(finish="stop"),
            Usage(prompt, completion, raw={"prompt_tokens": prompt,
                                           "completion_tokens": completion})]


class ScriptedUpstream:
    def __init__(self, name: str = "scripted", *scripts: Script) -> None:
        self.name = name
        self.scripts: deque[Script] = deque(scripts)
        self.calls: list[UpstreamCall] = []

    def enqueue(self, *scripts: Script) -> None:
        self.scripts.extend(scripts)

    def _next(self, call: UpstreamCall) -> Script:
        self.calls.append(call)
        return self.scripts.popleft() if self.scripts else answer("default")

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        for step in self._next(call):
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, int | float) and not isinstance(step, bool):
                await asyncio.sleep(step)  # a number: a pause
                continue
            yield step

    async def complete(self, call: UpstreamCall) -> Completion:
        usage = Usage()
        for step in self._next(call):
            if isinstance(step, BaseException):
                raise step
            if isinstance(step, int | float) and not isinstance(step, bool):
                await asyncio.sleep(step)
            elif isinstance(step, Usage):
                usage = step
        return Completion(b'{"choices": []}', usage)

    async def aclose(self) -> None:
        return None
