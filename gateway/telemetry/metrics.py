"""Metrics: the Prometheus instruments, one registry per app (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.usage.events import RequestRecord

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)

Gauges = Callable[[], dict[str, dict[str, float]]]


class _Gauges(Collector):
    """Gauges read at scrape time (circuit states, log buffer, dropped frames), so the hot path
    updates nothing for them."""

    def __init__(self, read: Gauges) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self.read()
        families = (
            ("circuits", "gateway_circuit_open", "1 if the circuit is open, 0.5 half-open, 0 closed",
             "name"),
            ("log", "gateway_log_rows", "request-log rows by state", "state"),
            ("dropped_frames", "gateway_dropped_frames",
             "upstream stream frames that were not valid JSON: dropped, never relayed", "provider"),
        )
        for key, name, doc, label in families:
            family = GaugeMetricFamily(name, doc, labels=[label])
            for value_label, v in values.get(key, {}).items():
                family.add_metric([value_label], v)
            yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("gateway_requests", "client requests by outcome",
                                ["model", "status", "endpoint"], registry=r)
        self.latency = Histogram("gateway_request_latency_seconds", "request latency",
                                 ["stream"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("gateway_ttft_seconds", "time to first streamed token",
                              buckets=_LATENCY_BUCKETS, registry=r)
        self.overhead = Histogram("gateway_overhead_seconds",
                                  "time spent in the gateway itself (total minus upstream)",
                                  buckets=_OVERHEAD_BUCKETS, registry=r)
        self.upstream_errors = Counter("gateway_upstream_errors", "failed upstream calls",
                                       ["provider", "kind"], registry=r)
        self.cost = Counter("gateway_cost_usd", "USD spent", ["model"], registry=r)
        self.resumes = Counter("gateway_stream_resumes",
                               "streams cut mid-answer and what resuming them did", ["outcome"],
                               registry=r)

    def watch(self, read: Gauges) -> None:
        self.registry.register(_Gauges(read))

    def finished(self, record: RequestRecord) -> None:
        self.requests.labels(record.model or "none", record.status, record.endpoint).inc()
        if record.latency_ms is not None:
            self.latency.labels("true" if record.stream else "false").observe(
                record.latency_ms / 1000)
        if record.overhead_ms is not None:
            self.overhead.observe(record.overhead_ms / 1000)
        if record.ttft_ms is not None:
            self.ttft.observe(record.ttft_ms / 1000)
        if record.cost_usd:
            self.cost.labels(record.model or "none").inc(record.cost_usd)
