"""Shared state: where the counters and records that requests share live (see `base.py`).

`build_state(config)` picks the backend:

| `state.url`            | `server.workers` | backend                                              |
| ---------------------- | ---------------- | ---------------------------------------------------- |
| unset                  | 1                | `MemoryState`: this process                          |
| unset                  | N > 1            | `SqliteState` on a file next to the log: this host   |
| `sqlite:///path`       | any              | `SqliteState` on that file: this host                |
| `redis://...`          | any              | `ResilientState(RedisState)`: every instance, with   |
|                        |                  | in-process state while Redis is unreachable          |
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gateway.config import GatewayConfig
from gateway.state.base import (
    Charge,
    Counter,
    Entry,
    Rate,
    Reserved,
    State,
    StateUnavailable,
    Taken,
)
from gateway.state.memory import MemoryState

__all__ = [
    "Charge", "Counter", "Entry", "MemoryState", "Rate", "Reserved", "State", "StateUnavailable",
    "Taken", "build_state", "workers_state_file",
]


def workers_state_file(config: GatewayConfig) -> Path:
    """The file `--workers N` share without `state.url`: beside a SQLite log, else in the
    temporary directory, named after the port (two gateways on one host do not mix)."""
    from gateway.usage.schema import sqlite_file

    log = sqlite_file(config.database.url)
    if log is not None:
        return log.with_name(log.name + ".state")
    return Path(tempfile.gettempdir()) / f"gateway-{config.server.port}.state"


def build_state(config: GatewayConfig) -> State:
    """The state backend the configuration asks for (nothing connects before `start()`)."""
    url = config.state.url
    if url is None:
        if config.server.workers > 1:
            from gateway.state.sqlite import SqliteState

            return SqliteState(workers_state_file(config))
        return MemoryState()
    if url.startswith("sqlite:///"):
        from gateway.state.sqlite import SqliteState

        return SqliteState(url.removeprefix("sqlite:///"))
    from gateway.state.redis_state import RedisState
    from gateway.state.resilient import ResilientState

    return ResilientState(RedisState(url))
