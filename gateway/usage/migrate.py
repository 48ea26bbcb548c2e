"""Record, schema: create or upgrade the request log to the newest revision, at every start.

The gateway runs its own migrations (Alembic, shipped in `migrations/`): an empty database
gets the tables, a log written by an older gateway is brought up to date with its rows kept,
SQLite and PostgreSQL alike. Starting must stay cheap, so a log already at the newest revision
is recognised with one query and Alembic is not even imported; nor is it for an empty database,
which gets the newest schema directly and is stamped with its revision. Several instances (or workers)
may start at once against one database: PostgreSQL serialises them with an advisory lock,
SQLite with a lock file beside the database.

For engineers, adding a revision (see migrations/README.md):

    python -m gateway.usage.migrate new "add requests.explored"
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import logging
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, text
from sqlalchemy.engine import Connection

from gateway.usage.schema import make_engine, metadata, sqlite_file

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger("gateway.usage")

MIGRATIONS = Path(__file__).with_name("migrations")
_REVISION_FILE = re.compile(r"^(\d{4})_\w+\.py$")
_PG_LOCK_ID = 0x6761746577617900  # "gateway\0": one advisory lock for the log's schema
# Alembic's version table, as Alembic itself creates it
_VERSION = Table("alembic_version", MetaData(), Column("version_num", String(32), nullable=False),
                 PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


@functools.cache
def head(directory: Path = MIGRATIONS) -> str:
    """The newest revision shipped: revisions are numbered files, `NNNN_<slug>.py`."""
    numbers = [m.group(1) for p in (directory / "versions").iterdir()
               if (m := _REVISION_FILE.match(p.name))]
    return max(numbers)


def alembic_config(connection: Connection | None = None, directory: Path = MIGRATIONS) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(directory))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def current(conn: Connection) -> str | None:
    """The revision a database is at (None: never migrated, or no database yet)."""
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade(conn: Connection, directory: Path = MIGRATIONS) -> None:
    """Bring the schema to head (inside the caller's transaction)."""
    if conn.dialect.name == "postgresql":  # released when the transaction ends
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
    was, newest = current(conn), head(directory)
    if was is None and not conn.dialect.has_table(conn, "requests"):
        # an empty database: the newest schema at once, stamped with its revision (Alembic's
        # own advice for a new database; schema.py and the revisions are tested to agree)
        metadata.create_all(conn)
        _VERSION.create(conn)
        conn.execute(_VERSION.insert().values(version_num=newest))
        log.info("request log created at schema revision %s", newest)
        return
    if was is not None and was >= newest:
        if was > newest:
            log.warning("request log is at schema revision %s, newer than this gateway's %s: "
                        "left as it is", was, newest)
        return
    from alembic import command

    command.upgrade(alembic_config(conn, directory), "head")
    log.info("request log schema upgraded from %s to %s", was or "none", newest)


@contextlib.asynccontextmanager
async def _file_lock(db: Path | None) -> AsyncIterator[None]:
    """One migrating process per SQLite file; polled, so a wait never blocks the event loop."""
    if db is None:
        yield
        return
    fd = os.open(db.with_name(db.name + ".migrate-lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                await asyncio.sleep(0.05)
        yield  # closing the descriptor releases the lock
    finally:
        os.close(fd)


async def upgrade(engine: AsyncEngine, url: str, directory: Path = MIGRATIONS) -> None:
    """Create the database's directory (SQLite) and bring its schema to the newest revision."""
    db = sqlite_file(url)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    async with engine.connect() as conn:  # the common case: at head already, one query
        if await conn.run_sync(current) == head(directory):
            return
    async with _file_lock(db), engine.begin() as conn:
        await conn.run_sync(_upgrade, directory)


# -- for engineers: a new revision --------------------------------------------------------------


def new_revision(message: str, directory: Path = MIGRATIONS) -> Path:
    """Write the next revision into `directory/versions`, autogenerated from the difference
    between `schema.py` and the newest revision (applied to a scratch SQLite database)."""
    from alembic import command

    rev = f"{int(head(directory)) + 1:04d}"

    async def scratch() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{tmp}/scratch.db"
            engine = make_engine(url, wal=False)
            try:
                async with engine.begin() as conn:  # the revisions' schema, not schema.py's
                    await conn.run_sync(lambda c: command.upgrade(
                        alembic_config(c, directory), "head"))
                async with engine.begin() as conn:
                    await conn.run_sync(lambda c: command.revision(
                        alembic_config(c, directory), message, autogenerate=True, rev_id=rev))
            finally:
                await engine.dispose()

    asyncio.run(scratch())
    head.cache_clear()
    return next((directory / "versions").glob(f"{rev}_*.py"))


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "new":
        print('usage: python -m gateway.usage.migrate new "what the revision does"',
              file=sys.stderr)
        return 2
    print(new_revision(argv[1]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

