"""Shared state on Redis (`state.url`): what every instance behind one load balancer shares.

Each operation is one Lua script (`redis_scripts.py`): one round trip, atomic on the server.
The `redis` package is imported only when this backend is built, i.e. when `state.url` is set.
Timeouts are short and there is a single retry (a pooled connection a restarted Redis closed):
an unreachable Redis must cost a request milliseconds, not seconds, before `ResilientState`
moves to in-process state. The connection pool waits for a free connection instead of failing:
redis-py's default pool raises "Too many connections" past 100 commands in flight, which a busy
gateway reaches and which must not read as "Redis is down" (per-process limits from then on).
Keys share the hash tag `{gw}`, so the scripts' keys sit in one slot and a Redis Cluster
accepts them too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from gateway.state.base import Charge, Counter, Entry, Rate, Reserved, StateUnavailable, Taken
from gateway.state.redis_scripts import PRELUDE, SCRIPTS

log = logging.getLogger("gateway.state")

PREFIX = "{gw}:"


def redact(url: str) -> str:
    """The URL without its password, for logs and /health."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at:
        return url
    user = creds.split(":", 1)[0]
    return f"{scheme}{sep}{user + ':***' if user else '***'}@{host}"


def _pairs(flat: list[Any], start: int = 0) -> tuple[Counter, ...]:
    return tuple(Counter(int(flat[i]), int(flat[i + 1])) for i in range(start, len(flat), 2))


def _keys(names: list[str]) -> list[str]:
    out = []
    for n in names:
        out += [f"{PREFIX}c:{n}", f"{PREFIX}z:{n}"]
    return out


class RedisState:
    """Shared state for every instance pointing at one Redis (see `State`)."""

    kind = "redis"
    shared = True

    def __init__(self, url: str, *, timeout_s: float = 0.5, connections: int = 128) -> None:
        """`connections`: the most this process opens; more commands in flight wait for one
        (a connection is busy for at most `timeout_s` and one retry, so waits are bounded)."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        self.url = url
        self._errors = (RedisError, OSError)
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=connections, timeout=10 * timeout_s,
            socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1), decode_responses=True,
        )
        self.client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
        self._scripts = {name: self.client.register_script(PRELUDE + body)
                         for name, body in SCRIPTS.items()}

    def __repr__(self) -> str:
        return f"<RedisState {redact(self.url)!r}>"

    async def _call(self, script: str, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._scripts[script](keys=keys, args=args)
        except self._errors as exc:
            raise StateUnavailable(f"redis {redact(self.url)}: {exc}") from exc

    async def take(self, rates: list[Rate]) -> Taken:
        args: list[Any] = []
        for r in rates:
            args += [repr(float(r.cost)), repr(float(r.limit)), repr(float(r.period_s))]
        failed, wait = await self._call("take", [f"{PREFIX}r:{r.key}" for r in rates], args)
        return Taken(None) if int(failed) == 0 else Taken(int(failed) - 1, float(wait))

    async def adjust(self, rate: Rate) -> None:
        await self._call("adjust", [f"{PREFIX}r:{rate.key}"],
                         [repr(float(rate.cost)), repr(float(rate.limit)),
                          repr(float(rate.period_s))])

    async def reserve(
        self, hold: str, charges: list[Charge], lease_s: float, *, force: bool = False
    ) -> Reserved:
        args: list[Any] = [hold, repr(float(lease_s)), "1" if force else "0"]
        for c in charges:
            args += [str(int(c.amount)), "" if c.limit is None else str(int(c.limit)), c.ttl_s]
        out = await self._call("reserve", _keys([c.key for c in charges]), args)
        failed = int(out[0])
        return Reserved(None if failed == 0 else failed - 1, _pairs(out, 1))

    async def settle(self, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
        args: list[Any] = [hold]
        for c in charges:
            args += [str(int(c.amount)), c.ttl_s]
        return _pairs(await self._call("settle", _keys([c.key for c in charges]), args))

    async def seed(self, charges: list[Charge]) -> tuple[Counter, ...]:
        args: list[Any] = []
        for c in charges:
            args += [str(int(c.amount)), c.ttl_s]
        return _pairs(await self._call("seed", _keys([c.key for c in charges]), args))

    async def counters(self, keys: list[str]) -> tuple[Counter, ...]:
        return _pairs(await self._call("counters", _keys(keys), []))

    async def exists(self, keys: list[str]) -> tuple[bool, ...]:
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for k in keys:
                    pipe.hexists(f"{PREFIX}c:{k}", "s")
                return tuple(bool(x) for x in await pipe.execute())
        except self._errors as exc:
            raise StateUnavailable(f"redis {redact(self.url)}: {exc}") from exc

    async def publish(self, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
        done = await self._call("publish", [f"{PREFIX}t:{table}"],
                                [name, json.dumps(value), f"{at:.6f}", repr(float(ttl_s))])
        return bool(int(done))

    async def table(self, table: str) -> dict[str, Entry]:
        try:
            raw = await self.client.hgetall(f"{PREFIX}t:{table}")
        except self._errors as exc:
            raise StateUnavailable(f"redis {redact(self.url)}: {exc}") from exc
        now, out = time.time(), {}
        for name, text in raw.items():
            at, expires, value = str(text).split(" ", 2)
            if float(expires) > now:
                out[str(name)] = Entry(json.loads(value), float(at), float(expires))
        return out

    async def claim(self, key: str, ttl_s: float) -> bool:
        try:
            won = await self.client.set(f"{PREFIX}k:{key}", "1", nx=True,
                                        px=max(1, int(ttl_s * 1000)))
        except self._errors as exc:
            raise StateUnavailable(f"redis {redact(self.url)}: {exc}") from exc
        return bool(won)

    async def start(self) -> None:
        await self.ping()

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except self._errors as exc:
            raise StateUnavailable(f"redis {redact(self.url)}: {exc}") from exc

    async def aclose(self) -> None:
        # redis-py's close can wait on a connection whose command was cancelled mid-read (a
        # sync task stopped at shutdown); a gateway shutting down must not wait on it.
        try:
            async with asyncio.timeout(2):
                await self.client.aclose()
        except TimeoutError:
            log.warning("shared state: %s did not close in 2 s; leaving it", redact(self.url))

    def status(self) -> dict[str, Any]:
        return {"backend": self.kind, "shared": self.shared, "url": redact(self.url)}
