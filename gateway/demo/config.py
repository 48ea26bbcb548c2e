"""The demo, its configuration: every provider replaced by a simulated one (a pure function).

The models, their prices, qualities, fallbacks, routing profiles, budgets and auth stay as
configured, so routing, pricing and the dashboard behave as they would for real; only where the
answers come from changes. Each provider's simulated time to first token is the median of its
models' `latency_ms`, and a small failure rate keeps retries and fallbacks visible. The demo
writes its own log and router state (`gateway-demo.db`, `gateway-demo-router.json`), so
simulated rows never mix with real ones.
"""

from __future__ import annotations

import statistics
import zlib

from gateway.config import GatewayConfig, ProviderConfig, SimulatedSettings
from providers.kinds import kind_of

DEMO_DB_URL = "sqlite+aiosqlite:///gateway-demo.db"
DEMO_ROUTER_STATE = "gateway-demo-router.json"
DEMO_FAILURE_RATE = 0.04


def simulated_providers(config: GatewayConfig) -> frozenset[str]:
    """The names of the providers whose answers are simulated."""
    return frozenset(n for n, p in config.providers.items() if kind_of(p.kind).simulated)


def demo_config(
    config: GatewayConfig, *, db_url: str = DEMO_DB_URL, router_state: str = DEMO_ROUTER_STATE,
    failure_rate: float = DEMO_FAILURE_RATE,
) -> GatewayConfig:
    """`config` with every provider simulated, logging to `db_url`."""
    providers = {}
    for name, p in config.providers.items():
        latencies = [m.latency_ms for m in config.models if m.provider == name]
        settings = SimulatedSettings(
            latency_ms=statistics.median(latencies) if latencies else SimulatedSettings().latency_ms,
            failure_rate=failure_rate,
            seed=zlib.crc32(name.encode()),  # stable across runs, different per provider
        )
        providers[name] = ProviderConfig(name=name, kind="simulated", simulate=settings,
                                         timeouts=p.timeouts, timeout_s=p.timeout_s)
    routing = config.routing.model_copy(
        update={"learn": config.routing.learn.model_copy(update={"state_path": router_state})})
    fields = {name: getattr(config, name) for name in type(config).model_fields}
    fields.update(providers=providers, routing=routing,
                  database=config.database.model_copy(update={"url": db_url}),
                  source=f"{config.source} (demo: simulated upstreams)")
    return GatewayConfig(**fields)  # validated again, as a loaded config is
