"""The live feed: WS /ws/routing through the running gateway, its keys and roles, and slow consumers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from gateway.telemetry.feed import FIELDS, RoutingFeed
from gateway.usage.events import RequestRecord
from tests.gateway_server import GatewayServer

SIM = {"sim": {"kind": "simulated", "simulate": {"latency_ms": 0, "tokens_per_s": 1_000_000}}}
MODELS = [{"id": "sim-a", "provider": "sim", "input_usd_per_mtok": 1, "output_usd_per_mtok": 4}]
KEYS = {"api_keys": [{"name": "ops", "key": "admin-secret", "role": "admin"},
                     {"name": "team", "key": "client-secret", "role": "client"}]}


@pytest.fixture
def sim(make_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    return make_gateway(SIM, MODELS)


@pytest.fixture
def with_keys(make_gateway: Callable[..., GatewayServer]) -> GatewayServer:
    return make_gateway(SIM, MODELS, auth=KEYS)


def ws_url(server: GatewayServer, query: str = "") -> str:
    return f"ws://127.0.0.1:{server.port}/ws/routing{query}"


def ask(server: GatewayServer, text: str, key: str = "k") -> str:
    raw = server.client(api_key=key).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": text}])
    return str(raw.headers["x-request-id"])


def test_one_message_per_finished_request(sim: GatewayServer) -> None:
    with connect(ws_url(sim)) as ws:
        ids = [ask(sim, f"Write a limerick about queue number {i}") for i in range(3)]
        with pytest.raises(Exception, match="does not exist"):
            sim.client().chat.completions.create(model="nope", messages=[{"role": "user",
                                                                          "content": "x"}])
        got = [orjson.loads(ws.recv(timeout=10)) for _ in range(4)]
    assert [m["id"] for m in got[:3]] == ids
    for m in got:
        assert set(FIELDS) <= set(m)
    ok = got[0]
    assert (ok["requested_model"], ok["model"], ok["provider"], ok["status"]) == (
        "auto", "sim-a", "sim", "success")
    assert ok["simulated"] is True and ok["task"] and ok["routing_reason"]
    assert ok["latency_ms"] > 0 and ok["cost_usd"] > 0
    assert (got[3]["status"], got[3]["requested_model"], got[3]["http_status"]) == (
        "error", "nope", 404)

    rows = {r["id"]: r for r in sim.http().get("/admin/requests?limit=10").json()["data"]}
    for m in got[:3]:
        assert m["cost_usd"] == pytest.approx(rows[m["id"]]["cost_usd"])
        assert m["model"] == rows[m["id"]]["model"]


def test_every_subscriber_gets_every_message(sim: GatewayServer) -> None:
    with connect(ws_url(sim)) as a, connect(ws_url(sim)) as b:
        rid = ask(sim, "hello")
        assert orjson.loads(a.recv(timeout=10))["id"] == rid
        assert orjson.loads(b.recv(timeout=10))["id"] == rid


def test_an_admin_key_is_required_when_auth_is_on(with_keys: GatewayServer) -> None:
    for query, headers, status in (("", {}, 401), ("?key=wrong", {}, 401),
                                   ("?key=client-secret", {}, 403),
                                   ("", {"Authorization": "Bearer client-secret"}, 403)):
        with pytest.raises(InvalidStatus) as refused:
            with connect(ws_url(with_keys, query), additional_headers=headers):
                pass
        response = refused.value.response
        assert response.status_code == status, query
        code = orjson.loads(response.body)["error"]["code"]
        assert code == ("permission_denied" if status == 403 else "invalid_api_key")

    admin = {"Authorization": "Bearer admin-secret"}
    with connect(ws_url(with_keys, "?key=admin-secret")) as by_query, \
            connect(ws_url(with_keys), additional_headers=admin) as by_header:
        rid = ask(with_keys, "hello", key="client-secret")
        for ws in (by_query, by_header):
            m = orjson.loads(ws.recv(timeout=10))
            assert (m["id"], m["api_key"]) == (rid, "team")


def test_shutdown_closes_the_feed(sim: GatewayServer) -> None:
    with connect(ws_url(sim)) as ws:
        ask(sim, "hello")
        ws.recv(timeout=10)
        sim.__exit__(None, None, None)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1001, 1012)


def record(i: int, **kw: Any) -> RequestRecord:
    return RequestRecord(id=f"r{i}", requested_model="auto", model="m", provider="p",
                         status="success", **kw)


def test_a_consumer_that_falls_behind_is_dropped_and_the_others_keep_up() -> None:
    async def main() -> None:
        feed = RoutingFeed(simulated={"p"}, queue_size=3)
        stuck, live = feed.subscribe(), feed.subscribe()
        got: list[str] = []
        for i in range(10):
            feed.on_finished(record(i))  # synchronous: never waits for a consumer
            got.append(await live.get())
        assert [orjson.loads(m)["id"] for m in got] == [f"r{i}" for i in range(10)]
        assert stuck.ended.is_set() and stuck.slow and "too slow" in stuck.reason
        assert stuck.queue.qsize() == 3, "a dropped consumer is offered nothing more"
        assert feed.subscribers == {live} and feed.dropped == 1
        assert orjson.loads(got[0])["simulated"] is True
        feed.close()
        assert live.ended.is_set() and not live.slow

    asyncio.run(main())


def test_no_subscriber_costs_no_encoding() -> None:
    feed = RoutingFeed()
    feed.on_finished(record(1, cost_usd=object()))  # type: ignore[arg-type]  (unencodable)
    assert feed.sent == 0
