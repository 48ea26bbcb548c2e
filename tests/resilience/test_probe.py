"""The local probe: a server that answers at all is up; one that does not answer is down."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from aiohttp import web

from gateway.config import GatewayConfig, parse_config
from gateway.resilience.probe import LocalProbe, list_models, share_key
from gateway.state.sqlite import SqliteState
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import FakeServer, free_port


class Broken(FakeServer):
    """A local server that is up but answers every request with a 500 and no JSON."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/models", self.fail)
        return app

    async def fail(self, request: web.Request) -> web.Response:
        return web.Response(status=500, text="internal error")


def config(url: str):  # type: ignore[no-untyped-def]
    return parse_config({"providers": {"lm": {"kind": "lmstudio", "base_url": url}},
                         "models": [{"id": "local", "provider": "lm", "tags": ["local"]}]}, env={})


def test_a_server_listing_models_is_up_with_its_models() -> None:
    with FakeOpenAI() as fake:
        assert asyncio.run(list_models(fake.url)) == ["fake-model"]


def test_a_server_answering_an_error_is_still_up() -> None:
    with Broken() as broken:
        probe = LocalProbe(config(f"{broken.base_url}/v1"))
        asyncio.run(probe.probe_once())
        assert probe.reachable("lm") is True
        assert "reachable" in probe.summary()["lm"]


def test_nothing_listening_is_down_and_said_so() -> None:
    probe = LocalProbe(config(f"http://127.0.0.1:{free_port()}/v1"))
    assert probe.reachable("lm") is None  # not probed yet: unknown, not assumed either way
    assert "not probed" in probe.summary()["lm"]
    asyncio.run(probe.probe_once())
    assert probe.reachable("lm") is False
    assert "did not answer" in probe.summary()["lm"]


def test_only_local_providers_are_probed() -> None:
    cfg = parse_config({"providers": {"o": {"kind": "openai", "api_key": "k"}},
                        "models": [{"id": "m", "provider": "o"}]}, env={})
    assert LocalProbe(cfg).targets == {}


def shared_config(url: str) -> GatewayConfig:
    return parse_config({
        "providers": {"lmstudio": {"kind": "openai", "base_url": url}},
        "models": [{"id": "local", "provider": "lmstudio", "tags": ["local"]}],
    }, env={})


def test_workers_take_a_fresh_answer_instead_of_asking_again(tmp_path: Path) -> None:
    fake = FakeOpenAI().start()
    running = [True]

    async def main() -> None:
        cfg = shared_config(fake.url)
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
