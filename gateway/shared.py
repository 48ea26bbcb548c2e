"""Shared state, built once by `create_app`: the backend and every part keeping state on it.

`SharedParts.from_config(config, reader)` builds the state backend `state.url` (and
`server.workers`) ask for, the circuit breakers, the admission step (rate limits and budgets)
and the local probe over it. `start()` connects (a Redis that is down is not an error: the
parts run on in-process state until it is back), reads budget spend back from the log and
starts sharing circuit states; `close()` settles what is in flight and stops, in reverse.
`status()` is what /health shows under `state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gateway.config import GatewayConfig
from gateway.execution.deployments import targets_of
from gateway.limits import Admission
from gateway.resilience.breaker import Breakers
from gateway.resilience.probe import LocalProbe
from gateway.state import State, build_state

if TYPE_CHECKING:
    from gateway.usage.reports import LogReader


@dataclass
class SharedParts:
    state: State
    breakers: Breakers
    admission: Admission
    probe: LocalProbe

    @classmethod
    def from_config(cls, config: GatewayConfig, reader: LogReader | None = None,
                    *, refresh_s: float = 1.0) -> SharedParts:
        """`reader` reads budget spend back from the log at start; `refresh_s` bounds how
        long a circuit opened on another instance takes to be respected here."""
        state = build_state(config)
        # a breaker per model, and one per deployment of a model served by several
        names = [(m.id, m.provider) for m in config.models]
        names += [(t.name, t.provider) for m in config.models if len(m.deployments) > 1
                  for t in targets_of(m)]
        breakers = Breakers(config.reliability.circuit_breaker, config.providers, names,
                            state, refresh_s)
        return cls(state, breakers, Admission.from_config(config, state, reader),
                   LocalProbe(config, state=state))

    async def start(self) -> None:
        await self.state.start()
        await self.admission.budget.load()
        await self.breakers.start()
        await self.probe.start()

    async def close(self) -> None:
        await self.probe.close()
        await self.admission.close()
        await self.breakers.close()
        await self.state.aclose()

    def status(self) -> dict[str, Any]:
        return self.state.status()
