"""The composition root: `create_app(config)` builds every part once, mounts the routes and runs
the lifespan. Nothing else lives here: the request path is `pipeline.py`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import routes
from gateway.api.auth import Auth
from gateway.api.respond import error_response
from gateway.config import GatewayConfig
from gateway.errors import GatewayError
from gateway.execution.executor import Executor
from gateway.health import Health
from gateway.learning import Learner
from gateway.pipeline import Pipeline
from gateway.plan import Planner
from gateway.resilience.breaker import Breakers
from gateway.resilience.budget import Budget
from gateway.resilience.probe import LocalProbe
from gateway.routing import Router
from gateway.telemetry.metrics import Metrics
from gateway.usage.pricing import PriceBook, with_prices
from gateway.usage.recorder import Recorder
from gateway.usage.reports import LogReader
from gateway.usage.response_store import ResponseStore, SqlResponseStore
from gateway.usage.sink import Sink
from gateway.usage.store import SqlSink
from providers import build_provider
from providers.base import Provider

log = logging.getLogger("gateway")


@dataclass
class Parts:
    """Every part of one running gateway, built once. Handlers get the few parts they use."""

    config: GatewayConfig
    auth: Auth
    metrics: Metrics
    breakers: Breakers
    providers: dict[str, Provider]
    probe: LocalProbe
    health: Health
    planner: Planner
    budget: Budget
    executor: Executor
    sink: Sink
    reader: LogReader
    recorder: Recorder
    learner: Learner
    pipeline: Pipeline
    responses: ResponseStore

    async def start(self) -> None:
        await self.sink.start()
        await self.budget.load()
        await self.probe.start()
        await self.learner.start()

    async def close(self) -> None:
        await self.learner.close()
        await self.probe.close()
        for name, provider in self.providers.items():
            try:
                await provider.aclose()
            except Exception:  # one provider failing to close must not keep rows unflushed
                log.exception("closing provider %s failed", name)
        await self.sink.close()  # flushes every row still in memory
        await self.reader.aclose()
        await self.responses.aclose()


def build(config: GatewayConfig, sink: Sink | None = None) -> Parts:
    prices = PriceBook(config.providers)
    config = with_prices(config, prices)
    prices.warm(config.models)
    metrics = Metrics()
    breakers = Breakers(config.reliability.circuit_breaker, config.providers,
                        ((m.id, m.provider) for m in config.models))
    # Only providers with a key are built: an unused litellm-backed provider costs nothing.
    providers = {name: build_provider(p) for name, p in config.providers.items() if p.has_key}
    probe = LocalProbe(config)
    health = Health(config, breakers, probe)
    planner = Planner(config, Router(config), health)
    reader = LogReader.from_config(config.database)
    budget = Budget(config, reader)
    executor = Executor(
        config, providers, breakers, health, prices,
        on_upstream_error=lambda p, exc: metrics.upstream_errors.labels(p, type(exc).__name__).inc(),
        on_resume=lambda outcome: metrics.resumes.labels(outcome).inc(),
    )
    sink = sink or SqlSink(config.database)
    recorder = Recorder(sink, metrics)
    learner = Learner(config.routing.learn, outcomes=reader.outcomes, use=planner.learned,
                      flush=getattr(sink, "flush", None))
    pipeline = Pipeline(auth=Auth(config.auth), planner=planner, budget=budget, executor=executor,
                        prices=prices, recorder=recorder,
                        max_body_bytes=int(config.server.max_body_mb * 1024 * 1024))
    parts = Parts(config, pipeline.auth, metrics, breakers, providers, probe, health, planner,
                  budget, executor, sink, reader, recorder, learner, pipeline,
                  SqlResponseStore(config.database.url))
    metrics.watch(lambda: _gauges(parts))
    return parts


def _gauges(parts: Parts) -> dict[str, dict[str, float]]:
    level = {"closed": 0.0, "half_open": 0.5, "open": 1.0}
    b = parts.breakers
    return {
        "circuits": {x.name: level[x.state] for x in [*b.providers.values(), *b.models.values()]},
        "log": {"pending": float(getattr(parts.sink, "pending", 0)),
                "dropped": float(getattr(parts.sink, "dropped", 0))},
        "dropped_frames": {name: float(getattr(p, "dropped_frames", 0))
                           for name, p in parts.providers.items()},
    }


def create_app(config: GatewayConfig, sink: Sink | None = None) -> Starlette:
    parts = build(config, sink)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await parts.start()
        try:
            yield
        finally:
            await parts.close()

    app = Starlette(
        routes=routes(parts), lifespan=lifespan,
        exception_handlers={GatewayError: _render, HTTPException: _render_http, 500: _render_500},
    )
    app.state.parts = parts
    return app


async def _render(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _render_http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    err = GatewayError(f"{request.method} {request.url.path}: {exc.detail}")
    err.status, err.type = exc.status_code, "invalid_request_error"
    err.code = "not_found" if exc.status_code == 404 else "method_not_allowed"
    return error_response(err)


async def _render_500(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(GatewayError(f"Internal gateway error ({type(exc).__name__})."))


__all__ = ["Parts", "build", "create_app"]
