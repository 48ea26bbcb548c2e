"""A/B experiments through the gateway: sticky arms per user, the header and the log columns,
feedback per arm, and the report's counts."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.gateway_server import GatewayServer
from tests.logdb import rows

EXPERIMENT = {"name": "mini-vs-big", "match": {"model": "auto"}, "unit": "user",
              "arms": [{"name": "a", "model": "mini", "weight": 50},
                       {"name": "b", "model": "big", "weight": 50}]}


def models() -> list[dict[str, Any]]:
    return [{"id": "mini", "provider": "fake", "quality": 0.7, "input_usd_per_mtok": 0.1,
             "output_usd_per_mtok": 0.4},
            {"id": "big", "provider": "fake", "quality": 0.95, "input_usd_per_mtok": 5,
             "output_usd_per_mtok": 15}]


def test_arms_are_sticky_per_user_and_reported(make_gateway, fake_openai: FakeOpenAI) -> None:
    server: GatewayServer = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}}, models(),
        experiments=[EXPERIMENT])
    client = server.client()
    arm_of: dict[str, set[str]] = {}
    ids: list[tuple[str, str]] = []
    for i in range(40):
        user = f"user-{i}"
        for _ in range(2):
            raw = client.chat.completions.with_raw_response.create(
                model="auto", user=user, messages=[{"role": "user", "content": "Hello there"}])
            header = raw.headers["x-gateway-experiment"]
            name, _, arm = header.partition(":")
            assert name == "mini-vs-big"
            assert raw.headers["x-gateway-model"] == {"a": "mini", "b": "big"}[arm]
            arm_of.setdefault(user, set()).add(arm)
            ids.append((raw.headers["x-request-id"], arm))
    assert all(len(arms) == 1 for arms in arm_of.values())  # sticky
    split = Counter(next(iter(arms)) for arms in arm_of.values())
    assert split["a"] >= 10 and split["b"] >= 10  # both arms get users (50/50 weights)
    for request_id, arm in ids[:20]:  # feedback: arm b's answers rated better
        client.post("/feedback", cast_to=object, body={
            "request_id": request_id, "outcome": "success" if arm == "b" else "failure"})
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=server.url) as http:
        while True:
            report = http.get("/admin/experiments").json()["experiments"][0]
            counts = {a["name"]: a["requests"] for a in report["arms"]}
            if sum(counts.values()) == 80 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert counts == {"a": 2 * split["a"], "b": 2 * split["b"]}
    logged = Counter((r["experiment"], r["arm"]) for r in rows(server))
    assert logged == {("mini-vs-big", "a"): counts["a"], ("mini-vs-big", "b"): counts["b"]}


def test_a_request_the_experiment_does_not_match_is_left_alone(make_gateway,
                                                               fake_openai: FakeOpenAI) -> None:
    server: GatewayServer = make_gateway(
        {"fake": {"kind": "openai", "base_url": fake_openai.url, "api_key": "k"}}, models(),
        experiments=[EXPERIMENT])
    raw = server.client().chat.completions.with_raw_response.create(
        model="mini", messages=[{"role": "user", "content": "hi"}])
    assert "x-gateway-experiment" not in raw.headers
    (request,) = rows(server)
    assert request["experiment"] is None
