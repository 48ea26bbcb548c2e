"""The composition root: `create_app(config)` builds every part once and keeps it on app.state."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from gateway.api import routes
from gateway.api.auth import KeyCheck
from gateway.api.parse import ChatRequest
from gateway.api.respond import error_response
from gateway.config import GatewayConfig, ModelConfig
from gateway.dispatch import Dispatcher
from gateway.errors import GatewayError, ModelNotFound, ProviderError
from gateway.learning import Learner
from gateway.metrics import Metrics
from gateway.resilience.breaker import Breakers
from gateway.resilience.budget import Budget
from gateway.resilience.probe import LocalProbe
from gateway.routing import Decision, Router
from gateway.usage.events import FeedbackRecord, RequestRecord
from gateway.usage.pricing import PriceBook
from gateway.usage.reports import LogReader
from gateway.usage.sink import Sink
from gateway.usage.store import SqlSink
from providers import build_provider
from providers.base import Provider, Usage

log = logging.getLogger("gateway")

PROFILE_NAMES = ("auto", "auto:cheap", "auto:best", "auto:fast", "auto:local")


class Gateway:
    """Everything one running gateway holds. Handlers reach it as `request.app.state.gw`."""

    def __init__(self, config: GatewayConfig, sink: Sink | None = None) -> None:
        self.prices = PriceBook(config.providers)
        config = with_prices(config, self.prices)
        self.config = config
        self.auth = KeyCheck(config.auth)
        self.max_body_bytes = int(config.server.max_body_mb * 1024 * 1024)
        self.metrics = Metrics()
        self.breakers = Breakers(
            config.reliability.circuit_breaker, config.providers,
            ((m.id, m.provider) for m in config.models)
        )
        # Only providers with a key are built: an unused litellm-backed provider costs nothing.
        self.providers: dict[str, Provider] = {
            name: build_provider(p) for name, p in config.providers.items() if p.has_key
        }
        self.probe = LocalProbe(config)
        self.prices.warm(config.models)
        self.dispatcher = Dispatcher(
            config, self.providers, self.breakers, self.probe,
            on_upstream_error=lambda p, kind: self.metrics.upstream_errors.labels(p, kind).inc(),
        )
        self.router = Router(config)
        self.sink: Sink = sink or SqlSink(config.database)
        self.reader = LogReader.from_config(config.database)
        self.budget = Budget(config, self.reader, self.prices)
        self.learner = Learner(self)
        self.recent_ids: OrderedDict[str, None] = OrderedDict()
        self.model_names = [m.id for m in config.models] + list(PROFILE_NAMES)
        # Resolved once: ids and aliases -> model, and each model's fallback chain.
        self.by_name = {n: m for m in config.models for n in (m.id, *m.aliases)}
        self.chains: dict[str, tuple[ModelConfig, ...]] = {}
        for n, m in self.by_name.items():
            chain = {m.id: m}
            for f in m.fallbacks:
                chain.setdefault(self.by_name[f].id, self.by_name[f])
            self.chains[n] = tuple(chain.values())
        self.metrics.watch(self._gauges)

    def new_request_id(self) -> str:
        return "req_" + os.urandom(12).hex()

    # -- planning -------------------------------------------------------------------------------

    def unusable_map(self) -> dict[str, str]:
        """Models that cannot be called now, each with the reason (routing names them)."""
        out: dict[str, str] = {}
        for m in self.config.models:
            why = self.dispatcher.usable(m)
            if why is not None:
                out[m.id] = why
        return out

    def _decide(self, req: ChatRequest, name: str) -> Decision:
        if name not in PROFILE_NAMES:
            raise ModelNotFound(name, self.model_names)
        return self.router.decide(req.body, profile=name.partition(":")[2] or None,
                                  unusable=self.unusable_map(), options=req.routing)

    def plan(self, req: ChatRequest, record: RequestRecord) -> list[ModelConfig]:
        """The models to try, in order: the router's plan for auto*, else the model + fallbacks."""
        name = req.model
        if name == "auto" or name.startswith("auto:"):
            decision = self._decide(req, name)
            record.task, record.complexity = decision.task, decision.complexity
            record.profile, record.routing_reason = decision.profile, decision.reason
            record.features, record.explored = decision.features, decision.explored
            return [self.by_name[i] for i in decision.chain if i in self.by_name]
        chain = self.chains.get(name)
        if chain is None:
            raise ModelNotFound(name, self.model_names)
        c = self.router.classify(req.body)
        record.task, record.complexity = c.task, c.complexity
        record.routing_reason = f"explicit model {chain[0].id}"
        return list(chain)  # a copy: a budget downgrade may replace it

    def explain(self, req: ChatRequest) -> dict[str, Any]:
        """The routing decision for a request, as JSON, without calling any upstream."""
        name = req.model
        if name != "auto" and not name.startswith("auto:"):
            if name not in self.by_name:
                raise ModelNotFound(name, self.model_names)
            name = "auto"
        out: dict[str, Any] = self._decide(req, name).to_json()
        return out

    async def knows_request(self, request_id: str) -> bool:
        return request_id in self.recent_ids or await self.reader.request_exists(request_id)

    def add_feedback(self, fb: FeedbackRecord) -> None:
        self.sink.put_feedback(fb)
        self.learner.notify()

    def budget_check(self, record: RequestRecord, chain: list[ModelConfig], req: ChatRequest) -> None:
        def usable() -> list[ModelConfig]:  # only a downgrade needs it
            return [m for m in self.config.models if self.dispatcher.usable(m) is None]

        replacement = self.budget.check(record, chain, req.body, usable)
        if replacement is not None:
            chain[:] = replacement

    # -- finishing ------------------------------------------------------------------------------

    def _price(self, record: RequestRecord, model: ModelConfig, usage: Usage | None) -> None:
        record.model, record.provider = model.id, model.provider
        if usage is None or not usage.raw:
            record.cost_usd, record.cost_note = None, "the upstream reported no usage"
            return
        record.prompt_tokens, record.completion_tokens = usage.prompt_tokens, usage.completion_tokens
        record.usage_json = usage.raw
        record.cost_usd, record.cost_note = self.prices.cost_usd(model, usage)
        if record.cost_usd:
            self.budget.spent(record.api_key, record.cost_usd)

    def finish_success(
        self, record: RequestRecord, model: ModelConfig, usage: Usage, upstream_ms: float
    ) -> None:
        record.status, record.http_status = "success", 200
        self._price(record, model, usage)
        record.latency_ms = (time.perf_counter() - record.started) * 1000
        record.overhead_ms = max(0.0, record.latency_ms - upstream_ms)

    def finish_stream(
        self, record: RequestRecord, model: ModelConfig, usage: Usage | None,
        error: ProviderError | None, ended: bool, dispatch_started: float,
    ) -> None:
        self._price(record, model, usage)
        if error is not None:
            record.status, record.http_status = "error", error.status
            record.error = f"upstream failed mid-stream: {error.message}"
        elif not ended:
            record.status, record.http_status = "error", 499
            record.error = "client disconnected mid-stream"
        else:
            record.status, record.http_status = "success", 200
        record.latency_ms = (time.perf_counter() - record.started) * 1000
        # The gateway's own share of the time to first token: everything before dispatch.
        record.overhead_ms = (dispatch_started - record.started) * 1000

    def finish_error(
        self, record: RequestRecord, exc: GatewayError, http_status: int | None = None
    ) -> None:
        record.status = "error"
        record.http_status = http_status or exc.status
        record.error = f"{type(exc).__name__}: {exc.message}"
        record.latency_ms = (time.perf_counter() - record.started) * 1000

    def record(self, record: RequestRecord) -> None:
        """The request is over: count it and hand its row to the background writer."""
        m = self.metrics
        m.requests.labels(record.model or "none", record.status).inc()
        if record.latency_ms is not None:
            m.latency.labels("true" if record.stream else "false").observe(
                record.latency_ms / 1000)
        if record.overhead_ms is not None:
            m.overhead.observe(record.overhead_ms / 1000)
        if record.ttft_ms is not None:
            m.ttft.observe(record.ttft_ms / 1000)
        if record.cost_usd:
            m.cost.labels(record.model or "none").inc(record.cost_usd)
        self.recent_ids[record.id] = None
        if len(self.recent_ids) > 50_000:
            self.recent_ids.popitem(last=False)
        self.sink.put(record)

    def _gauges(self) -> dict[str, dict[str, float]]:
        level = {"closed": 0.0, "half_open": 0.5, "open": 1.0}
        circuits = {b.name: level[b.state] for b in
                    [*self.breakers.providers.values(), *self.breakers.models.values()]}
        pending = float(getattr(self.sink, "pending", 0))
        dropped = float(getattr(self.sink, "dropped", 0))
        return {"circuits": circuits, "log": {"pending": pending, "dropped": dropped}}

    # -- lifecycle ------------------------------------------------------------------------------

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

    def health(self) -> dict[str, Any]:
        providers: dict[str, Any] = {}
        for name, p in self.config.providers.items():
            info: dict[str, Any] = self.breakers.providers[name].snapshot()
            info["kind"] = p.kind
            info["key"] = "present" if p.has_key else f"missing ({p.api_key_env or 'api_key'})"
            reachable = self.probe.reachable(name)
            if reachable is not None:
                info["reachable"] = reachable
            providers[name] = info
        models = {m: b.snapshot() for m, b in self.breakers.models.items()}
        return {"status": "ok", "providers": providers, "models": models}


def with_prices(config: GatewayConfig, prices: PriceBook) -> GatewayConfig:
    """Fill each model's missing prices from litellm's map, so routing and budgets see them."""
    models = []
    for m in config.models:
        if (m.input_usd_per_mtok is None or m.output_usd_per_mtok is None) and not m.is_local:
            p = prices.price(m)
            if p is not None:
                m = m.model_copy(update={"input_usd_per_mtok": float(p.input),
                                         "output_usd_per_mtok": float(p.output)})
        models.append(m)
    return config.model_copy(update={"models": tuple(models)})


def create_app(config: GatewayConfig, sink: Sink | None = None) -> Starlette:
    gw = Gateway(config, sink)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gw.start()
        try:
            yield
        finally:
            await gw.close()

    app = Starlette(
        routes=routes(), lifespan=lifespan,
        exception_handlers={GatewayError: _render, HTTPException: _render_http, 500: _render_500},
    )
    app.state.gw = gw
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
