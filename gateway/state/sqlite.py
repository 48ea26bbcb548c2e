"""Shared state in a SQLite file: what `gateway serve --workers N` shares when there is no Redis.

Why a SQLite file rather than shared memory: the workers are separate processes that uvicorn
starts (and restarts) itself, so there is no parent-made lock or segment to hand them; shared
memory would need a home-made allocator for a changing set of keys and a cross-process lock that
a killed worker can leave held. SQLite gives both for free and is already a dependency: every
call is one `BEGIN IMMEDIATE` transaction (a write lock across processes, released by the OS
if a worker dies), running the same algorithms as the in-process backend (`logic.py`).
Durability is not needed (budgets are read back from the log at start), so the file runs with
`synchronous=OFF`; a call costs tens of microseconds, run on one thread per process so a
waiting lock never blocks the event loop.

Workers queue for the write lock on an `flock` of a file beside the state file (`.lock`), not
in SQLite's busy handler: that handler sleeps 1, 2, 5 ... 100 ms between tries however soon the
lock is free, which under load left workers asleep (two workers then served fewer requests than
one), while a process waiting on `flock` is woken the moment the lock is released.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from gateway.state import logic
from gateway.state.base import Charge, Counter, Entry, Rate, Reserved, StateUnavailable, Taken

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS rates (key TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, spent INTEGER NOT NULL,
    held INTEGER NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS holds (key TEXT NOT NULL, hold TEXT NOT NULL, amount INTEGER NOT NULL,
    expires REAL NOT NULL, PRIMARY KEY (key, hold));
CREATE INDEX IF NOT EXISTS holds_by_expiry ON holds (key, expires);
CREATE TABLE IF NOT EXISTS entries (tbl TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
    at REAL NOT NULL, expires REAL NOT NULL, PRIMARY KEY (tbl, name));
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires REAL NOT NULL);
"""
SWEEP_EVERY_S = 60.0


class _Tx:
    """`logic.Tx` over the open transaction of one connection."""

    def __init__(self, db: sqlite3.Connection, now: float) -> None:
        self.db = db
        self.now = now

    def _one(self, sql: str, *args: Any) -> Any:
        return self.db.execute(sql, args).fetchone()

    def get_tat(self, key: str) -> float:
        row = self._one("SELECT tat FROM rates WHERE key = ?", key)
        return float(row[0]) if row else 0.0

    def set_tat(self, key: str, tat: float) -> None:
        if tat <= self.now:
            self.db.execute("DELETE FROM rates WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO rates VALUES (?, ?)", (key, tat))

    def get_counter(self, key: str) -> tuple[int, int] | None:
        row = self._one("SELECT spent, held, expires FROM counters WHERE key = ?", key)
        if row is None:
            return None
        if row[2] <= self.now:
            self.db.execute("DELETE FROM counters WHERE key = ?", (key,))
            self.db.execute("DELETE FROM holds WHERE key = ?", (key,))
            return None
        return int(row[0]), int(row[1])

    def set_counter(self, key: str, spent: int, held: int, ttl_s: float | None) -> None:
        if ttl_s is None:
            row = self._one("SELECT expires FROM counters WHERE key = ?", key)
            expires = row[0] if row else self.now + 86400
        else:
            expires = self.now + ttl_s
        self.db.execute("INSERT OR REPLACE INTO counters VALUES (?, ?, ?, ?)",
                        (key, spent, held, expires))

    def expired_holds(self, key: str) -> list[tuple[str, int]]:
        rows = self.db.execute("SELECT hold, amount FROM holds WHERE key = ? AND expires <= ?",
                               (key, self.now)).fetchall()
        return [(str(h), int(a)) for h, a in rows]

    def get_hold(self, key: str, hold: str) -> int | None:
        row = self._one("SELECT amount FROM holds WHERE key = ? AND hold = ?", key, hold)
        return None if row is None else int(row[0])

    def set_hold(self, key: str, hold: str, amount: int, expires: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?)",
                        (key, hold, amount, expires))

    def del_hold(self, key: str, hold: str) -> None:
        self.db.execute("DELETE FROM holds WHERE key = ? AND hold = ?", (key, hold))

    def get_entry(self, table: str, name: str) -> Entry | None:
        row = self._one("SELECT value, at, expires FROM entries WHERE tbl = ? AND name = ?",
                        table, name)
        return None if row is None else Entry(json.loads(row[0]), row[1], row[2])

    def set_entry(self, table: str, name: str, entry: Entry) -> None:
        self.db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                        (table, name, json.dumps(entry.value), entry.at, entry.expires))

    def entries(self, table: str) -> dict[str, Entry]:
        rows = self.db.execute(
            "SELECT name, value, at, expires FROM entries WHERE tbl = ? AND expires > ?",
            (table, self.now)).fetchall()
        return {n: Entry(json.loads(v), at, exp) for n, v, at, exp in rows}

    def get_claim(self, key: str) -> float | None:
        row = self._one("SELECT expires FROM claims WHERE key = ?", key)
        return None if row is None else float(row[0])

    def set_claim(self, key: str, expires: float) -> None:
        self.db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?)", (key, expires))

    def sweep(self) -> None:
        now = self.now
        self.db.execute("DELETE FROM rates WHERE tat <= ?", (now,))
        self.db.execute("DELETE FROM holds WHERE key IN (SELECT key FROM counters "
                        "WHERE expires <= ?)", (now,))
        self.db.execute("DELETE FROM counters WHERE expires <= ?", (now,))
        self.db.execute("DELETE FROM entries WHERE expires <= ?", (now,))
        self.db.execute("DELETE FROM claims WHERE expires <= ?", (now,))


