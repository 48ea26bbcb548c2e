"""The dashboard's admin endpoints over real traffic: series, latency, routing; params and roles."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.gateway_server import GatewayServer

SIM = {"sim": {"kind": "simulated", "simulate": {"latency_ms": 2, "tokens_per_s": 100_000}}}
MODELS = [
    {"id": "cheap", "provider": "sim", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.4,
     "quality": 0.6},
    {"id": "smart", "provider": "sim", "input_usd_per_mtok": 3, "output_usd_per_mtok": 15,
     "quality": {"default": 0.95, "code": 0.99}},
]
KEYS = {"api_keys": [{"name": "ops", "key": "admin-secret", "role": "admin"},
                     {"name": "team", "key": "client-secret", "role": "client"}]}
ADMIN = {"Authorization": "Bearer admin-secret"}


@pytest.fixture
def server(make_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    return make_gateway(SIM, MODELS, auth=KEYS)


def traffic(server: GatewayServer) -> None:
    client = server.client(api_key="client-secret")
    for text in ("Write a Python function that merges two sorted lists",
                 "Fix this bug: for i in range(len(x)): x.remove(i)",
                 "What is the capital of Peru?", "hi there!"):
        client.chat.completions.create(model="auto", messages=[{"role": "user", "content": text}])
    client.chat.completions.create(model="cheap", messages=[{"role": "user", "content": "x"}])


def wait_logged(server: GatewayServer, n: int) -> None:
    deadline = time.monotonic() + 10
    with server.http() as http:
        while time.monotonic() < deadline:
            if http.get("/admin/usage", headers=ADMIN).json()["total"]["requests"] >= n:
                return
            time.sleep(0.05)
    raise AssertionError(f"{n} rows were not logged")


def test_series_latency_and_routing_agree_with_usage(server: GatewayServer) -> None:
    traffic(server)
    wait_logged(server, 5)
    with server.http() as http:
        usage = http.get("/admin/usage?since=1h&by=model", headers=ADMIN).json()
        series = http.get("/admin/series?since=1h&by=model", headers=ADMIN).json()
        by_key = http.get("/admin/series?since=1h&by=key", headers=ADMIN).json()
        latency = http.get("/admin/latency?since=15m", headers=ADMIN).json()
        routing = http.get("/admin/routing?since=1h", headers=ADMIN).json()
    assert series["bucket"] == "1m"
    assert sum(series["total"]["requests"]) == usage["total"]["requests"] == 5
    assert sum(series["total"]["cost_usd"]) == pytest.approx(usage["total"]["cost_usd"])
    for g in usage["groups"]:
        mine = next(s for s in series["series"] if s["key"] == g["key"])
        assert sum(mine["cost_usd"]) == pytest.approx(g["cost_usd"])
    assert [s["key"] for s in by_key["series"]] == ["team"]
    assert latency["bucket"] == "10s"
    assert latency["total"]["latency_ms"]["p50"] == pytest.approx(usage["total"]["p50_latency_ms"],
                                                                  rel=0.06)
    assert sum(c["requests"] for c in routing["cells"]) == 4  # the explicit request is not auto's
    assert "code" in routing["tasks"]


@pytest.mark.parametrize(("query", "param"), [
    ("/admin/series?by=day", "by"), ("/admin/series?since=yesterday", "since"),
    ("/admin/latency?bucket=5m", "bucket"), ("/admin/routing?since=-3", "since")])
def test_bad_parameters_are_named(server: GatewayServer, query: str, param: str) -> None:
    with server.http() as http:
        r = http.get(query, headers=ADMIN)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


@pytest.mark.parametrize("path", ["/admin/series", "/admin/latency", "/admin/routing"])
def test_admin_keys_only(server: GatewayServer, path: str) -> None:
    with server.http() as http:
        assert http.get(path).status_code == 401
        denied = http.get(path, headers={"Authorization": "Bearer client-secret"})
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "permission_denied"
        assert http.get(path, headers=ADMIN).status_code == 200
