"""Benchmark processes: start a server pinned to a core, wait until it answers, always stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One server process (and its children) in its own process group, pinned with taskset
    to `cpu` (a core, or a list of cores as taskset takes it: "0,1")."""

    def __init__(
        self, name: str, cmd: Sequence[str], *, cpu: int | str, log: Path,
        env: Mapping[str, str] | None = None, cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = ["taskset", "-c", str(cpu), *cmd]
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "stopped" if self.proc is None else f"pid {self.proc.pid}"
        return f"<Server {self.name} {state}>"

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def start(self) -> Server:
        with self.log.open("wb") as out:
            # A new session so stop() can end the server and every child it forked, and only them.
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )
        return self

    def wait_ready(self, url: str, timeout_s: float, headers: Mapping[str, str] | None = None,
                   ) -> None:
        """Poll `url` until it answers 2xx; raise with the log's tail if it dies or hangs."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.tail()}")
            try:
                req = urllib.request.Request(url, headers=dict(headers or {}))
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if 200 <= resp.status < 300:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout_s:.0f} s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL after 5 s. Safe to call twice."""
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session made the server its own group leader
        for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(pgid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # children that outlived the leader are still in its group
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc = None
