"""Two `gateway serve` processes behind one imaginary load balancer, sharing one PostgreSQL log and
one Redis: rows from both in one table, an rpm limit, a budget and a circuit held across both,
stored responses and feedback found through either, a concurrent burst that cannot overspend,
none lost at SIGTERM, and Redis stopped under them.

The pair (`pair`) is started once for the module; each test takes its own key (and so its own
limits and budget) or its own model, so the tests do not see each other's counters.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

from gateway.usage.reports import LogReader
from tests.conftest import openai_models
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import ROOT, GatewayProcess, config_dict
from tests.servers import PostgresServer, RedisServer

MESSAGES = [{"role": "user", "content": "hi"}]
RPM = 20  # one request every 3 s once the burst of 20 is used
BUDGET_USD = 0.00005  # below one answer of the fake ($0.0001: 12 tokens in, 7 out)
BURST_USD = 0.001
REFRESH_S = 1.0  # how often an instance reads the circuits others published (BreakerSync)
KEYS = [
    {"name": "ops", "key": "sk-ops", "role": "admin"},
    {"name": "team-log", "key": "sk-log", "role": "client"},
    {"name": "team-a", "key": "sk-a", "role": "client"},
    {"name": "team-b", "key": "sk-b", "role": "client"},
    {"name": "team-rate", "key": "sk-rate", "role": "client", "rpm": RPM},
    {"name": "team-budget", "key": "sk-budget", "role": "client", "daily_usd": BUDGET_USD},
    {"name": "team-burst", "key": "sk-burst", "role": "client", "daily_usd": BURST_USD},
]


def gateway_tree(workdir: Path, fake: FakeOpenAI, pg_url: str, redis_url: str,
                 flaky: FakeOpenAI | None = None, flush_s: float = 0.05) -> dict[str, Any]:
    providers = {"fake": {"kind": "openai", "base_url": fake.url, "api_key": "k"}}
    models = openai_models()
    if flaky is not None:
        providers["flaky"] = {"kind": "openai", "base_url": flaky.url, "api_key": "k"}
        models.append({"id": "flaky", "provider": "flaky", "input_usd_per_mtok": 1,
                       "output_usd_per_mtok": 1})
    tree = config_dict(workdir / "unused.db", providers, models,
                       database={"url": pg_url, "flush_interval_s": flush_s},
                       state={"url": redis_url}, auth={"api_keys": KEYS})
    tree["reliability"]["circuit_breaker"] = {"failure_threshold": 2, "cooldown_s": 60}
    return tree


def read_rows(pg_url: str, api_key: str | None = None) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        reader = LogReader(pg_url)
        try:
            return await reader.recent(10_000)
        finally:
            await reader.aclose()

    rows = asyncio.run(read())
    return [r for r in rows if api_key is None or r["api_key"] == api_key]


def wait_for(check: Callable[[], Any], within_s: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached in {within_s} s")
        time.sleep(0.02)


def logged(pg_url: str, api_key: str, n: int) -> list[dict[str, Any]]:
    """The key's rows, once all `n` of them reached the log (the writers batch)."""
    return wait_for(lambda: (r := read_rows(pg_url, api_key)) and len(r) >= n and r,
                    what=f"{n} rows of {api_key}")


@dataclass
class Pair:
    a: GatewayProcess
    b: GatewayProcess
    fake: FakeOpenAI
    flaky: FakeOpenAI
    pg_url: str
    redis: RedisServer


