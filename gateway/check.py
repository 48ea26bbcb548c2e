"""`gateway check`: which providers are reachable, which keys are missing, what local servers hold."""

from __future__ import annotations

import asyncio

import aiohttp

from gateway.config import GatewayConfig, ProviderConfig
from gateway.resilience.probe import list_models


async def probe(p: ProviderConfig) -> str:
    """One line about one provider."""
    if not p.has_key:
        return f"key missing: set {p.api_key_env or 'api_key'}"
    base = (p.base_url or "").rstrip("/")
    if not base:
        return "key present (reached through litellm; not probed)"
    if p.kind == "anthropic" and not base.endswith("/v1"):
        base += "/v1"
    headers = dict(p.headers)
    if p.api_key:
        headers.update({"authorization": f"Bearer {p.api_key}", "x-api-key": p.api_key,
                        "anthropic-version": "2023-06-01"})
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as s:
            async with s.get(base + "/models", headers=headers) as resp:
                if resp.status in (401, 403):
                    return f"reachable, but the key was refused (HTTP {resp.status})"
                if resp.status >= 400:
                    return f"reachable (HTTP {resp.status} on /models)"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return f"unreachable at {base}: {type(exc).__name__}"
    models = await list_models(base) if not p.api_key else None
    if models is not None:
        return f"reachable at {base}; models loaded: {', '.join(models) or 'none'}"
    return f"reachable at {base}"


async def run_check(config: GatewayConfig) -> int:
    results = await asyncio.gather(*(probe(p) for p in config.providers.values()))
    for (name, p), line in zip(config.providers.items(), results, strict=True):
        models = [m.id for m in config.models if m.provider == name]
        print(f"  {name:<12} {p.kind:<10} {line}  [{', '.join(models) or 'no models'}]")
    return 0
