"""Execution: one model served by several deployments (an Upstream over their call stacks).

The picker orders the model's deployments for this request (least busy, or the user's place on
the hash ring); a deployment that fails is skipped for the next one of the same model before
the chain moves on to the model's fallbacks. Each deployment has its own call stack (its own
provider, upstream name and circuit breaker), and the picker is told how each call went, so its
in-flight counts and latency averages steer the next requests.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from gateway.config import ModelConfig
from gateway.errors import CircuitOpen, ProviderError, UpstreamConnectionError
from gateway.execution.deployments import DeploymentPicker, Target
from gateway.resilience.timeouts import aclose
from providers.base import Completion, Upstream, UpstreamCall, Usage


class Deployed:
    def __init__(self, model: ModelConfig, picker: DeploymentPicker, user: str | None,
                 stack: Callable[[Target], Upstream],
                 call_at: Callable[[UpstreamCall, Target], UpstreamCall]) -> None:
        self.name = model.id
        self.model = model
        self.picker = picker
        self.user = user
        self.stack = stack  # a deployment's own call stack (breaker, attempt row, timeouts)
        self.call_at = call_at  # the call as that deployment takes it (its upstream name)

    def __repr__(self) -> str:
        return f"<Deployed {self.model.id} {self.picker!r}>"

    def _order(self) -> list[Target]:
        order = self.picker.order(self.model.id, self.user)
        if not order:
            raise CircuitOpen(f"every deployment of {self.model.id} is down", retryable=False,
                              fallback=True)
        return order

    async def complete(self, call: UpstreamCall) -> Completion:
        last: ProviderError | None = None
        for t in self._order():
            self.picker.started(t)
            t0, ok = time.perf_counter(), False
            try:
                completion = await self.stack(t).complete(self.call_at(call, t))
                ok = True
                return completion
            except ProviderError as exc:
                if not exc.fallback:
                    raise  # a request every deployment would refuse
                last = exc
            finally:
                self.picker.finished(t, (time.perf_counter() - t0) * 1000, ok)
        assert last is not None
        raise last

    async def stream(self, call: UpstreamCall) -> AsyncIterator[bytes | Usage]:
        last: ProviderError | None = None
        for t in self._order():
            self.picker.started(t)
            t0, ok = time.perf_counter(), False
            items = self.stack(t).stream(self.call_at(call, t))
            try:
                try:
                    first = await anext(items)
                except StopAsyncIteration:
                    raise UpstreamConnectionError(f"{t.name}: the stream ended at once") from None
                except ProviderError as exc:
                    if not exc.fallback:
                        raise
                    last = exc
                    continue  # nothing sent yet: the next deployment may answer
                yield first
                async for item in items:
                    yield item
                ok = True
                return
            finally:
                await aclose(items)
                self.picker.finished(t, (time.perf_counter() - t0) * 1000, ok)
        assert last is not None
        raise last