@pytest.fixture(scope="module")
def pair(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("pair")
    pg_url = postgres_server.create_database("pair")
    with FakeOpenAI() as fake, FakeOpenAI(Reply(status=500)) as flaky:
        redis = RedisServer().start()
        # a log flushed every 0.5 s: a request's row is not in PostgreSQL at once (as in production)
        tree = gateway_tree(workdir, fake, pg_url, redis.url, flaky,  # type: ignore[arg-type]
                            flush_s=0.5)
        a = GatewayProcess(tree, workdir)
        b = GatewayProcess(tree, workdir)
        try:
            a.start()
            b.start()
            yield Pair(a, b, fake, flaky, pg_url, redis)  # type: ignore[arg-type]
        finally:
            for proc in (a, b):
                proc.stop()
            redis.close()


def test_rows_from_both_instances_land_in_one_table_and_every_reader_sees_them(pair: Pair
                                                                              ) -> None:
    ids = set()
    for proc in (pair.a, pair.b) * 5:
        raw = proc.client("sk-log").chat.completions.with_raw_response.create(
            model="gpt-fake", messages=MESSAGES)
        ids.add(raw.headers["x-request-id"])
    rows = logged(pair.pg_url, "team-log", 10)
    assert {r["id"] for r in rows} == ids and len(ids) == 10
    assert {r["status"] for r in rows} == {"success"}
    with pair.b.http("sk-ops") as http:  # either instance reports on both's traffic
        usage = http.get("/admin/usage", params={"by": "key"}).json()
    assert next(g for g in usage["groups"] if g["key"] == "team-log")["requests"] == 10

    def cli(*args: str) -> Any:
        done = subprocess.run([sys.executable, "-m", "gateway", *args, "--config",
                               str(pair.a.path), "--json"], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    costs = cli("costs", "--by", "key")
    team = next(g for g in costs["groups"] if g["key"] == "team-log")
    assert team["requests"] == 10 and team["cost_usd"] == pytest.approx(10 * 0.0001)
    assert ids <= {r["id"] for r in cli("logs", "--tail", "1000")}


def test_an_rpm_limit_is_shared_and_the_sdk_waits_as_told(pair: Pair) -> None:
    def call(i: int) -> int:
        proc = (pair.a, pair.b)[i % 2]
        return proc.client("sk-rate").chat.completions.with_raw_response.create(
            model="gpt-fake", messages=MESSAGES).http_response.status_code

    with concurrent.futures.ThreadPoolExecutor(10) as pool:  # the minute's 20, half on each
        assert list(pool.map(call, range(RPM))) == [200] * RPM
    with pytest.raises(openai.RateLimitError) as info:  # each instance alone saw only 10
        pair.b.client("sk-rate").chat.completions.create(model="gpt-fake", messages=MESSAGES)
    refused = info.value.response
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    wait_s = float(refused.headers["retry-after-ms"]) / 1000
    assert 0 < wait_s <= 60 / RPM and int(refused.headers["retry-after"]) >= 1
    # The SDK's own retry: its default backoff (0.5-1 s) would come back too early and be
    # refused again; one retry that succeeds is one that waited as retry-after said.
    hits = pair.fake.hits
    reply = pair.a.client("sk-rate", max_retries=1).chat.completions.create(
        model="gpt-fake", messages=MESSAGES)
    assert reply.choices[0].message.content and pair.fake.hits == hits + 1
    rows = logged(pair.pg_url, "team-rate", RPM + 3)
    assert sorted(r["http_status"] for r in rows) == [200] * (RPM + 1) + [429] * 2


def test_a_budget_spent_through_one_instance_is_refused_by_the_other(pair: Pair) -> None:
    pair.a.client("sk-budget").chat.completions.create(model="gpt-fake", messages=MESSAGES,
                                                       max_tokens=1)  # fits; costs $0.0001

    def spent() -> float:
        with pair.b.http("sk-ops") as http:
            report = http.get("/admin/budget").json()
        return float(report["scopes"]["team-budget"]["daily_spent_usd"])

    wait_for(lambda: spent() > BUDGET_USD, what="the spend settled on Redis")  # ms after the answer
    hits = pair.fake.hits
    with pytest.raises(openai.RateLimitError) as info:  # the SDK would retry twice: it does not
        pair.b.client("sk-budget", max_retries=2).chat.completions.create(
            model="gpt-fake", messages=MESSAGES, max_tokens=1)
    refused = info.value.response
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.headers["x-should-retry"] == "false"
    assert "key 'team-budget' daily budget" in refused.json()["error"]["message"]
    assert pair.fake.hits == hits
    assert [r["http_status"] for r in logged(pair.pg_url, "team-budget", 2)] == [429, 200]


def test_a_circuit_opened_by_one_instance_is_respected_by_the_other(pair: Pair) -> None:
    with pytest.raises(openai.APIStatusError) as info:  # two failed attempts: the circuit opens
        pair.a.client("sk-a").chat.completions.create(model="flaky", messages=MESSAGES)
    assert info.value.status_code in (502, 503) and pair.flaky.hits == 2
    opened = time.monotonic()

    def open_on_b() -> bool:
        with pair.b.http() as http:
            return http.get("/health").json()["models"]["flaky"]["circuit"] == "open"

    wait_for(open_on_b, within_s=REFRESH_S + 1.5, what="B sees A's open circuit")
    took = time.monotonic() - opened
    with pytest.raises(openai.APIStatusError) as refused:
        pair.b.client("sk-a").chat.completions.create(model="flaky", messages=MESSAGES)
    assert refused.value.status_code == 503, took
    assert "circuit" in refused.value.response.json()["error"]["message"]
    assert pair.flaky.hits == 2  # B did not call the upstream A found broken
    with pair.b.http("sk-ops") as http:  # a reset on one instance closes it on the other
        assert http.post("/admin/circuits/flaky/reset").status_code == 200

    def closed_on_a() -> bool:
        with pair.a.http() as http:
            return http.get("/health").json()["models"]["flaky"]["circuit"] == "closed"

    wait_for(closed_on_a, within_s=REFRESH_S + 1.5, what="A sees B's reset")


def test_responses_and_feedback_are_found_through_either_instance_by_their_key_only(
    pair: Pair
) -> None:
    pair.fake.enqueue(Reply(content="My name is Gate."))
    first = pair.a.client("sk-a").responses.create(model="gpt-fake", input="Your name?")
    pair.fake.enqueue(Reply(content="I said Gate."))
    second = pair.b.client("sk-a").responses.create(model="gpt-fake", input="Again?",
                                                     previous_response_id=first.id)
    assert [m["content"] for m in pair.fake.requests[-1]["messages"]] == [
        "Your name?", "My name is Gate.", "Again?"]
    assert pair.a.client("sk-a").responses.retrieve(second.id).output_text == "I said Gate."
    for proc in (pair.a, pair.b):
        with pytest.raises(openai.NotFoundError):
            proc.client("sk-b").responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            proc.client("sk-b").responses.create(model="gpt-fake", input="x",
                                                 previous_response_id=first.id)
    assert pair.b.client("sk-ops").responses.retrieve(first.id).id == first.id

    # feedback posted to the other instance at once, before the writer flushed the row there
    raw = pair.a.client("sk-a").chat.completions.with_raw_response.create(
        model="gpt-fake", messages=MESSAGES)
    rid = raw.headers["x-request-id"]
    with pair.b.http("sk-b") as other:
        theirs = other.post("/v1/feedback", json={"request_id": rid, "outcome": "failure"})
        unknown = other.post("/v1/feedback", json={"request_id": "req_nope", "outcome": "failure"})
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error"]["message"].replace(rid, "ID") == (
        unknown.json()["error"]["message"].replace("req_nope", "ID"))
    with pair.b.http("sk-a") as own:
        done = own.post("/v1/feedback", json={"request_id": rid, "outcome": "success"})
    assert done.status_code == 200, done.text


def test_a_concurrent_burst_cannot_overspend_a_small_budget(pair: Pair) -> None:
    n = 48

    def call(i: int) -> tuple[int, str | None]:
        proc = (pair.a, pair.b)[i % 2]
        try:
            proc.client("sk-burst").chat.completions.create(
                model="gpt-fake", messages=MESSAGES, max_tokens=16)
            return 200, None
        except openai.APIStatusError as exc:
            return exc.status_code, exc.response.json()["error"]["code"]

    pair.fake.default = Reply(delay_s=0.5)  # every admitted request is in flight at once
    try:
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            outcomes = list(pool.map(call, range(n)))
    finally:
        pair.fake.default = Reply()
    admitted = [o for o in outcomes if o[0] == 200]
    assert len(admitted) >= 2 and set(outcomes) - {(200, None)} == {(429, "budget_exceeded")}
    rows = logged(pair.pg_url, "team-burst", n)
    spent = sum(r["cost_usd"] or 0.0 for r in rows)
    # each answer costs less than its worst case (16 tokens out at most), so the spend stays
    # within the limit itself: the contract's bound (limit + one worst case) with room to spare
    assert spent <= BURST_USD, (spent, len(admitted))
    assert len([r for r in rows if r["status"] == "success"]) == len(admitted)


def test_sigterm_with_requests_in_flight_loses_no_row_on_postgresql(
    tmp_path: Path, fake_openai: FakeOpenAI, pg_url: str, redis_server: RedisServer
) -> None:
    fake_openai.default = Reply(delay_s=1.0)
    with_password = pg_url.replace("postgres@", "postgres:s3cret@")  # the test server trusts all
    proc = GatewayProcess(gateway_tree(tmp_path, fake_openai, with_password, redis_server.url),
                          tmp_path).start()
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(lambda: proc.client("sk-log").chat.completions
                                   .with_raw_response.create(model="gpt-fake", messages=MESSAGES)
                                   .http_response.status_code) for _ in range(20)]
            wait_for(lambda: fake_openai.hits == 20, what="20 requests in flight")
            assert proc.terminate() in (0, -signal.SIGTERM)
            statuses = [f.result() for f in futures]
    finally:
        proc.kill()
    assert statuses == [200] * 20
    assert len(read_rows(pg_url)) == 20
    assert "postgres:***@" in proc.output() and "s3cret" not in proc.output()


