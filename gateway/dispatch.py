"""Dispatch: run a plan. Each candidate goes through its breakers and retries; on failure, the next.

The chain is the routing plan (or an explicit model followed by its configured fallbacks). A
context-length failure skips every later candidate whose window is no larger; a malformed
request (upstream 400) stops the walk, since every model would refuse it. A stream may fall back
only before its first byte is sent to the client: dispatch hands over a stream only after the
first frame has arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from gateway.config import GatewayConfig, ModelConfig
from gateway.errors import (
    AttemptInfo,
    ContextLengthExceeded,
    InvalidRequest,
    ProviderError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.resilience.breaker import Breakers
from gateway.resilience.probe import LocalProbe
from gateway.resilience.retry import retrying
from gateway.usage.events import RequestRecord
from providers.base import Completion, Provider, UpstreamCall, Usage

T = TypeVar("T")


@dataclass
class OpenStream:
    """A stream whose first frame has arrived; `finish` records how it ended."""

    model: ModelConfig
    first: bytes | Usage
    rest: AsyncIterator[bytes | Usage]
    finish: Callable[[ProviderError | None], None]


def _counts_against_upstream(exc: ProviderError) -> bool:
    """Does this failure say the upstream is sick (so the breaker should hear of it)?"""
    if isinstance(exc, ContextLengthExceeded):
        return False
    return exc.retryable or exc.http_status in (401, 403, 404)


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        providers: Mapping[str, Provider],
        breakers: Breakers,
        probe: LocalProbe | None = None,
        on_upstream_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        self.breakers = breakers
        self.probe = probe
        self.on_upstream_error = on_upstream_error or (lambda provider, kind: None)

    def usable(self, model: ModelConfig) -> str | None:
        """None if the model can be called now, else why not."""
        provider = self.config.providers[model.provider]
        if not provider.has_key:
            var = provider.api_key_env or "its api_key"
            return f"no API key for provider {provider.name!r} (set {var})"
        if self.probe is not None and self.probe.reachable(model.provider) is False:
            return f"local server of provider {model.provider!r} is not reachable"
        if not self.breakers.providers[model.provider].available():
            return f"circuit open for provider {model.provider!r}"
        if not self.breakers.models[model.id].available():
            return f"circuit open for model {model.id!r}"
        return None

    async def complete(
        self, chain: list[ModelConfig], call: UpstreamCall, record: RequestRecord
    ) -> tuple[ModelConfig, Completion]:
        async def one(provider: Provider, c: UpstreamCall) -> Completion:
            return await provider.complete(c)  # adapters enforce connect/total timeouts

        return await self._walk(chain, call, record, one)

    async def stream(
        self, chain: list[ModelConfig], call: UpstreamCall, record: RequestRecord
    ) -> OpenStream:
        async def one(provider: Provider, c: UpstreamCall) -> OpenStream:
            agen = provider.stream(c)
            try:
                async with asyncio.timeout(c.timeouts.first_token_s):
                    first = await agen.__anext__()
            except StopAsyncIteration:
                first = Usage()
            except TimeoutError:
                await _close(agen)
                raise UpstreamTimeout(
                    f"{provider.name}: first-token timeout: nothing within {c.timeouts.first_token_s:g}s"
                ) from None
            except BaseException:
                await _close(agen)
                raise
            return OpenStream(c.model, first, agen, lambda exc: None)

        opened: OpenStream = await self._walk(chain, call, record, one, keep_open=True)
        return opened

    async def _walk(
        self,
        chain: list[ModelConfig],
        call: UpstreamCall,
        record: RequestRecord,
        one: Callable[[Provider, UpstreamCall], Awaitable[T]],
        keep_open: bool = False,
    ) -> tuple[ModelConfig, T] | Any:
        skipped: list[AttemptInfo] = []
        failures: list[ProviderError] = []
        window_floor = 0
        for model in chain:
            why = self.usable(model)
            if why is None and model.context_window <= window_floor:
                why = f"context window {model.context_window} too small for this prompt"
            if why is not None:
                skipped.append(AttemptInfo(0, model.id, model.provider, "skipped", None, why, 0.0))
                continue
            this = UpstreamCall(
                body=call.body, model=model, timeouts=self.config.timeouts_for(model),
                stream=call.stream, include_usage=call.include_usage, raw=call.raw,
            )
            try:
                result = await self._attempts(model, this, record, one, keep_open, failures)
            except ProviderError as exc:
                if isinstance(exc, ContextLengthExceeded):
                    window_floor = max(window_floor, model.context_window)
                if not exc.fallback:
                    raise InvalidRequest(exc.message) from None
                continue
            if keep_open:
                return result
            return model, result
        attempts = [*record.attempt_rows, *skipped]
        status = 503  # nothing could even be tried
        if failures:
            status = 504 if all(isinstance(f, UpstreamTimeout) for f in failures) else 502
        raise UpstreamUnavailable(attempts, status)

    async def _attempts(
        self,
        model: ModelConfig,
        call: UpstreamCall,
        record: RequestRecord,
        one: Callable[[Provider, UpstreamCall], Awaitable[T]],
        keep_open: bool,
        failures: list[ProviderError],
    ) -> Any:
        provider = self.providers[model.provider]
        p_breaker = self.breakers.providers[model.provider]
        m_breaker = self.breakers.models[model.id]

        async def attempt() -> Any:
            if not p_breaker.acquire():
                raise ProviderError(f"circuit open for provider {model.provider!r}",
                                    retryable=False, fallback=True)
            if not m_breaker.acquire():
                p_breaker.release()
                raise ProviderError(f"circuit open for model {model.id!r}",
                                    retryable=False, fallback=True)
            record.attempts += 1
            n = record.attempts
            started = time.perf_counter()

            def finish(exc: ProviderError | None, n: int = n, t0: float = started) -> None:
                ms = (time.perf_counter() - t0) * 1000
                if exc is None:
                    p_breaker.success()
                    m_breaker.success()
                    record.attempt_rows.append(
                        AttemptInfo(n, model.id, model.provider, "success", 200, None, ms))
                    return
                if _counts_against_upstream(exc):
                    p_breaker.failure()
                    m_breaker.failure()
                else:
                    p_breaker.release()
                    m_breaker.release()
                failures.append(exc)
                self.on_upstream_error(model.provider, type(exc).__name__)
                record.attempt_rows.append(AttemptInfo(
                    n, model.id, model.provider, "error", exc.http_status, exc.message, ms))

            try:
                result = await one(provider, call)
            except ProviderError as exc:
                finish(exc)
                raise
            except BaseException:
                p_breaker.release()
                m_breaker.release()
                raise
            if keep_open:
                assert isinstance(result, OpenStream)
                result.finish = finish
            else:
                finish(None)
            return result

        # The first try is a plain call: tenacity's machinery (~50 us) is only built once a
        # retryable error has happened. It remains the one retry loop.
        try:
            return await attempt()
        except ProviderError as exc:
            if not exc.retryable or self.config.reliability.retries == 0:
                raise
            first = exc
        controller = retrying(self.config.reliability, already_failed=first)
        async for tried in controller:
            with tried:
                return await attempt()
        raise AssertionError("unreachable: tenacity re-raises the last error")


async def _close(agen: AsyncIterator[Any]) -> None:
    aclose = getattr(agen, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # closing a failed stream must not mask why it failed
            pass
