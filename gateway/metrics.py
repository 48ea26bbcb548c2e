"""Metrics: the Prometheus instruments, one registry per app (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1)


class _Gauges(Collector):
    """Gauges read at scrape time (circuit states, log buffer), so the hot path updates nothing."""

    def __init__(self, read: Callable[[], dict[str, dict[str, float]]]) -> None:
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self.read()
        circuits = GaugeMetricFamily(
            "gateway_circuit_open", "1 if the circuit is open, 0.5 half-open, 0 closed",
            labels=["name"])
        for name, v in values.get("circuits", {}).items():
            circuits.add_metric([name], v)
        yield circuits
        log = GaugeMetricFamily("gateway_log_rows", "request-log rows by state", labels=["state"])
        for state, v in values.get("log", {}).items():
            log.add_metric([state], v)
        yield log


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("gateway_requests", "client requests by outcome",
                                ["model", "status"], registry=r)
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
        self.tokens = Counter("gateway_tokens", "tokens", ["model", "kind"], registry=r)

    def watch(self, read: Callable[[], dict[str, dict[str, float]]]) -> None:
        self.registry.register(_Gauges(read))
