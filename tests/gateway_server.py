"""Run the real gateway for a test: uvicorn on a free loopback port, in a thread or a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import uvicorn
import yaml

from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.usage.sink import Sink
from tests.fakes.server import free_port

ROOT = Path(__file__).resolve().parent.parent


def config_dict(db: Path, providers: dict[str, Any], models: list[dict[str, Any]],
                **sections: Any) -> dict[str, Any]:
    """A gateway.yaml tree with fast retries, logging to `db`."""
    tree: dict[str, Any] = {
        "database": {"url": f"sqlite+aiosqlite:///{db}", "flush_interval_s": 0.05},
        "providers": providers,
        "models": models,
        "reliability": {"retries": 1, "backoff": {"initial_s": 0.01, "max_s": 0.05},
                        "timeouts": {"connect_s": 2, "first_token_s": 5, "total_s": 10}},
        "routing": {"learn": {"state_path": str(db.parent / "router-state.json")}},
    }
    tree.update(sections)
    return tree


class GatewayServer:
    """The gateway app under uvicorn in a background thread (its own event loop)."""

    def __init__(self, config: GatewayConfig | dict[str, Any], sink: Sink | None = None) -> None:
        self.config = config if isinstance(config, GatewayConfig) else parse_config(config, env={})
        self.port = free_port()
        self.app = create_app(self.config, sink)
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, loop="asyncio", http="httptools",
            log_level="error", lifespan="on", access_log=False, timeout_graceful_shutdown=10,
        ))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def parts(self) -> Any:
        return self.app.state.parts

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = "test-key", **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, **kwargs)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def __enter__(self) -> GatewayServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("gateway did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class GatewayProcess:
    """`python -m gateway serve` as a real process, for signal, worker and instance tests.

    Its output goes to a file beside its config (a pipe nobody reads would fill and block a
    long-lived gateway); `output()` reads it. Several may share one `workdir`.
    """

    def __init__(self, tree: dict[str, Any], workdir: Path, *args: str) -> None:
        self.args = args  # more `gateway serve` options, e.g. "--workers", "2"
        self.port = free_port()
        self.path = workdir / f"gateway-{self.port}.yaml"
        self.path.write_text(yaml.safe_dump(tree))
        self.log = workdir / f"gateway-{self.port}.log"
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, api_key: str = "test-key", **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=api_key, **kwargs)

    def http(self, api_key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        return httpx.Client(base_url=self.url, timeout=30, headers=headers)

    def start(self) -> GatewayProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--config", str(self.path),
                 "--port", str(self.port), *self.args],
                cwd=self.workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited: {self.output()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"gateway process did not become healthy: {self.output()}")

    def terminate(self, timeout: float = 30) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (the log flushes), SIGKILL if it does not exit in time; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.kill()
