"""POST /v1/route/batch and GET /admin/experiments on the running gateway (real HTTP), and
`decide_batch` alone with a scripted decide function."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gateway.api.batch import MAX_BATCH, decide_batch
from gateway.errors import InvalidRequest
from gateway.usage.events import RequestRecord
from gateway.usage.store import SqlSink
from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer, config_dict

MODELS = [
    {"id": "cheap", "provider": "fake", "input_usd_per_mtok": 0.1, "output_usd_per_mtok": 0.4,
     "quality": 0.7, "capabilities": ["streaming"]},
    {"id": "strong", "provider": "fake", "input_usd_per_mtok": 5, "output_usd_per_mtok": 20,
     "quality": 0.95, "capabilities": ["tools", "streaming"]},
]


def body(text: str, **kw: Any) -> dict[str, Any]:
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **kw}


@pytest.fixture
def server(tmp_path: Path, fake_openai: FakeOpenAI) -> Any:
    tree = config_dict(
        tmp_path / "gateway.db",
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "sk-fake"}},
        MODELS,
        experiments=[{"name": "cheap-vs-strong", "match": {"model": "auto"},
                      "arms": [{"name": "a", "model": "cheap"}, {"name": "b", "model": "strong"}]}],
    )
    with GatewayServer(tree) as gw:
        yield gw


def test_batch_decides_each_body_in_order_with_errors_in_place(server: GatewayServer) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    requests = [
        body("hello there"),
        {"model": "auto", "messages": []},  # invalid: empty messages
        body("call the tool", tools=tools),
        "not a body",
        body("hi", model="no-such-model"),
        body("hi", routing={"max_cost_usd": -1}),
        body("prove that sqrt(2) is irrational", model="auto:best"),
    ]
    with server.http() as http:
        single = [http.post("/v1/route", json=b).json() for b in (requests[0], requests[2])]
        res = http.post("/v1/route/batch", json={"requests": requests})
    assert res.status_code == 200
    out = res.json()["decisions"]
    assert len(out) == len(requests)
    assert out[0] == single[0] and out[2] == single[1]  # each as /v1/route returns it
    assert out[2]["model"] == "strong"  # the only model with tools
    assert out[1]["error"]["param"] == "requests[1].messages"
    assert out[1]["error"]["type"] == "invalid_request_error"
    assert out[3]["error"]["param"] == "requests[3]"
    assert out[4]["error"]["code"] == "model_not_found"
    assert out[4]["error"]["param"] == "requests[4].model"
    assert out[5]["error"]["param"] == "requests[5].routing.max_cost_usd"
    assert out[6]["profile"] == "best" and out[6]["model"] == "strong"
    for err in (out[1], out[3], out[4], out[5]):
        assert set(err["error"]) == {"message", "type", "param", "code"}


def test_batch_shape_errors_are_400_naming_requests(server: GatewayServer) -> None:
    with server.http() as http:
        too_many = http.post("/v1/route/batch",
                             json={"requests": [body("x")] * (MAX_BATCH + 1)})
        missing = http.post("/v1/route/batch", json={"bodies": []})
        not_json = http.post("/v1/route/batch", content=b"{nope")
        empty = http.post("/v1/route/batch", json={"requests": []})
        full = http.post("/v1/route/batch", json={"requests": [body(f"q {i}") for i in
                                                               range(MAX_BATCH)]})
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "requests"
    assert "1,001" in too_many.json()["error"]["message"]
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "requests"
    assert not_json.status_code == 400
    assert empty.json() == {"decisions": []}
    assert full.status_code == 200 and len(full.json()["decisions"]) == MAX_BATCH
    assert all("model" in d for d in full.json()["decisions"])


def test_decide_batch_keeps_going_after_a_bug_in_one_element() -> None:
    def decide(item: dict[str, Any]) -> Mapping[str, Any]:
        text = item["messages"][0]["content"]
        if text == "boom":
            raise KeyError("a bug")
        if text == "bad":
            raise InvalidRequest("bad thing", param="messages[0].content")
        return {"model": text}

    items = [body("a"), body("boom"), body("bad"), body("b")]
    out = asyncio.run(decide_batch({"requests": items}, decide))["decisions"]
    assert out[0] == {"model": "a"} and out[3] == {"model": "b"}
    assert out[1]["error"]["type"] == "api_error" and "KeyError" in out[1]["error"]["message"]
    assert out[2]["error"]["param"] == "requests[2].messages[0].content"


def test_admin_experiments_reports_the_log(server: GatewayServer) -> None:
    async def write() -> None:  # a row as the record step leaves it, by a second writer
        sink = SqlSink(server.config.database)
        await sink.start()
        sink.put(RequestRecord(id="r1", experiment="cheap-vs-strong", arm="a",
                               status="success", latency_ms=10.0))
        await sink.close()

    asyncio.run(write())
    with server.http() as http:
        deadline = time.monotonic() + 5
        while True:
            rep = http.get("/admin/experiments").json()
            arms = rep["experiments"][0]["arms"]
            if arms[0]["requests"] == 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        bad = http.get("/admin/experiments", params={"since": "yesterday"})
        recent = http.get("/admin/experiments", params={"since": "1h"}).json()
    assert rep["experiments"][0]["name"] == "cheap-vs-strong"
    assert [(a["name"], a["model"], a["requests"]) for a in arms] == [("a", "cheap", 1),
                                                                     ("b", "strong", 0)]
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "since"
    assert recent["since"] is not None and recent["experiments"][0]["arms"][0]["requests"] == 1
