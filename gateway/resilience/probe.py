"""Local probe: is the local server (LM Studio, Ollama, ...) up, and which models has it loaded?

Routing must not send `auto:local` traffic to a laptop server that is switched off, but it must
not pay a network round trip per request to find out either: a background task asks each local
provider's `/models` every `interval_s` and routing reads the last answer.

With a shared state, answers are shared too: a process takes an answer another one got less
than half an interval ago instead of asking again, so N workers do not probe N times. A
loopback URL (localhost) names a different server on every host, so its answers are shared
only between processes of the same host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from urllib.parse import urlsplit

import aiohttp

from gateway.config import GatewayConfig
from gateway.state import State, StateUnavailable

log = logging.getLogger("gateway.probe")


def local_providers(config: GatewayConfig) -> dict[str, str]:
    """provider name -> base URL, for providers serving at least one `local`-tagged model.
    One without a URL (a simulated upstream) has no server to probe."""
    names = {m.provider for m in config.models if m.is_local}
    out = {}
    for name in sorted(names):
        url = config.providers[name].base_url
        if url:
            out[name] = url.rstrip("/")
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


def share_key(base_url: str) -> str:
    """The name a probe answer is shared under: host-qualified when the URL is loopback."""
    host = urlsplit(base_url).hostname or ""
    if host == "localhost" or host == "::1" or host.startswith("127."):
        return f"{socket.gethostname()}|{base_url}"
    return base_url


TABLE = "probes"


class LocalProbe:
    def __init__(self, config: GatewayConfig, interval_s: float = 15.0,
                 state: State | None = None) -> None:
        self.targets = local_providers(config)
        self.interval_s = interval_s
        self.state = state if state is not None and state.shared else None
        self.loaded: dict[str, list[str] | None] = {}
        self.probes = 0  # servers asked by this process (the others' answers are not counted)
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
        known = await self._shared()
        todo = {n: u for n, u in self.targets.items() if n not in known}
        results = await asyncio.gather(*(list_models(u) for u in todo.values()))
        self.probes += len(todo)
        for name, models in [*zip(todo, results, strict=True), *known.items()]:
            if self.loaded.get(name, []) is None and models is not None:
                log.info("local provider %s is reachable again", name)
            self.loaded[name] = models
        await self._publish({n: m for n, m in zip(todo, results, strict=True)})

    async def _shared(self) -> dict[str, list[str] | None]:
        """Answers another process got less than half an interval ago."""
        if self.state is None:
            return {}
        try:
            table = await self.state.table(TABLE)
        except StateUnavailable:
            return {}
        recent = time.time() - self.interval_s / 2
        out = {}
        for name, url in self.targets.items():
            entry = table.get(share_key(url))
            if entry is not None and entry.at > recent and isinstance(entry.value, dict):
                models = entry.value.get("models")
                out[name] = [str(m) for m in models] if isinstance(models, list) else None
        return out

    async def _publish(self, answers: dict[str, list[str] | None]) -> None:
        if self.state is None:
            return
        now = time.time()
        for name, models in answers.items():
            try:
                await self.state.publish(TABLE, share_key(self.targets[name]),
                                         {"models": models}, now, self.interval_s * 4)
            except StateUnavailable:
                return

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
