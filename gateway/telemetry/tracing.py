"""After the record step: OpenTelemetry traces, one span per request and one child per upstream call.

Built after the fact from the finished `RequestRecord`, off the request path: `on_finished`
only queues the record; a worker thread turns it into spans with explicit start and end times
(`created_at` + `latency_ms`; each attempt's `started_at` + `latency_ms`), and the SDK's
`BatchSpanProcessor` exports them over OTLP/HTTP in batches from its own thread. A record whose
`traceparent` (the client's W3C header) is valid continues the client's trace.

Attribute names follow OpenTelemetry's GenAI semantic conventions (`gen_ai.*`), plus the
gateway's own (`gateway.*`); the README lists them. Importing this module imports the SDK: only
`gateway.telemetry.start_tracing` does, and only when `telemetry.otlp_endpoint` is set.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gateway.config import ProviderConfig, TelemetryConfig
from gateway.errors import AttemptInfo
from gateway.usage.events import RequestRecord
from providers.kinds import kind_of

log = logging.getLogger("gateway.tracing")

# endpoint -> gen_ai.operation.name; else "chat"
OPERATIONS = {"embeddings": "embeddings", "count_tokens": "count_tokens"}
SCHEDULE_DELAY_MS = 1000  # how often the batch processor exports
QUEUE_MAX = 10_000  # records waiting for the span thread; past it new ones are counted, not traced
_PROPAGATOR = TraceContextTextMapPropagator()


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP's traces path under the collector's base URL (as OTEL_EXPORTER_OTLP_ENDPOINT)."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


class Tracing:
    """The request observer that exports traces. `close()` exports what is queued, then stops."""

    def __init__(self, config: TelemetryConfig, providers: Mapping[str, ProviderConfig]) -> None:
        assert config.otlp_endpoint, "Tracing needs telemetry.otlp_endpoint"
        self.endpoint = traces_url(config.otlp_endpoint)
        self.provider = TracerProvider(resource=Resource.create({"service.name": config.service_name}))
        self.provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=self.endpoint), schedule_delay_millis=SCHEDULE_DELAY_MS))
        self.tracer = self.provider.get_tracer("llm-gateway")
        self.genai = {name: kind_of(p.kind).genai_name or p.kind for name, p in providers.items()}
        self.simulated = {name for name, p in providers.items() if kind_of(p.kind).simulated}
        self.dropped = 0
        self._queue: queue.SimpleQueue[RequestRecord | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="gateway-spans", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<Tracing {self.endpoint} queued={self._queue.qsize()} dropped={self.dropped}>"

    def on_finished(self, record: RequestRecord) -> None:
        if self._queue.qsize() >= QUEUE_MAX:
            self.dropped += 1
            return
        self._queue.put(record)

    def close(self, timeout_s: float = 10) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
        self.provider.shutdown()  # flushes the batch processor

    def _run(self) -> None:
        while (record := self._queue.get()) is not None:
            try:
                self.export(record)
            except Exception:  # one odd record must not stop tracing
                log.exception("could not build the spans of request %s", record.id)

    # -- one record -> spans ------------------------------------------------------------------

    def export(self, record: RequestRecord) -> None:
        """Build and end the request's span and its attempts' child spans."""
        op = OPERATIONS.get(record.endpoint, "chat")
        start = int(record.created_at.timestamp() * 1e9)
        end = start + int((record.latency_ms or 0.0) * 1e6)
        parent = _PROPAGATOR.extract({"traceparent": record.traceparent}) if record.traceparent \
            else Context()
        root = self.tracer.start_span(
            f"{op} {record.requested_model or 'unknown'}", context=parent, kind=SpanKind.SERVER,
            attributes=_clean(self._request_attributes(record, op)), start_time=start)
        if record.status != "success":
            root.set_status(Status(StatusCode.ERROR, record.error or "error"))
        inside = trace.set_span_in_context(root)
        cursor = start
        for a in record.attempt_rows:
            if a.status == "skipped":
                root.add_event("gateway.skipped", _clean({
                    "gen_ai.request.model": a.model, "gateway.provider": a.provider,
                    "gateway.reason": a.error}), timestamp=cursor)
                continue
            a_start = int(a.started_at * 1e9) if a.started_at is not None else cursor
            a_end = a_start + int(a.latency_ms * 1e6)
            cursor = max(cursor, a_end)
            span = self.tracer.start_span(
                f"{op} {a.model}", context=inside, kind=SpanKind.CLIENT,
                attributes=_clean(self._attempt_attributes(record, a, op)), start_time=a_start)
            if a.status != "success":
                span.set_status(Status(StatusCode.ERROR, a.error or "error"))
            span.end(end_time=a_end)
        root.end(end_time=max(end, cursor))

    def _request_attributes(self, r: RequestRecord, op: str) -> dict[str, Any]:
        return {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": self.genai.get(r.provider or ""),
            "gen_ai.request.model": r.requested_model,
            "gen_ai.response.model": r.model,
            "gen_ai.usage.input_tokens": r.prompt_tokens,
            "gen_ai.usage.output_tokens": r.completion_tokens,
            "gen_ai.response.finish_reasons": list(r.finish_reasons) if r.finish_reasons else None,
            "gateway.request_id": r.id,
            "gateway.task": r.task,
            "gateway.complexity": r.complexity,
            "gateway.profile": r.profile,
            "gateway.routing_reason": r.routing_reason,
            "gateway.cost_usd": r.cost_usd,
            "gateway.attempts": r.attempts,
            "gateway.provider": r.provider,
            "gateway.api_key": r.api_key,
            "gateway.stream": r.stream,
            "gateway.endpoint": r.endpoint,
            "gateway.ttft_ms": r.ttft_ms,
            "gateway.experiment": r.experiment,
            "gateway.arm": r.arm,
            "gateway.simulated": r.provider in self.simulated if r.provider else None,
            "http.response.status_code": r.http_status,
            "error.type": _error_type(r.error, r.http_status) if r.status != "success" else None,
        }

    def _attempt_attributes(self, r: RequestRecord, a: AttemptInfo, op: str) -> dict[str, Any]:
        answered = a.status == "success" and a.model == r.model
        return {
            "gen_ai.operation.name": op,
            "gen_ai.provider.name": self.genai.get(a.provider),
            "gen_ai.request.model": a.model,
            "gen_ai.response.model": a.model if a.status == "success" else None,
            "gen_ai.usage.input_tokens": r.prompt_tokens if answered else None,
            "gen_ai.usage.output_tokens": r.completion_tokens if answered else None,
            "gen_ai.response.finish_reasons":
                list(r.finish_reasons) if answered and r.finish_reasons else None,
            "gateway.attempt": a.n,
            "gateway.provider": a.provider,
            "gateway.cost_usd": a.cost_usd,
            "http.response.status_code": a.http_status,
            "error.type": _error_type(a.error, a.http_status) if a.status != "success" else None,
        }


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    """OpenTelemetry refuses None values: leave those attributes out."""
    return {k: v for k, v in attributes.items() if v is not None}


def _error_type(error: str | None, http_status: int | None) -> str:
    """A low-cardinality name for what went wrong: the error class, else the HTTP status."""
    head = (error or "").partition(":")[0]
    if head.isidentifier() and head[:1].isupper():
        return head
    return str(http_status) if http_status else "error"
