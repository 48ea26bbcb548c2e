"""The composition root: `create_app(config)` builds every part once, mounts the routes and runs
the lifespan. Nothing else lives here: the request path is `pipeline.py`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import routes
from gateway.api.auth import Auth
from gateway.api.respond import error_response
from gateway.config import GatewayConfig
from gateway.demo.config import simulated_providers
from gateway.errors import GatewayError
from gateway.execution.consensus import evidence
from gateway.execution.deployments import served_as, targets_of
from gateway.execution.executor import Executor
from gateway.health import Health
from gateway.learning import Learner
from gateway.pipeline import Pipeline
from gateway.plan import Planner
from gateway.resilience.breaker import Breakers
from gateway.routing import Router
from gateway.shared import SharedParts
from gateway.telemetry import start_tracing
from gateway.telemetry.feed import RoutingFeed
from gateway.telemetry.metrics import Metrics
from gateway.usage.pricing import PriceBook, with_prices
from gateway.usage.recorder import Recorder
from gateway.usage.reports import LogReader
from gateway.usage.response_store import ResponseStore, SqlResponseStore
from gateway.usage.sink import Sink
from gateway.usage.store import SqlSink
from providers import build_provider
from providers.base import Provider

if TYPE_CHECKING:
    from gateway.telemetry.tracing import Tracing

log = logging.getLogger("gateway")


@dataclass
class Parts:
    """Every part of one running gateway, built once. Handlers get the few parts they use."""

    config: GatewayConfig
    auth: Auth
    metrics: Metrics
    shared: SharedParts  # state, breakers, admission (rate limits, budgets), probe
    providers: dict[str, Provider]
    health: Health
    planner: Planner
    executor: Executor
    sink: Sink
    reader: LogReader
    recorder: Recorder
    learner: Learner
    pipeline: Pipeline
    responses: ResponseStore
    feed: RoutingFeed
    tracing: Tracing | None

    @property
    def breakers(self) -> Breakers:
        return self.shared.breakers

    async def start(self) -> None:
        await self.sink.start()  # creates or upgrades the log's tables first
        await self.shared.start()
        await self.learner.start()

    async def close(self) -> None:
        await self.learner.close()
        self.feed.close()
        for name, provider in self.providers.items():
            try:
                await provider.aclose()
            except Exception:  # one provider failing to close must not keep rows unflushed
                log.exception("closing provider %s failed", name)
        await self.shared.close()  # settles what is in flight, before the state goes
        await self.sink.close()  # flushes every row still in memory
        await self.reader.aclose()
        await self.responses.aclose()
        if self.tracing is not None:
            await asyncio.to_thread(self.tracing.close)  # exports what is still queued


def build(config: GatewayConfig, sink: Sink | None = None) -> Parts:
    prices = PriceBook(config.providers)
    config = with_prices(config, prices)
    prices.warm([*config.models, *(served_as(m, t) for m in config.models if m.deployments
                                   for t in targets_of(m))])
    metrics = Metrics()
    reader = LogReader.from_config(config.database)
    shared = SharedParts.from_config(config, reader)
    # Only providers with a key are built: an unused litellm-backed provider costs nothing.
    providers = {name: build_provider(p) for name, p in config.providers.items() if p.has_key}
    health = Health(config, shared.breakers, shared.probe, shared.status)
    planner = Planner(config, Router(config), health)
    executor = Executor(
        config, providers, shared.breakers, health, prices,
        on_upstream_error=lambda p, exc: metrics.upstream_errors.labels(p, type(exc).__name__).inc(),
        on_resume=lambda outcome: metrics.resumes.labels(outcome).inc(),
        on_consensus=lambda legs, outcome, record: learner.add_evidence(
            evidence(legs, outcome, record.features or {}, request_id=record.id,
                     at=record.created_at)),
    )
    sink = sink or SqlSink(config.database)
    feed = RoutingFeed(simulated_providers(config))
    tracing = start_tracing(config.telemetry, config.providers)  # None without otlp_endpoint
    observers = [feed.on_finished] + ([tracing.on_finished] if tracing is not None else [])
    recorder = Recorder(sink, metrics, observers)
    learner = Learner(config.routing.learn, outcomes=reader.outcomes, use=planner.learned,
                      flush=getattr(sink, "flush", None))
    pipeline = Pipeline(auth=Auth(config.auth), planner=planner, admission=shared.admission,
                        executor=executor, recorder=recorder,
                        simulated=simulated_providers(config),
                        max_body_bytes=int(config.server.max_body_mb * 1024 * 1024))
    parts = Parts(config, pipeline.auth, metrics, shared, providers, health, planner, executor,
                  sink, reader, recorder, learner, pipeline, SqlResponseStore(config.database.url),
                  feed, tracing)
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