def test_redis_stopped_under_two_instances(tmp_path: Path, fake_openai: FakeOpenAI,
                                           pg_url: str) -> None:
    """They keep serving on in-process state and say so; once Redis is back, the spend each
    counted meanwhile is added to what Redis kept, so the shared total is the log's."""
    redis = RedisServer(persist=True).start()  # as compose.yaml runs it (appendonly)
    tree = gateway_tree(tmp_path, fake_openai, pg_url, redis.url)
    a, b = GatewayProcess(tree, tmp_path), GatewayProcess(tree, tmp_path)
    try:
        a.start()
        b.start()
        sdk = {p: p.client("sk-burst") for p in (a, b)}

        def ask(proc: GatewayProcess) -> None:
            sdk[proc].chat.completions.create(model="gpt-fake", messages=MESSAGES, max_tokens=16)

        def state(proc: GatewayProcess) -> dict[str, Any]:
            with proc.http() as http:
                return dict(http.get("/health").json()["state"])

        def budget(proc: GatewayProcess) -> dict[str, Any]:
            with proc.http("sk-ops") as http:
                return dict(http.get("/admin/budget").json()["scopes"]["team-burst"])

        for proc in (a, b):
            ask(proc)
        # a request is settled after its answer; one still in flight when Redis stops may have
        # reached it and is then replayed (counted twice, the side of not overspending, as
        # state/resilient.py says): stop Redis only once both settlements are in
        before = sum(r["cost_usd"] for r in logged(pg_url, "team-burst", 2))
        wait_for(lambda: budget(a)["daily_spent_usd"] == pytest.approx(before, rel=1e-9)
                 and budget(a)["daily_reserved_usd"] == 0, what="both settled in Redis")
        redis.stop()
        for proc in (a, b, a, a, b):
            ask(proc)  # served on in-process state
        for proc in (a, b):  # each noticed (a request, or the circuit sharing every second)
            wait_for(lambda p=proc: state(p)["connected"] is False, what="connected: false")
            assert state(proc)["fallback"] == "in-process"
        assert "unreachable" in a.output() and "in-process state" in a.output()
        redis.start()
        for proc in (a, b):
            wait_for(lambda p=proc: state(p)["connected"] is True, what="connected again")
        rows = logged(pg_url, "team-burst", 7)
        total = sum(r["cost_usd"] for r in rows)
        for proc in (a, b):
            scope = budget(proc)
            assert scope["daily_spent_usd"] == pytest.approx(total, rel=1e-9)
            assert scope["daily_reserved_usd"] == 0
        assert "reachable again" in a.output()
    finally:
        for proc in (a, b):
            proc.stop()
        redis.close()
