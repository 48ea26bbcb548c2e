"""Configuration: the small sections (server, database, auth and keys, budgets, state, telemetry)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from gateway.config.base import Frozen

ROLES = ("admin", "client")


class ServerConfig(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_mb: float = Field(20, gt=0)
    workers: int = Field(1, ge=1)


class DatabaseConfig(Frozen):
    url: str = "sqlite+aiosqlite:///gateway.db"
    batch_size: int = Field(200, ge=1)
    flush_interval_s: float = Field(0.2, gt=0)
    buffer_max: int = Field(100_000, ge=1)


class ApiKey(Frozen):
    """A key clients present. Logged by its name, never in clear."""

    name: str
    key: str
    role: Literal["admin", "client"] = "admin"
    rpm: int | None = Field(None, ge=1)  # requests per minute
    tpm: int | None = Field(None, ge=1)  # tokens per minute
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)
    per_request_usd: float | None = Field(None, ge=0)


class AuthConfig(Frozen):
    api_keys: tuple[ApiKey, ...] = ()

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, value: Any) -> Any:
        if value is None:
            return ()
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                if item.strip():  # an unset ${GATEWAY_KEY} leaves "": no key
                    out.append({"name": f"key{i}", "key": item})
            else:
                out.append(item)
        return tuple(out)


class BudgetConfig(Frozen):
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)
    per_request_usd: float | None = Field(None, ge=0)
    on_exceed: Literal["reject", "downgrade"] = "reject"
    alert_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)


# Redis (shared by instances), or a SQLite file (shared by the workers of one host).
STATE_SCHEMES = ("redis://", "rediss://", "unix://", "sqlite:///")


class StateConfig(Frozen):
    """Where shared counters and states live: in the process (no url), Redis, or a SQLite file."""

    url: str | None = None

    @field_validator("url", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return value or None  # an unset ${REDIS_URL} leaves ""

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(STATE_SCHEMES):
            raise ValueError(f"unsupported {value.partition(':')[0]!r} URL: use redis://host:port/db, "
                             "rediss://..., unix:///path.sock or sqlite:///path")
        return value


class TelemetryConfig(Frozen):
    otlp_endpoint: str | None = None  # OpenTelemetry traces over OTLP/HTTP when set
    service_name: str = "llm-gateway"

    @field_validator("otlp_endpoint", mode="before")
    @classmethod
    def _empty(cls, value: Any) -> Any:
        return value or None
