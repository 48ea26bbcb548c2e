"""litellm adapter: the long tail of providers (Gemini, Mistral, Cohere, any litellm prefix).

The only module that imports litellm, and only when it is about to be used: the import costs
~5 s of CPU, so it never happens when the gateway is imported or an adapter is built, but in
`warm()` (call it from a thread at startup for providers that have keys) or else, off the event
loop, on the adapter's first call. litellm never retries (`max_retries=0`): the gateway owns
the retry loop.
Answers and stream chunks are rebuilt into OpenAI's exact shape by `litellm_response`, and
every litellm exception is translated once, here, into our ProviderError tree.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from types import ModuleType
from typing import Any

import aiohttp
import httpx
import orjson

from gateway.config import ModelConfig, ProviderConfig
from gateway.errors import (
    ContextLengthExceeded,
    ProviderError,
    UpstreamConnectionError,
    UpstreamTimeout,
)
from providers.base import Completion, UpstreamCall, Usage
from providers.http import http_error
from providers.litellm_response import ChunkNormalizer, completion, embeddings

# Only OpenAI's own request parameters reach litellm: a body key must never steer litellm
# itself (api_base, mock_response, metadata callbacks, ...).
OPENAI_PARAMS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)


# The embeddings request's own parameters (`input` and `model` are set by the adapter;
# `encoding_format` is applied here: litellm's objects hold floats, not base64 strings).
EMBEDDING_PARAMS = frozenset({"dimensions", "user"})


def load_litellm() -> ModuleType:
    """Import litellm quietly and offline: local price map, no banners, no telemetry."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.set_verbose = False  # type: ignore[attr-defined]
    litellm.telemetry = False
    # Some paths read max_retries=0 as unset and fall back to this default (embeddings, in
    # 1.102.4: `max_retries or litellm.DEFAULT_MAX_RETRIES`): the gateway owns the retry loop.
    litellm.DEFAULT_MAX_RETRIES = 0  # type: ignore[attr-defined]
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # litellm's response types finish building on first use, and pydantic then warns (once,
    # about a ReadOnly TypedDict item) from inside the first call. Build them now, quietly,
    # at startup, rather than on a request, where warnings-as-errors would break the call.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        litellm.ModelResponse()
        litellm.ModelResponseStream()
    # The OpenAI SDK (litellm's client for OpenAI-compatible providers) imports its resources
    # on first use: ~1 s that would otherwise block the event loop inside the first request.
    importlib.import_module("openai.resources")
    return litellm


def model_name(config: ProviderConfig, model: ModelConfig) -> str:
    """`prefix/upstream` as litellm routes it; an upstream that already names its prefix is kept."""
    prefix = config.litellm_prefix
    upstream = model.upstream
    if not prefix or upstream.startswith(prefix + "/"):
        return upstream
    return f"{prefix}/{upstream}"


