"""Configuration loading: gateway.yaml + environment -> `GatewayConfig`, errors naming YAML paths.

The only code that reads files or the environment; everything downstream receives the resolved
values. An error names the path that is wrong: ``models[3].provider: unknown provider 'antrhopic'``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.config.root import GatewayConfig

_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration is invalid; `errors` holds one ``path: message`` line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


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
    providers = data.get("providers")
    models = data.get("models")
    if not isinstance(providers, dict):
        providers = {}
    if not isinstance(models, list):
        models = []
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
