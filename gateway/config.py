"""Configuration: gateway.yaml + environment -> one frozen, typed `GatewayConfig`.

This is the only module that reads files or the environment. Everything downstream receives
the resolved values. Validation errors name the YAML path that is wrong, e.g.
``models[3].provider: unknown provider 'antrhopic'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

PROVIDER_KINDS = (
    "openai", "anthropic", "gemini", "mistral", "cohere", "ollama", "lmstudio", "vllm", "litellm",
)
KEYLESS_KINDS = ("ollama", "lmstudio", "vllm")
# The tasks the classifier names (DESIGN.md, "Tasks"): the `task` routing option, the
# `x-gateway-task` header, the log's `task` column and `quality:` keys use these words.
TASKS = (
    "code", "math", "reasoning", "open_qa", "closed_qa", "summarization", "extraction",
    "classification", "rewrite", "generation", "brainstorming", "chat", "tool_use",
)
CAPABILITIES = ("tools", "vision", "json", "streaming")

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one ``path: message`` line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(_Frozen):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_mb: float = Field(20, gt=0)


class DatabaseConfig(_Frozen):
    url: str = "sqlite+aiosqlite:///gateway.db"
    batch_size: int = Field(200, ge=1)
    flush_interval_s: float = Field(0.2, gt=0)
    buffer_max: int = Field(100_000, ge=1)


class ApiKey(_Frozen):
    """A client key. Logged by name, never in clear."""

    name: str
    key: str
    daily_usd: float | None = None
    monthly_usd: float | None = None
    per_request_usd: float | None = None


class AuthConfig(_Frozen):
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


class Timeouts(_Frozen):
    connect_s: float = Field(5, gt=0)
    first_token_s: float = Field(60, gt=0)
    total_s: float = Field(600, gt=0)


class TimeoutsOverride(_Frozen):
    connect_s: float | None = Field(None, gt=0)
    first_token_s: float | None = Field(None, gt=0)
    total_s: float | None = Field(None, gt=0)


class ProviderConfig(_Frozen):
    name: str
    kind: str
    base_url: str | None = None
    api_key: str | None = None
    api_key_env: str | None = None  # which variable the key came from, for `gateway check`
    requires_key: bool = True
    headers: Mapping[str, str] = Field(default_factory=dict)
    timeout_s: float | None = Field(None, gt=0)  # shorthand for timeouts.total_s
    timeouts: TimeoutsOverride = TimeoutsOverride()
    max_connections: int = Field(100, ge=1)
    litellm_provider: str | None = None  # for kind=litellm: the litellm prefix (e.g. "groq")

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in PROVIDER_KINDS and ":" not in value:  # "module:Class" is a plugin
            raise ValueError(f"unknown kind {value!r} (one of {', '.join(PROVIDER_KINDS)})")
        return value

    @property
    def has_key(self) -> bool:
        return bool(self.api_key) or not self.requires_key


class ModelConfig(_Frozen):
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


class ProfileWeights(_Frozen):
    quality: float = Field(0.5, ge=0)
    cost: float = Field(0.25, ge=0)
    latency: float = Field(0.15, ge=0)
    history: float = Field(0.10, ge=0)
    # An explicit cost target: at most this share of what always using the strongest model
    # would cost on the same traffic. None (the default): derived from the quality and cost
    # weights, see routing/allocate.py `cost_share`.
    cost_share: float | None = Field(default=None, gt=0, le=1)


DEFAULT_PROFILES: dict[str, ProfileWeights] = {
    "balanced": ProfileWeights(quality=0.5, cost=0.25, latency=0.15, history=0.10),
    "cheap": ProfileWeights(quality=0.3, cost=0.55, latency=0.05, history=0.10),
    "best": ProfileWeights(quality=0.8, cost=0.05, latency=0.05, history=0.10),
    "fast": ProfileWeights(quality=0.3, cost=0.15, latency=0.45, history=0.10),
}


class LearnConfig(_Frozen):
    enabled: bool = True
    refit_interval_s: float = Field(60, gt=0)
    half_life_days: float = Field(14, gt=0)
    state_path: str = "gateway-router.json"


class RoutingConfig(_Frozen):
    profiles: Mapping[str, ProfileWeights] = Field(default_factory=lambda: dict(DEFAULT_PROFILES))
    default_profile: str = "balanced"
    learn: LearnConfig = LearnConfig()
    # auto:local escalates a request to a hosted model only above this complexity (1..10) ...
    local_max_complexity: int = Field(default=3, ge=1, le=10)
    # ... or after this many failed attempts on local models (the executor counts them).
    local_failures_before_escalation: int = Field(default=2, ge=0)
    # Share of auto traffic sent to the second-best allocation so the learner keeps evidence
    # about models it would otherwise stop calling (never for auto:best or local-first).
    explore_share: float = Field(default=0.03, ge=0, le=0.2)

    @field_validator("profiles", mode="after")
    @classmethod
    def _merge(cls, value: Mapping[str, ProfileWeights]) -> Mapping[str, ProfileWeights]:
        return {**DEFAULT_PROFILES, **value}


class Backoff(_Frozen):
    initial_s: float = Field(0.2, ge=0)
    max_s: float = Field(8, ge=0)
    retry_after_max_s: float = Field(30, ge=0)


class BreakerConfig(_Frozen):
    failure_threshold: int = Field(5, ge=1)
    cooldown_s: float = Field(60, gt=0)


class ReliabilityConfig(_Frozen):
    retries: int = Field(2, ge=0)
    backoff: Backoff = Backoff()
    circuit_breaker: BreakerConfig = BreakerConfig()
    timeouts: Timeouts = Timeouts()


class BudgetConfig(_Frozen):
    daily_usd: float | None = Field(None, ge=0)
    monthly_usd: float | None = Field(None, ge=0)
    per_request_usd: float | None = Field(None, ge=0)
    on_exceed: Literal["reject", "downgrade"] = "reject"
    alert_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)


class GatewayConfig(_Frozen):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    providers: Mapping[str, ProviderConfig] = Field(default_factory=dict)
    models: tuple[ModelConfig, ...]
    routing: RoutingConfig = RoutingConfig()
    reliability: ReliabilityConfig = ReliabilityConfig()
    budgets: BudgetConfig = BudgetConfig()
    source: str = "<memory>"
    _timeouts: dict[str, Timeouts] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_providers(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("providers"), dict):
            named = {}
            for name, p in data["providers"].items():
                named[name] = {"name": name, **p} if isinstance(p, dict) else p
            data = {**data, "providers": named}
        return data

    @model_validator(mode="after")
    def _cross_check(self) -> GatewayConfig:
        errors: list[str] = []
        if not self.models:
            errors.append("models: at least one model is required")
        names: dict[str, str] = {}
        for i, m in enumerate(self.models):
            if m.provider not in self.providers:
                errors.append(f"models[{i}].provider: unknown provider {m.provider!r}")
            for name in (m.id, *m.aliases):
                if name.startswith("auto"):
                    errors.append(f"models[{i}].id: {name!r} is reserved for routing")
                if name in names:
                    errors.append(f"models[{i}].id: {name!r} already names {names[name]!r}")
                names[name] = m.id
        for i, m in enumerate(self.models):
            for j, fb in enumerate(m.fallbacks):
                if fb not in names:
                    errors.append(f"models[{i}].fallbacks[{j}]: unknown model {fb!r}")
                elif names[fb] == m.id:
                    errors.append(f"models[{i}].fallbacks[{j}]: a model cannot fall back to itself")
        if self.routing.default_profile not in self.routing.profiles:
            errors.append(
                f"routing.default_profile: unknown profile {self.routing.default_profile!r}"
            )
        if errors:
            raise ValueError("\n".join(errors))
        return self

    # -- lookups ------------------------------------------------------------------------------

    def model(self, name: str) -> ModelConfig | None:
        """The model a client name (id or alias) refers to."""
        for m in self.models:
            if m.id == name or name in m.aliases:
                return m
        return None

    def timeouts_for(self, model: ModelConfig) -> Timeouts:
        """Global timeouts, overridden by the provider's, overridden by the model's."""
        cached = self._timeouts.get(model.id)
        if cached is not None:
            return cached
        base = self.reliability.timeouts.model_dump()
        provider = self.providers[model.provider]
        if provider.timeout_s is not None:
            base["total_s"] = provider.timeout_s
        for override in (provider.timeouts, model.timeouts):
            base.update({k: v for k, v in override.model_dump().items() if v is not None})
        self._timeouts[model.id] = Timeouts(**base)  # resolved once: this runs per request
        return self._timeouts[model.id]


# -- loading -----------------------------------------------------------------------------------


def expand_env(value: Any, env: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a YAML tree."""
    if isinstance(value, str):
        return _ENV_RE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, list):
        return [expand_env(v, env) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, env) for k, v in value.items()}
    return value


