"""Real PostgreSQL and Redis servers for tests, each on a free 127.0.0.1 port in a temporary dir.

They come from Debian's `postgresql` and `redis-server` packages (`.ci/run` installs them). A
missing binary is an error that says what to install, never a skipped test. PostgreSQL refuses
to run as root: as root, it runs as the `postgres` user (`runuser`), which owns its directory.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.fakes.server import free_port


class ServerMissing(RuntimeError):
    """A server binary is not installed."""


def _binary(name: str, *patterns: str) -> str:
    found = shutil.which(name)
    for pattern in patterns:
        if found:
            break
        matches = sorted(glob.glob(pattern), key=_version)
        found = matches[-1] if matches else None
    if not found:
        raise ServerMissing(f"{name} is not installed: the tests that need it start a real "
                            f"server (apt-get install -y postgresql redis-server)")
    return found


def _version(path: str) -> tuple[int, ...]:
    return tuple(int(p) for p in path.split("/") if p.isdigit())


class PostgresServer:
    """`initdb` + `pg_ctl start` in a temporary directory; `stop()` removes it."""

    def __init__(self) -> None:
        self.initdb = _binary("initdb", "/usr/lib/postgresql/*/bin/initdb")
        self.pg_ctl = str(Path(self.initdb).with_name("pg_ctl"))
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-pg-"))
        self.data = self.dir / "data"
        self.user = "postgres"
        self._as: list[str] = []
        if os.geteuid() == 0:  # postgres will not run as root
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                raise ServerMissing("running as root needs the `postgres` user that Debian's "
                                    "postgresql package creates") from None
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.dir / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stderr or done.stdout}\n{tail}")

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run(self.initdb, "-D", str(self.data), "-U", self.user, "--auth=trust",
                      "--encoding=UTF8", "--no-sync")
        options = (f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options,
                  "-l", str(self.dir / "server.log"), "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database; its SQLAlchemy URL."""

        async def create() -> None:
            import asyncpg

            conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user=self.user,
                                         database="postgres")
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        return self.url(name)


class RedisServer:
    """`redis-server` in a temporary directory; `stop()` and `start()` again keep port and dir.

    With `persist`, Redis writes its dataset on shutdown and loads it at start (a restart keeps
    the counters); without, a restart comes back empty.
    """

    def __init__(self, persist: bool = False) -> None:
        self.binary = _binary("redis-server")
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="gateway-redis-"))
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        save = "3600 1" if self.persist else ""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", save, "--appendonly", "no", "--daemonize", "no",
             "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.ping():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.dir / "redis.log").read_text() if (self.dir / "redis.log").exists() else ""
                raise RuntimeError(f"redis-server did not start: {log[-2000:]}")
            time.sleep(0.02)
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it (it saves first when `persist`)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
