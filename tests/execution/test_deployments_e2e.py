"""One model served by two deployments, through the gateway: load spread, sticky users, a dead
deployment skipped before the model's fallbacks, and a breaker per deployment."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import rows

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeOpenAI, FakeOpenAI]]:
    """Deployment a, deployment b, and the model's fallback."""
    started = [FakeOpenAI().start() for _ in range(3)]
    yield started[0], started[1], started[2]
    for fake in started:
        fake.stop()


def setup(make_gateway: Callable[..., GatewayServer], fakes: tuple[FakeOpenAI, ...],
          strategy: str = "least_busy", **sections: Any) -> GatewayServer:
    a, b, spare = fakes
    providers = {"pa": {"kind": "openai", "base_url": a.url, "api_key": "k"},
                 "pb": {"kind": "openai", "base_url": b.url, "api_key": "k"},
                 "ps": {"kind": "openai", "base_url": spare.url, "api_key": "k"}}
    models = [
        {"id": "qwen", "provider": "pa", "upstream": "qwen-7b", "fallbacks": ["spare"],
         "deployments": [{"provider": "pa"}, {"provider": "pb", "upstream": "qwen-7b-b"}],
         "deployment_strategy": strategy},
        {"id": "spare", "provider": "ps"},
    ]
    return make_gateway(providers, models, **sections)


def test_least_busy_spreads_concurrent_load(make_gateway, fakes) -> None:
    a, b, _ = fakes
    slow = Reply(content="ok", delay_s=0.3)
    a.default = b.default = slow
    server = setup(make_gateway, fakes)
    client = server.client()
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda _: client.chat.completions.create(
            model="qwen", messages=MESSAGES), range(24)))
    assert all(x.model == "qwen" for x in answers)
    assert a.hits + b.hits == 24
    assert min(a.hits, b.hits) >= 6  # in-flight counts steer requests to the idle deployment
    assert {r["model"] for r in a.requests} == {"qwen-7b"}
    assert {r["model"] for r in b.requests} == {"qwen-7b-b"}  # each deployment's own name


def test_consistent_hash_keeps_a_user_on_one_deployment(make_gateway, fakes) -> None:
    a, b, _ = fakes
    server = setup(make_gateway, fakes, strategy="consistent_hash")
    client = server.client()
    seen: dict[str, set[str]] = {}
    for user in (f"user-{i}" for i in range(20)):
        for _ in range(3):
            before = (a.hits, b.hits)
            client.chat.completions.create(model="qwen", messages=MESSAGES, user=user)
            seen.setdefault(user, set()).add("a" if a.hits > before[0] else "b")
    assert all(len(where) == 1 for where in seen.values())  # sticky: the prompt cache stays warm
    assert {"a", "b"} == set().union(*seen.values())  # and users are spread over both


def test_a_failed_deployment_is_skipped_before_the_fallbacks(make_gateway, fakes) -> None:
    a, b, spare = fakes
    a.default = Reply(status=503)
    server = setup(make_gateway, fakes, reliability={"retries": 0})
    answer = server.client().chat.completions.create(model="qwen", messages=MESSAGES,
                                                     user="x")
    assert answer.model == "qwen" and spare.hits == 0
    assert b.hits == 1 and a.hits <= 1
    attempts = [(r["model"], r["provider"], r["status"]) for r in rows(server, "attempts")]
    assert attempts[-1] == ("qwen", "pb", "success")


def test_each_deployment_has_its_own_breaker(make_gateway, fakes) -> None:
    a, _, spare = fakes
    a.default = Reply(status=503)
    server = setup(make_gateway, fakes, strategy="consistent_hash", reliability={
        "retries": 0, "circuit_breaker": {"failure_threshold": 1, "cooldown_s": 300}})
    client = server.client()
    users = iter(f"user-{i}" for i in range(100))
    first = ""
    for first in users:  # until a user whose place on the ring is deployment a
        assert client.chat.completions.create(model="qwen", messages=MESSAGES,
                                              user=first).model == "qwen"
        if a.hits:
            break
    assert a.hits == 1
    for again in [first, *list(users)[:5]]:  # that user again, and others
        assert client.chat.completions.create(model="qwen", messages=MESSAGES,
                                              user=again).model == "qwen"
    assert a.hits == 1  # its circuit opened at the first failure: it gets nothing more
    assert spare.hits == 0
    health = httpx.get(server.url + "/health").json()
    assert health["models"]["qwen@pa"]["circuit"] == "open"
    assert health["models"]["qwen@pb"]["circuit"] == "closed"
    assert health["models"]["qwen"]["circuit"] == "closed"


def test_every_deployment_down_falls_back_to_the_next_model(make_gateway, fakes) -> None:
    a, b, spare = fakes
    a.default = b.default = Reply(status=503)
    server = setup(make_gateway, fakes, reliability={"retries": 0})
    answer = server.client().chat.completions.create(model="qwen", messages=MESSAGES)
    assert answer.model == "spare" and spare.hits == 1
