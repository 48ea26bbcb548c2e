"""Read the request log a test's gateway wrote: after stopping it (every row flushed: `rows`,
`row`), or while it runs (`logged`: waits for one request's row, for gateways a module shares)."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from tests.gateway_server import GatewayServer


def db_path(server: GatewayServer) -> str:
    return server.config.database.url.split(":///", 1)[1]


def _select(server: GatewayServer, sql: str, *args: Any) -> list[dict[str, Any]]:
    con = sqlite3.connect(db_path(server), timeout=10)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, args)]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # the gateway has not created its schema yet
            return []
        raise
    finally:
        con.close()


def rows(server: GatewayServer, table: str = "requests") -> list[dict[str, Any]]:
    server.__exit__(None, None, None)  # stops uvicorn; the lifespan flushes the log
    return _select(server, f"SELECT * FROM {table}")


def row(server: GatewayServer, request_id: str) -> dict[str, Any]:
    found = [r for r in rows(server) if r["id"] == request_id]
    assert len(found) == 1, f"expected one row for {request_id}, found {len(found)}"
    return found[0]


def logged(server: GatewayServer, request_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The row of one request of a running gateway, once its writer has flushed it, with its
    `attempts` rows (in order) under "attempts_rows"."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = _select(server, "SELECT * FROM requests WHERE id = ?", request_id)
        if found:
            assert len(found) == 1, f"{len(found)} rows for {request_id}"
            out = found[0]
            out["attempts_rows"] = _select(
                server, "SELECT * FROM attempts WHERE request_id = ? ORDER BY n", request_id)
            return out
        assert time.monotonic() < deadline, f"no log row for {request_id}"
        time.sleep(0.02)
