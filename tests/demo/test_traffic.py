"""The demo's traffic: its mix of requests, `gateway demo-traffic`, and `gateway serve --demo`."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from gateway.cli import main
from gateway.demo.traffic import next_body
from tests.browser import poll
from tests.fakes.server import free_port
from tests.gateway_server import ROOT, GatewayServer

SIM = {"sim": {"kind": "simulated", "simulate": {"latency_ms": 1, "tokens_per_s": 100_000}}}
CAPS = ["tools", "json", "streaming"]  # the mix has tools and JSON in it
MODELS = [{"id": "one", "provider": "sim", "input_usd_per_mtok": 1, "output_usd_per_mtok": 2,
           "capabilities": CAPS},
          {"id": "two", "provider": "sim", "input_usd_per_mtok": 3, "output_usd_per_mtok": 9,
           "capabilities": CAPS}]


def test_the_mix() -> None:
    rnd = random.Random(5)
    bodies = [next_body(rnd, ["one", "two"]) for _ in range(1000)]
    models = [b["model"] for b in bodies]
    assert 0.45 < models.count("auto") / 1000 < 0.65
    assert {"auto:cheap", "auto:best", "auto:fast", "one", "two"} <= set(models)
    assert 0.25 < sum(bool(b.get("stream")) for b in bodies) / 1000 < 0.42
    assert any("tools" in b for b in bodies) and any("response_format" in b for b in bodies)
    assert any(b["messages"][0]["role"] == "system" for b in bodies)
    assert len({b["messages"][-1]["content"] for b in bodies}) > 20


def test_demo_traffic_command(make_gateway: Callable[..., GatewayServer],
                              capsys: pytest.CaptureFixture[str]) -> None:
    server = make_gateway(SIM, MODELS)
    assert main(["demo-traffic", "--url", server.url + "/v1", "--rate", "20",
                 "--duration", "2"]) == 0
    out = capsys.readouterr().out
    sent = int(out.strip().splitlines()[-1].split()[2])
    assert sent > 5 and "0 failed" in out
    with server.http() as http:
        logged = poll(lambda: http.get("/admin/usage").json()["total"]["requests"] >= sent)
    assert logged, "every request the traffic sent has its row"


def test_demo_traffic_says_when_the_gateway_is_not_there(
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["demo-traffic", "--url", url, "--duration", "1"]) == 1
    assert f"cannot use the gateway at {url}" in capsys.readouterr().err


def test_serve_demo_answers_without_any_key_and_fills_its_own_log(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(PYTHONPATH=str(ROOT), GATEWAY_KEY="")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--demo", "--demo-traffic", "8",
         "--config", str(ROOT / "gateway.yaml"), "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)
        done = client.chat.completions.create(
            model="sonnet", messages=[{"role": "user", "content": "Say hello"}])
        assert done.system_fingerprint == "simulated" and done.model == "claude-sonnet-4-5"
        assert (done.choices[0].message.content or "").startswith("[simulated]")
        # the shipped embeddings models answer too, as the SDK asks (base64) and as floats
        vectors = client.embeddings.create(model="text-embedding-3-small",
                                           input=["a cat", "a dog", "a cat"])
        got = [d.embedding for d in vectors.data]
        assert [len(v) for v in got] == [1536] * 3 and got[0] == got[2] != got[1]
        assert abs(sum(x * x for x in got[0]) - 1) < 1e-4 and vectors.usage.prompt_tokens > 0
        small = client.embeddings.create(model="mistral-embed", input="x", dimensions=8,
                                         encoding_format="float")
        assert len(small.data[0].embedding) == 8 and small.model == "mistral-embed"
        with pytest.raises(openai.BadRequestError):  # a chat model is no embeddings model
            client.embeddings.create(model="gpt-4.1-mini", input="x")
        circuits = httpx.get(url + "/admin/circuits").json()
        assert {p["kind"] for p in circuits["providers"].values()} == {"simulated"}
        deadline = time.monotonic() + 30
        while httpx.get(url + "/admin/usage").json()["total"]["requests"] < 10:
            assert time.monotonic() < deadline, "the sample traffic did not arrive"
            time.sleep(0.2)
        assert httpx.get(url + "/dashboard").status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert code in (0, -signal.SIGTERM), output  # uvicorn re-raises the signal it handled
    assert "SIMULATED" in output and f"{url}/dashboard" in output
    assert (tmp_path / "gateway-demo.db").is_file() and not (tmp_path / "gateway.db").exists()
