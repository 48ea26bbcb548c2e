"""Telemetry: Prometheus metrics (and, when configured, OpenTelemetry traces) of what the gateway does."""