class LiteLLMProvider:
    """Any provider litellm speaks, reached through `litellm.acompletion`."""

    def __init__(self, config: ProviderConfig) -> None:
        self.name = config.name
        self.config = config
        self._litellm: ModuleType | None = None

    def warm(self) -> None:
        """Import litellm now (blocking, seconds): for a startup thread, not the event loop."""
        if self._litellm is None:
            self._litellm = load_litellm()

    async def _lib(self) -> ModuleType:
        if self._litellm is None:  # first use: import in a thread so the loop keeps serving
            self._litellm = await asyncio.to_thread(load_litellm)
        return self._litellm

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.config.kind}>"

    def request(self, call: UpstreamCall, stream: bool) -> dict[str, Any]:
        """The keyword arguments of one `litellm.acompletion` call."""
        kwargs = {k: v for k, v in call.body.items() if k in OPENAI_PARAMS and v is not None}
        kwargs.update(
            model=model_name(self.config, call.model),
            messages=call.body.get("messages") or [],
            api_key=self.config.api_key,
            api_base=self.config.base_url,
            max_retries=0,
            num_retries=0,
            timeout=call.timeouts.total_s,
            # The router only sends what a model's capabilities allow; a stray OpenAI-only
            # parameter (logit_bias on Gemini, say) must not fail an otherwise good request.
            drop_params=True,
            stream=stream,
        )
        if stream:
            kwargs["stream_options"] = {"include_usage": True}
        if self.config.headers:
            kwargs["extra_headers"] = dict(self.config.headers)
        return kwargs

    async def complete(self, call: UpstreamCall) -> Completion:
        litellm = await self._lib()  # before the clock starts: importing is not the upstream
        try:
            async with asyncio.timeout(call.timeouts.total_s):
                response = await litellm.acompletion(**self.request(call, stream=False))
        except TimeoutError:
            limit = call.timeouts.total_s
            raise UpstreamTimeout(f"{self.name}: timed out after {limit:g}s") from None
        except Exception as exc:
            raise translate(exc, self.name) from exc
        body, usage = completion(response.model_dump(), call.model.id)
        return Completion(orjson.dumps(body), usage)

    async def embed(self, call: UpstreamCall) -> Completion:
        """`litellm.aembedding`, no retries of its own; the answer in OpenAI's exact shape."""
        litellm = await self._lib()
        kwargs = {k: v for k, v in call.body.items() if k in EMBEDDING_PARAMS and v is not None}
        kwargs.update(
            model=model_name(self.config, call.model), input=call.body.get("input"),
            api_key=self.config.api_key, api_base=self.config.base_url,
            max_retries=0, num_retries=0, timeout=call.timeouts.total_s,
            # what the client asked for goes up, even where litellm does not know the model
            # supports it: the upstream judges (a dropped `dimensions` would be a wrong answer)
            allowed_openai_params=sorted(k for k in kwargs if k in EMBEDDING_PARAMS),
        )
        if self.config.headers:
            kwargs["extra_headers"] = dict(self.config.headers)
        try:
            async with asyncio.timeout(call.timeouts.total_s):
                response = await litellm.aembedding(**kwargs)
        except TimeoutError:
            limit = call.timeouts.total_s
            raise UpstreamTimeout(f"{self.name}: timed out after {limit:g}s") from None
        except Exception as exc:
            raise translate(exc, self.name) from exc
        base64 = call.body.get("encoding_format") == "base64"
        body, usage = embeddings(response.model_dump(), call.model.id, base64=base64)
        return Completion(orjson.dumps(body), usage)

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        litellm = await self._lib()
        t = call.timeouts
        deadline = time.monotonic() + t.total_s
        chunks = ChunkNormalizer(call.model.id)
        try:
            async with asyncio.timeout(min(t.first_token_s, t.total_s)):
                upstream = await litellm.acompletion(**self.request(call, stream=True))
        except TimeoutError:
            raise UpstreamTimeout(f"{self.name}: no answer within {t.first_token_s:g}s") from None
        except Exception as exc:
            raise translate(exc, self.name) from exc
        try:
            while True:
                # One timeout per step, never across a `yield`: a gap longer than
                # first_token_s (a stalled stream) or the total deadline ends the call.
                left = deadline - time.monotonic()
                try:
                    async with asyncio.timeout(max(0.0, min(t.first_token_s, left))):
                        item = await upstream.__anext__()
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    what = (
                        f"no chunk for {t.first_token_s:g}s"
                        if left > t.first_token_s
                        else f"total timeout after {t.total_s:g}s"
                    )
                    raise UpstreamTimeout(f"{self.name}: {what}") from None
                except Exception as exc:
                    raise translate(exc, self.name) from exc
                for chunk in chunks.feed(item.model_dump(exclude_none=True)):
                    yield b"data: " + orjson.dumps(chunk) + b"\n\n"
        finally:
            await upstream.aclose()
        yield chunks.usage()

    async def aclose(self) -> None:
        return None  # litellm pools its HTTP clients per process


# -- litellm exceptions -> ours -----------------------------------------------------------------


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen or len(seen) > 20:
            continue
        seen.add(id(e))
        yield e
        original = getattr(e, "original_exception", None)
        todo.extend(
            [e.__cause__, e.__context__, original if isinstance(original, BaseException) else None]
        )


def _headers(exc: BaseException) -> dict[str, str]:
    headers = getattr(exc, "litellm_response_headers", None)
    if not headers:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    except (TypeError, ValueError):
        return {}


def translate(exc: BaseException, who: str) -> ProviderError:
    """A litellm (or httpx / aiohttp / asyncio) exception -> our ProviderError, once."""
    if isinstance(exc, ProviderError):
        return exc
    litellm = sys.modules.get("litellm")
    message = f"{who}: {str(exc)[:500] or type(exc).__name__}"
    status = getattr(exc, "status_code", None)
    causes = list(_causes(exc))
    if litellm and isinstance(exc, litellm.ContextWindowExceededError):
        return ContextLengthExceeded(message, http_status=status or 400)
    timeouts: tuple[type[BaseException], ...] = (
        TimeoutError,
        httpx.TimeoutException,
        aiohttp.ServerTimeoutError,
    )
    if litellm:
        timeouts += (litellm.Timeout,)
    if any(isinstance(e, timeouts) for e in causes):
        return UpstreamTimeout(message, http_status=status if isinstance(status, int) else None)
    transport: tuple[type[BaseException], ...] = (
        httpx.TransportError,
        aiohttp.ClientError,
        ConnectionError,
    )
    if litellm:
        transport += (litellm.APIConnectionError,)
    if any(isinstance(e, transport) for e in causes):
        return UpstreamConnectionError(message)
    if isinstance(status, int) and status >= 400:
        # The same mapping as a direct HTTP answer: retry-after, context-length hints.
        body = orjson.dumps({"error": {"message": str(exc)[:500]}})
        err = http_error(status, body, _headers(exc), who)
        if litellm and isinstance(exc, litellm.UnsupportedParamsError):
            err.fallback = True  # another provider may well support the parameter
        return err
    return ProviderError(message, retryable=False, fallback=True)
