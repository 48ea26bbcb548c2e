"""Stored responses: what the Responses door answered, kept for `previous_response_id` and GET.

A stored response holds the Response object exactly as the client got it and every input item
of its conversation so far (earlier turns' inputs and outputs included), so continuing a
conversation is one lookup by primary key, whatever its length. A key sees only what it stored
(DESIGN, "Keys and roles"): another key's id reads as unknown; an admin key reads every one.
Written once per response, after the answer is complete and before the client can send the
next turn, so the next turn always finds it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.usage.migrate import upgrade
from gateway.usage.schema import make_engine, responses


@dataclass(frozen=True)
class StoredResponse:
    id: str
    api_key: str | None  # the key's name (never the key); None when auth is off
    body: bytes  # the Response object, as returned
    items: list[dict[str, Any]]  # the conversation's input items up to this response
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def response(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


class ResponseStore(Protocol):
    async def put(self, stored: StoredResponse) -> None: ...

    async def get(
        self, response_id: str, *, owner: str | None, admin: bool = False
    ) -> StoredResponse | None:
        """The response `owner` stored under this id (any owner's for an admin), or None."""
        ...

    async def delete(self, response_id: str, *, owner: str | None, admin: bool = False) -> bool:
        """Forget the response `owner` stored under this id (any owner's for an admin); False
        when there is none. Later turns that continued it keep their own copy of it."""
        ...

    async def aclose(self) -> None: ...


def _visible(stored: StoredResponse, owner: str | None, admin: bool) -> bool:
    return admin or stored.api_key == owner


class MemoryResponseStore:
    """In process, for a gateway without a database and for tests of the pipeline."""

    def __init__(self) -> None:
        self._items: dict[str, StoredResponse] = {}

    async def put(self, stored: StoredResponse) -> None:
        self._items[stored.id] = stored

    async def get(
        self, response_id: str, *, owner: str | None, admin: bool = False
    ) -> StoredResponse | None:
        stored = self._items.get(response_id)
        return stored if stored is not None and _visible(stored, owner, admin) else None

    async def delete(self, response_id: str, *, owner: str | None, admin: bool = False) -> bool:
        if await self.get(response_id, owner=owner, admin=admin) is None:
            return False
        del self._items[response_id]
        return True

    async def aclose(self) -> None:
        self._items.clear()


class SqlResponseStore:
    """The `responses` table of the gateway's database (any SQLAlchemy async URL)."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000) -> None:
        self.url = url
        self._busy_timeout_ms = busy_timeout_ms
        self._engine: AsyncEngine | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<SqlResponseStore {self.url!r}>"

    async def _ready(self) -> AsyncEngine:
        async with self._lock:  # one creation of the engine and the table, however many callers
            if self._engine is None:
                engine = make_engine(self.url, busy_timeout_ms=self._busy_timeout_ms)
                await upgrade(engine, self.url)
                self._engine = engine
            return self._engine

    async def put(self, stored: StoredResponse) -> None:
        engine = await self._ready()
        row = {
            "id": stored.id, "created_at": stored.created_at, "api_key": stored.api_key,
            "body_json": stored.body.decode(), "input_json": orjson.dumps(stored.items).decode(),
        }
        async with engine.begin() as conn:
            await conn.execute(insert(responses), [row])

    async def get(
        self, response_id: str, *, owner: str | None, admin: bool = False
    ) -> StoredResponse | None:
        engine = await self._ready()
        c = responses.c
        async with engine.connect() as conn:
            found = (await conn.execute(select(responses).where(c.id == response_id))).first()
        if found is None:
            return None
        stored = StoredResponse(
            id=found.id, api_key=found.api_key, body=found.body_json.encode(),
            items=orjson.loads(found.input_json), created_at=found.created_at,
        )
        return stored if _visible(stored, owner, admin) else None

    async def delete(self, response_id: str, *, owner: str | None, admin: bool = False) -> bool:
        engine = await self._ready()
        c = responses.c
        query = delete(responses).where(c.id == response_id)
        if not admin:
            query = query.where(c.api_key.is_(None) if owner is None else c.api_key == owner)
        async with engine.begin() as conn:
            return bool((await conn.execute(query)).rowcount)

    async def aclose(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
