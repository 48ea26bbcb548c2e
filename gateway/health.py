"""Health: whether each model can be called now, and if not, the real reason.

One answer for the router (which models to leave out of a plan), the chain (which candidate to
skip), the 503 a client gets when nothing is left, `/health`, and `gateway route`: a missing key
names its environment variable, an unreachable local server its URL, an open circuit when it
will let traffic through again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gateway.config import GatewayConfig, ModelConfig
from gateway.execution.deployments import targets_of
from gateway.resilience.breaker import OPEN, Breakers, CircuitBreaker
from gateway.resilience.probe import LocalProbe


class Health:
    def __init__(self, config: GatewayConfig, breakers: Breakers, probe: LocalProbe | None,
                 state: Callable[[], dict[str, Any]] = dict) -> None:
        self.config = config
        self.breakers = breakers
        self.probe = probe
        self.state = state  # where shared limits, budgets and circuits live, and whether it is up

    def why_not(self, model: ModelConfig, provider: str | None = None) -> str | None:
        """None if the model can be called now (through `provider`, default its own; a model
        served by several deployments through any one of them), else why."""
        if provider is None and len(model.deployments) > 1:
            reasons = [self._why(model, t.provider, t.name) for t in targets_of(model)]
            return None if None in reasons else "; ".join(r for r in reasons if r)
        return self._why(model, provider or model.provider, model.id)

    def _why(self, model: ModelConfig, pname: str, breaker: str) -> str | None:
        p = self.config.providers[pname]
        if not p.has_key:
            return f"no API key for provider {pname!r} (set {p.api_key_env or 'its api_key'})"
        if self.probe is not None and self.probe.reachable(pname) is False:
            return f"the local server of provider {pname!r} at {p.base_url} did not answer"
        for b in (self.breakers.providers[pname], self.breakers.models.get(breaker)):
            if b is not None and not b.available():
                return _circuit(b)
        return None

    def unusable(self) -> dict[str, str]:
        """model id -> why it cannot be called now, for every model that cannot."""
        out = {}
        for m in self.config.models:
            why = self.why_not(m)
            if why is not None:
                out[m.id] = why
        return out

    def report(self) -> dict[str, Any]:
        providers: dict[str, Any] = {}
        for name, p in self.config.providers.items():
            info: dict[str, Any] = self.breakers.providers[name].snapshot()
            info["kind"] = p.kind
            info["key"] = "present" if p.has_key else f"missing ({p.api_key_env or 'api_key'})"
            reachable = self.probe.reachable(name) if self.probe else None
            if reachable is not None:
                info["reachable"] = reachable
            providers[name] = info
        models = {m: b.snapshot() for m, b in self.breakers.models.items()}
        return {"status": "ok", "providers": providers, "models": models, "state": self.state()}


def _circuit(b: CircuitBreaker) -> str:
    left = b.retry_in_s()
    if b.state == OPEN and left is not None:
        at = time.strftime("%H:%M:%S", time.gmtime(time.time() + left))
        return f"circuit open for {b.name} until {at} UTC (half-open then, in {left:.0f}s)"
    return f"circuit half-open for {b.name}: its probe call is in flight"
