"""Configuration: providers (where an upstream is and how to reach it) and models (what it serves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gateway.config.base import Frozen
from gateway.config.reliability import TimeoutsOverride
from gateway.config.routing import TASKS
from providers.kinds import KINDS, kind_of

CAPABILITIES = ("tools", "vision", "json", "streaming", "embeddings")


class SimulatedSettings(Frozen):
    """How a `kind: simulated` upstream behaves (a deterministic stand-in, no network)."""

    latency_ms: float = Field(150, ge=0)  # time to first token
    tokens_per_s: float = Field(120, gt=0)
    failure_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0


class ProviderConfig(Frozen):
    name: str
    kind: str
    base_url: str | None = None  # resolved from the kind's default when not given
    api_key: str | None = None
    api_key_env: str | None = None  # which variable the key came from, for `gateway check`
    requires_key: bool = True
    headers: Mapping[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(None, gt=0)  # shorthand for timeouts.total_s
    timeouts: TimeoutsOverride = TimeoutsOverride()
    max_connections: int = Field(100, ge=1)
    litellm_provider: str | None = None  # for kind=litellm: the litellm prefix (e.g. "groq")
    simulate: SimulatedSettings = SimulatedSettings()

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("kind"), str):
            kind = kind_of(data["kind"])
            data = dict(data)
            if not data.get("base_url") and kind.default_base_url:
                data["base_url"] = kind.default_base_url
            if data.get("api_key") == "":
                data["api_key"] = None
            if kind.keyless or (kind.name == "openai" and "api_key" not in data):
                data.setdefault("requires_key", False)
        return data

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in KINDS and ":" not in value:  # "module:Class" is a plugin
            raise ValueError(f"unknown kind {value!r} (one of {', '.join(KINDS)})")
        return value

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) or not self.requires_key

    @property
    def litellm_prefix(self) -> str | None:
        return self.litellm_provider or kind_of(self.kind).litellm_prefix


class Deployment(Frozen):
    """One place that serves a model: a provider, and the name the model has there."""

    provider: str
    upstream: str | None = None  # default: the model's upstream
    weight: float = Field(1.0, gt=0)


class ModelConfig(Frozen):
    id: str
    provider: str
    upstream: str = ""
    input_usd_per_mtok: float | None = Field(None, ge=0)
    output_usd_per_mtok: float | None = Field(None, ge=0)
    cached_input_usd_per_mtok: float | None = Field(None, ge=0)
    context_window: int = Field(8192, ge=1)
    max_output_tokens: int | None = Field(None, ge=1)
    capabilities: frozenset[str] = frozenset({"streaming"})
    quality: Mapping[str, float] = Field(default_factory=lambda: {"default": 0.7})
    latency_ms: float = Field(800, ge=0)
    tags: frozenset[str] = frozenset()
    fallbacks: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    timeouts: TimeoutsOverride = TimeoutsOverride()
    deployments: tuple[Deployment, ...] = ()
    deployment_strategy: Literal["least_busy", "consistent_hash"] = "least_busy"

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if not data.get("upstream"):
                data["upstream"] = data.get("id", "")
            q = data.get("quality")
            if isinstance(q, int | float) and not isinstance(q, bool):
                data["quality"] = {"default": float(q)}
            if not data.get("provider") and data.get("deployments"):
                first = data["deployments"][0]
                if isinstance(first, dict):
                    data["provider"] = first.get("provider")
        return data

    @field_validator("capabilities")
    @classmethod
    def _caps(cls, value: frozenset[str]) -> frozenset[str]:
        bad = sorted(set(value) - set(CAPABILITIES))
        if bad:
            raise ValueError(f"unknown capability {bad[0]!r} (one of {', '.join(CAPABILITIES)})")
        return value

    @field_validator("quality")
    @classmethod
    def _quality(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        for task, q in value.items():
            if task != "default" and task not in TASKS:
                raise ValueError(f"unknown task {task!r} (default or one of {', '.join(TASKS)})")
            if not 0 <= q <= 1:
                raise ValueError(f"quality for {task!r} must be between 0 and 1, got {q}")
        return value

    @property
    def is_local(self) -> bool:
        return "local" in self.tags

    def quality_for(self, task: str) -> float:
        q = self.quality
        return q.get(task, q.get("default", 0.7))
