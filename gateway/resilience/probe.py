"""Local probe: is the local server (LM Studio, Ollama, ...) up, and which models has it loaded?

Routing must not send `auto:local` traffic to a laptop server that is switched off, but it must
not pay a network round trip per request to find out either: a background task asks each local
provider's `/models` every `interval_s` and routing reads the last answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp

from gateway.config import GatewayConfig

log = logging.getLogger("gateway.probe")


def local_providers(config: GatewayConfig) -> dict[str, str]:
    """provider name -> base URL, for providers serving at least one `local`-tagged model."""
    names = {m.provider for m in config.models if m.is_local}
    out = {}
    for name in sorted(names):
        out[name] = (config.providers[name].base_url or "").rstrip("/")
    return out


async def list_models(base_url: str, timeout_s: float = 1.0) -> list[str] | None:
    """The ids a server's `/models` lists, or None when it cannot be reached. A server that
    answers at all is up, even with an error status or a body that lists nothing."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as s:
            async with s.get(base_url + "/models") as resp:
                if resp.status >= 400:
                    return []
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    return []
    except (aiohttp.ClientError, TimeoutError, OSError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    return [str(m.get("id")) for m in data if isinstance(m, dict)] if isinstance(data, list) else []


class LocalProbe:
    def __init__(self, config: GatewayConfig, interval_s: float = 15.0) -> None:
        self.targets = local_providers(config)
        self.interval_s = interval_s
        self.loaded: dict[str, list[str] | None] = {}
        self._task: asyncio.Task[None] | None = None

    def reachable(self, provider: str) -> bool | None:
        """True/False for a probed local provider, None for the others (not probed)."""
        if provider not in self.targets or provider not in self.loaded:
            return None
        return self.loaded[provider] is not None

    def summary(self) -> dict[str, str]:
        """provider -> what the last probe found, in words (for `gateway route`)."""
        out = {}
        for name, url in self.targets.items():
            found = self.loaded.get(name, [])
            if name not in self.loaded:
                out[name] = f"{url}: not probed"
            elif found is None:
                out[name] = f"{url}: did not answer (its models are left out)"
            else:
                out[name] = f"{url}: reachable ({', '.join(found) or 'no models listed'})"
        return out

    async def probe_once(self) -> None:
        results = await asyncio.gather(*(list_models(u) for u in self.targets.values()))
        for name, models in zip(self.targets, results, strict=True):
            if self.loaded.get(name, []) is None and models is not None:
                log.info("local provider %s is reachable again", name)
            self.loaded[name] = models

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.probe_once()

    async def start(self) -> None:
        if self.targets:
            await self.probe_once()
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
