"""Read the request log a test's gateway wrote (after stopping it, so every row is flushed)."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.gateway_server import GatewayServer


def db_path(server: GatewayServer) -> str:
    return server.config.database.url.split(":///", 1)[1]


def rows(server: GatewayServer, table: str = "requests") -> list[dict[str, Any]]:
    server.__exit__(None, None, None)  # stops uvicorn; the lifespan flushes the log
    con = sqlite3.connect(db_path(server))
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(f"SELECT * FROM {table}")]
    finally:
        con.close()


def row(server: GatewayServer, request_id: str) -> dict[str, Any]:
    found = [r for r in rows(server) if r["id"] == request_id]
    assert len(found) == 1, f"expected one row for {request_id}, found {len(found)}"
    return found[0]
