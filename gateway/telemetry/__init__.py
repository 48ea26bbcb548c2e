"""Telemetry: what the gateway tells the outside about the requests it finished.

`feed.RoutingFeed` (the `/ws/routing` live feed) is always built: it costs nothing without a
subscriber. `tracing.Tracing` (OpenTelemetry spans over OTLP/HTTP) is built only when
`telemetry.otlp_endpoint` is set, and only then is the OpenTelemetry SDK imported. Both are
request observers (the record step calls their `on_finished(record)`, see
`gateway/usage/recorder.py`). Prometheus metrics live in
`metrics.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.config import ConfigError, ProviderConfig, TelemetryConfig

if TYPE_CHECKING:
    from gateway.telemetry.tracing import Tracing


def start_tracing(config: TelemetryConfig, providers: Mapping[str, ProviderConfig]) -> Tracing | None:
    """The span exporter when `telemetry.otlp_endpoint` is set (the SDK imported only then)."""
    if not config.otlp_endpoint:
        return None
    try:
        from gateway.telemetry.tracing import Tracing
    except ImportError as exc:
        raise ConfigError([
            f"telemetry.otlp_endpoint: OpenTelemetry is not installed ({exc.name}): "
            "pip install 'llm-gateway[otel]'"]) from None
    return Tracing(config, providers)
