"""Configuration: the whole file as one `GatewayConfig`, and the checks that span sections."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field, PrivateAttr, model_validator

from gateway.config.base import Frozen
from gateway.config.experiments import ExperimentConfig
from gateway.config.providers import ModelConfig, ProviderConfig
from gateway.config.reliability import ReliabilityConfig, Timeouts
from gateway.config.routing import RoutingConfig
from gateway.config.sections import (
    AuthConfig,
    BudgetConfig,
    DatabaseConfig,
    ServerConfig,
    StateConfig,
    TelemetryConfig,
)


class GatewayConfig(Frozen):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    auth: AuthConfig = AuthConfig()
    providers: Mapping[str, ProviderConfig] = Field(default_factory=dict)
    models: tuple[ModelConfig, ...]
    routing: RoutingConfig = RoutingConfig()
    reliability: ReliabilityConfig = ReliabilityConfig()
    budgets: BudgetConfig = BudgetConfig()
    state: StateConfig = StateConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    experiments: tuple[ExperimentConfig, ...] = ()
    source: str = "<memory>"
    _timeouts: dict[str, Timeouts] = PrivateAttr(default_factory=dict)
    _names: dict[str, ModelConfig] = PrivateAttr(default_factory=dict)
    _names_of: tuple[ModelConfig, ...] = PrivateAttr(default=())

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
        errors = _model_errors(self) + _reference_errors(self)
        if errors:
            raise ValueError("\n".join(errors))
        return self

    # -- lookups ------------------------------------------------------------------------------

    def model(self, name: str) -> ModelConfig | None:
        """The model a client name (id or alias, or either with a snapshot date) refers to."""
        if self._names_of is not self.models:  # built once per models tuple (copies included)
            self._names = {n: m for m in self.models for n in (m.id, *m.aliases)}
            self._names_of = self.models
        found = self._names.get(name)
        if found is None and (base := undated(name)) is not None:
            found = self._names.get(base)
        return found

    def timeouts_for(self, model: ModelConfig, provider: str | None = None) -> Timeouts:
        """Global timeouts, overridden by the provider's, overridden by the model's."""
        pname = provider or model.provider
        key = model.id if provider is None else f"{model.id}\0{pname}"
        cached = self._timeouts.get(key)
        if cached is not None:
            return cached
        base = self.reliability.timeouts.model_dump()
        p = self.providers[pname]
        if p.timeout_s is not None:
            base["total_s"] = p.timeout_s
        for override in (p.timeouts, model.timeouts):
            base.update({k: v for k, v in override.model_dump().items() if v is not None})
        self._timeouts[key] = Timeouts(**base)  # resolved once: this runs per request
        return self._timeouts[key]


def _model_errors(config: GatewayConfig) -> list[str]:
    errors: list[str] = []
    if not config.models:
        errors.append("models: at least one model is required")
    names: dict[str, str] = {}
    for i, m in enumerate(config.models):
        if m.provider not in config.providers:
            errors.append(f"models[{i}].provider: unknown provider {m.provider!r}")
        for j, d in enumerate(m.deployments):
            if d.provider not in config.providers:
                errors.append(f"models[{i}].deployments[{j}].provider: unknown provider "
                              f"{d.provider!r}")
        for name in (m.id, *m.aliases):
            if name.startswith("auto"):
                errors.append(f"models[{i}].id: {name!r} is reserved for routing")
            if name in names:
                errors.append(f"models[{i}].id: {name!r} already names {names[name]!r}")
            names[name] = m.id
    for i, m in enumerate(config.models):
        for j, fb in enumerate(m.fallbacks):
            if fb not in names:
                errors.append(f"models[{i}].fallbacks[{j}]: unknown model {fb!r}")
            elif names[fb] == m.id:
                errors.append(f"models[{i}].fallbacks[{j}]: a model cannot fall back to itself")
    return errors


def _reference_errors(config: GatewayConfig) -> list[str]:
    errors: list[str] = []
    names = {n for m in config.models for n in (m.id, *m.aliases)}
    routing = config.routing
    if routing.default_profile not in routing.profiles:
        errors.append(f"routing.default_profile: unknown profile {routing.default_profile!r}")
    parallel = routing.parallel
    if parallel.judge is not None and parallel.judge not in names:
        errors.append(f"routing.parallel.judge: unknown model {parallel.judge!r}")
    if isinstance(parallel.models, tuple):
        errors += [f"routing.parallel.models[{i}]: unknown model {m!r}"
                   for i, m in enumerate(parallel.models) if m not in names]
    seen: set[str] = set()
    for i, e in enumerate(config.experiments):
        if e.name in seen:
            errors.append(f"experiments[{i}].name: {e.name!r} is used twice")
        seen.add(e.name)
        errors += [f"experiments[{i}].arms[{j}].model: unknown model {a.model!r}"
                   for j, a in enumerate(e.arms)
                   if a.model not in names and a.model not in routing.route_names()]
    keys = [k.name for k in config.auth.api_keys]
    if len(set(keys)) != len(keys):
        errors.append("auth.api_keys: key names must be unique")
    secrets: dict[str, int] = {}
    for i, k in enumerate(config.auth.api_keys):  # one secret, two names: the first would win
        if k.key in secrets:
            errors.append(f"auth.api_keys[{i}].key: the same key as auth.api_keys[{secrets[k.key]}]"
                          f" ({config.auth.api_keys[secrets[k.key]].name!r}); each key is one "
                          "name and one role")
        secrets.setdefault(k.key, i)
    return errors


_SNAPSHOT = re.compile(r"^(.+?)-(?:\d{8}|\d{4}-\d{2}-\d{2})$")


def undated(name: str) -> str | None:
    """A snapshot name without its date (`claude-sonnet-4-5-20250929` -> `claude-sonnet-4-5`,
    `gpt-4.1-2025-04-14` -> `gpt-4.1`), or None when it has none. Clients such as Claude Code
    ask for dated snapshots; a name not configured as such is the configured model it dates."""
    m = _SNAPSHOT.match(name)
    return m.group(1) if m else None
