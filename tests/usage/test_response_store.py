"""Stored responses: kept in the gateway's database (SQLite here) or in process, found by id,
and only by the key that stored them (an admin key finds every one)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.usage.response_store import (
    MemoryResponseStore,
    ResponseStore,
    SqlResponseStore,
    StoredResponse,
)

ITEMS = [{"type": "message", "role": "user", "content": "hi"}]


def stored(response_id: str, key: str | None) -> StoredResponse:
    return StoredResponse(id=response_id, api_key=key, body=b'{"id": "%s"}' % response_id.encode(),
                          items=ITEMS)


@pytest.fixture(params=["sql", "memory"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ResponseStore]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'log' / 'gateway.db'}"
    if request.param == "sql":
        return lambda: SqlResponseStore(url)
    memory = MemoryResponseStore()
    return lambda: memory


def test_scoped_by_key(make_store: Callable[[], ResponseStore]) -> None:
    async def main() -> None:
        store = make_store()
        await store.put(stored("resp_a", "team-a"))
        await store.put(stored("resp_open", None))
        found = await store.get("resp_a", owner="team-a")
        assert found is not None and found.body == b'{"id": "resp_a"}'
        assert found.items == ITEMS and found.api_key == "team-a"
        assert found.created_at.tzinfo is not None
        assert await store.get("resp_a", owner="team-b") is None
        assert await store.get("resp_a", owner=None) is None
        assert await store.get("resp_a", owner="team-b", admin=True) is not None
        assert await store.get("resp_open", owner=None) is not None  # auth off: no key at all
        assert await store.get("resp_open", owner="team-a") is None
        assert await store.get("resp_missing", owner="team-a", admin=True) is None
        await store.aclose()

    asyncio.run(main())


def test_deleted_by_its_key_or_an_admin_only(make_store: Callable[[], ResponseStore]) -> None:
    async def main() -> None:
        store = make_store()
        for rid, key in (("resp_a", "team-a"), ("resp_b", "team-a"), ("resp_open", None)):
            await store.put(stored(rid, key))
        assert not await store.delete("resp_a", owner="team-b")
        assert not await store.delete("resp_a", owner=None)
        assert not await store.delete("resp_open", owner="team-a")
        assert await store.delete("resp_a", owner="team-a")
        assert not await store.delete("resp_a", owner="team-a")  # gone
        assert await store.get("resp_a", owner="team-a", admin=True) is None
        assert await store.delete("resp_b", owner="team-c", admin=True)
        assert await store.delete("resp_open", owner=None)
        await store.aclose()

    asyncio.run(main())


def test_sql_store_keeps_them_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    url = f"sqlite+aiosqlite:///{path}"

    async def write() -> None:
        store = SqlResponseStore(url)
        await asyncio.gather(*(store.put(stored(f"resp_{i}", "k")) for i in range(5)))
        await store.aclose()

    async def read() -> list[StoredResponse | None]:
        store = SqlResponseStore(url)
        try:
            return [await store.get(f"resp_{i}", owner="k") for i in range(5)]
        finally:
            await store.aclose()

    asyncio.run(write())
    assert all(s is not None for s in asyncio.run(read()))
    with sqlite3.connect(path) as db:  # beside the request log's tables, in the same file
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        columns = [r[1] for r in db.execute("pragma table_info(responses)")]
    assert {"requests", "attempts", "feedback", "responses"} <= tables
    assert columns == ["id", "created_at", "api_key", "body_json", "input_json"]
