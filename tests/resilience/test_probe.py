"""The local probe: asks local servers which models they serve; answers shared between workers."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from gateway.config import GatewayConfig, parse_config
from gateway.resilience.probe import LocalProbe, share_key
from gateway.state.sqlite import SqliteState
from tests.fakes.openai_server import FakeOpenAI


def config(url: str) -> GatewayConfig:
    return parse_config({
        "providers": {"lmstudio": {"kind": "openai", "base_url": url}},
        "models": [{"id": "local", "provider": "lmstudio", "tags": ["local"]}],
    }, env={})


def test_workers_take_a_fresh_answer_instead_of_asking_again(tmp_path: Path) -> None:
    fake = FakeOpenAI().start()
    running = [True]

    async def main() -> None:
        cfg = config(fake.url)
        a_state, b_state = SqliteState(tmp_path / "s.db"), SqliteState(tmp_path / "s.db")
        a = LocalProbe(cfg, interval_s=0.4, state=a_state)
        b = LocalProbe(cfg, interval_s=0.4, state=b_state)
        await a.probe_once()
        await b.probe_once()
        assert (a.probes, b.probes) == (1, 0)
        assert a.reachable("lmstudio") is True and b.reachable("lmstudio") is True
        assert b.loaded["lmstudio"] == ["fake-model"]
        fake.stop()
        running[0] = False
        await asyncio.sleep(0.25)  # older than half an interval: asked again
        await b.probe_once()
        await a.probe_once()
        assert (a.probes, b.probes) == (1, 1)
        assert a.reachable("lmstudio") is False and b.reachable("lmstudio") is False
        await a_state.aclose()
        await b_state.aclose()

    try:
        asyncio.run(main())
    finally:
        if running[0]:
            fake.stop()


def test_a_loopback_server_is_shared_only_within_its_host() -> None:
    host = socket.gethostname()
    assert share_key("http://localhost:1234/v1") == f"{host}|http://localhost:1234/v1"
    assert share_key("http://127.0.0.1:11434/v1") == f"{host}|http://127.0.0.1:11434/v1"
    assert share_key("http://gpu-box.lan:8000/v1") == "http://gpu-box.lan:8000/v1"