def _key_vars(raw: Any) -> dict[str, str]:
    """provider name -> the env variable its api_key names, so `check` can say what is missing."""
    out: dict[str, str] = {}
    if isinstance(raw, dict) and isinstance(raw.get("providers"), dict):
        for name, p in raw["providers"].items():
            if isinstance(p, dict) and isinstance(p.get("api_key"), str):
                m = _ENV_RE.search(p["api_key"])
                if m:
                    out[name] = m.group(1)
    return out


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before", "function-wrap") or "[" in str(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_config(
    raw: Any, env: Mapping[str, str] | None = None, source: str = "<memory>"
) -> GatewayConfig:
    """Validate a YAML tree (already parsed) into a GatewayConfig, or raise ConfigError."""
    env = os.environ if env is None else env
    if not isinstance(raw, dict):
        raise ConfigError([f"{source}: the top level must be a mapping"])
    key_vars = _key_vars(raw)
    data = expand_env(raw, env)
    for name, var in key_vars.items():
        data["providers"][name].setdefault("api_key_env", var)
    for p in (data.get("providers") or {}).values():
        if isinstance(p, dict) and "api_key" not in p and p.get("kind") == "openai":
            p.setdefault("requires_key", False)
        if isinstance(p, dict) and p.get("api_key") == "":
            p["api_key"] = None
        if isinstance(p, dict) and p.get("kind") in KEYLESS_KINDS:
            p.setdefault("requires_key", False)
    try:
        return GatewayConfig(**data, source=source)
    except ValidationError as exc:
        lines = _raw_refs(data)
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            path = _path(tuple(err["loc"]))
            if not path:
                lines.extend(msg.splitlines())
            else:
                lines.append(f"{path}: {msg}")
        raise ConfigError(list(dict.fromkeys(lines))) from None


def _raw_refs(data: dict[str, Any]) -> list[str]:
    """Provider references, checked even when other fields failed (pydantic stops earlier)."""
    providers = data.get("providers") if isinstance(data.get("providers"), dict) else {}
    models = data.get("models") if isinstance(data.get("models"), list) else []
    return [
        f"models[{i}].provider: unknown provider {m['provider']!r}"
        for i, m in enumerate(models)
        if isinstance(m, dict) and isinstance(m.get("provider"), str)
        and m["provider"] not in providers
    ]


def load_config(path: str | os.PathLike[str] | None = None) -> GatewayConfig:
    """Read the config: `path`, else $GATEWAY_CONFIG, else ./gateway.yaml."""
    chosen = Path(path or os.environ.get("GATEWAY_CONFIG") or "gateway.yaml")
    try:
        text = chosen.read_text()
    except OSError as exc:
        raise ConfigError([f"{chosen}: cannot read: {exc.strerror}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{chosen}: invalid YAML: {exc}"]) from None
    return parse_config(raw, source=str(chosen))