class SqliteState:
    """Shared state for the processes of one host, in one SQLite file (see `State`)."""

    kind = "sqlite"
    shared = True

    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        # One thread per process owns the connection: sqlite3 objects stay on their thread,
        # and a call waiting for another worker's write lock waits there, not on the loop.
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="gateway-state")
        self._db: sqlite3.Connection | None = None
        self._lock: int | None = None  # the descriptor of the lock file, on the state's thread
        self._last_sweep = 0.0

    def __repr__(self) -> str:
        return f"<SqliteState {str(self.path)!r}>"

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._lock is None:
                self._lock = os.open(self.path.with_name(self.path.name + ".lock"),
                                     os.O_RDWR | os.O_CREAT, 0o644)
            db = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            # Switching to WAL and creating the tables can meet another process doing the same:
            # SQLite then answers "locked" at once, without its busy wait, so wait here.
            deadline = time.monotonic() + self._busy_timeout_s
            while True:
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.execute("PRAGMA synchronous=OFF")
                    db.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        db.close()
                        raise
                    time.sleep(0.01)
            self._db = db
        return self._db

    def _atomic(self, step: Callable[[_Tx], T]) -> T:
        db = self._connect()
        assert self._lock is not None
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # the workers' queue (see the docstring)
        try:
            db.execute("BEGIN IMMEDIATE")  # the write lock first: no read-modify-write race
            try:
                tx = _Tx(db, self._clock())
                out = step(tx)
                if tx.now - self._last_sweep > SWEEP_EVERY_S:
                    tx.sweep()
                    self._last_sweep = tx.now
                db.execute("COMMIT")
                return out
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)

    async def _run(self, step: Callable[[_Tx], T]) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, self._atomic, step)
        except sqlite3.Error as exc:
            raise StateUnavailable(f"state file {self.path}: {exc}") from exc

    async def take(self, rates: list[Rate]) -> Taken:
        return await self._run(lambda tx: logic.take(tx, rates))

    async def adjust(self, rate: Rate) -> None:
        await self._run(lambda tx: logic.adjust(tx, rate))

    async def reserve(
        self, hold: str, charges: list[Charge], lease_s: float, *, force: bool = False
    ) -> Reserved:
        return await self._run(lambda tx: logic.reserve(tx, hold, charges, lease_s, force))

    async def settle(self, hold: str, charges: list[Charge]) -> tuple[Counter, ...]:
        return await self._run(lambda tx: logic.settle(tx, hold, charges))

    async def seed(self, charges: list[Charge]) -> tuple[Counter, ...]:
        return await self._run(lambda tx: logic.seed(tx, charges))

    async def counters(self, keys: list[str]) -> tuple[Counter, ...]:
        return await self._run(lambda tx: logic.counters(tx, keys))

    async def exists(self, keys: list[str]) -> tuple[bool, ...]:
        return await self._run(lambda tx: logic.exists(tx, keys))

    async def publish(self, table: str, name: str, value: Any, at: float, ttl_s: float) -> bool:
        return await self._run(lambda tx: logic.publish(tx, table, name, value, at, ttl_s))

    async def table(self, table: str) -> dict[str, Entry]:
        return await self._run(lambda tx: tx.entries(table))

    async def claim(self, key: str, ttl_s: float) -> bool:
        return await self._run(lambda tx: logic.claim(tx, key, ttl_s))

    async def start(self) -> None:
        await self._run(lambda tx: None)

    async def ping(self) -> None:
        await self._run(lambda tx: None)

    async def aclose(self) -> None:
        def close() -> None:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

        await asyncio.get_running_loop().run_in_executor(self._pool, close)
        self._pool.shutdown(wait=False)

    def status(self) -> dict[str, Any]:
        return {"backend": self.kind, "shared": self.shared, "connected": True,
                "path": str(self.path)}
