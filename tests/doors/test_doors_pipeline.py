"""The three doors on the steps every request shares, through the official SDKs and the real
gateway: fallback across kinds of provider, budgets (a 429 in each door's own shape that its
SDK does not retry), spend settled against the budget, and exactly one log row per request
with its `endpoint`."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.doors.conftest import ADMIN_KEY, KEY_A, cost, openai_model, start
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI, vector
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import logged, rows
from tests.spec import members, validate

CLAUDE_PRICE = {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}
CLAUDE = {"id": "claude", "provider": "an", "upstream": "claude-sonnet-4-5", **CLAUDE_PRICE,
          "capabilities": ["tools", "vision", "json", "streaming"]}
EMBED_PRICE = 0.02  # USD per million input tokens; embeddings have no output tokens


def embedder(model_id: str, provider: str, **extra: Any) -> dict[str, Any]:
    return {"id": model_id, "provider": provider, "upstream": "embed-up",
            "input_usd_per_mtok": EMBED_PRICE, "output_usd_per_mtok": 0,
            "capabilities": ["embeddings"], **extra}


@pytest.fixture(scope="module")
def backup() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_backup(request: pytest.FixtureRequest) -> None:
    if "backup" in request.fixturenames:
        request.getfixturevalue("backup").queue.clear()


def providers(fake: FakeOpenAI, fake_anthropic: FakeAnthropic, backup: FakeOpenAI
              ) -> dict[str, Any]:
    return {"oa": {"kind": "openai", "base_url": fake.url, "api_key": "sk-oa"},
            "an": {"kind": "anthropic", "base_url": fake_anthropic.base_url, "api_key": "sk-an"},
            "bk": {"kind": "openai", "base_url": backup.url, "api_key": "sk-bk"}}


@pytest.fixture(scope="module")
def server(fake: FakeOpenAI, fake_anthropic: FakeAnthropic, backup: FakeOpenAI,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    gw = start(tmp_path_factory.mktemp("shared"), providers(fake, fake_anthropic, backup), [
        {**CLAUDE, "fallbacks": ["gpt"]},
        openai_model("gpt", "oa", fallbacks=["claude"]),
        embedder("embed-a", "oa", fallbacks=["embed-b"]),
        embedder("embed-b", "bk"),
    ])
    yield gw
    gw.__exit__(None, None, None)


def attempts(row: dict[str, Any]) -> list[tuple[str, int | None]]:
    return [(a["model"], a["http_status"]) for a in row["attempts_rows"]]


# -- fallback across kinds of provider --------------------------------------------------------


def test_responses_fall_back_to_an_anthropic_kind_model(
        server: GatewayServer, fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    """Responses are translated to chat completions for every upstream: Anthropic's adapter
    takes the chat body like any other."""
    fake.enqueue(Reply(status=503), Reply(status=503))
    fake_anthropic.enqueue(Reply(content="From Claude.", prompt_tokens=14, completion_tokens=3))
    raw = server.client(KEY_A).responses.with_raw_response.create(
        model="gpt", input="hi", instructions="Be brief.")
    body = orjson.loads(raw.content)
    validate("Response", body)
    assert body["model"] == "claude" and raw.parse().output_text == "From Claude."
    sent = fake_anthropic.requests[-1]
    assert (sent["system"], sent["messages"]) == ("Be brief.", [{"role": "user", "content": "hi"}])
    row = logged(server, raw.headers["x-request-id"])
    assert attempts(row) == [("gpt", 503), ("gpt", 503), ("claude", 200)]
    assert (row["endpoint"], row["cost_usd"]) == ("responses", cost(14, 3, price=CLAUDE_PRICE))


def test_responses_stream_falls_back_before_its_first_byte(
        server: GatewayServer, fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.enqueue(Reply(status=529), Reply(status=529))
    fake.enqueue(Reply(content="From GPT."))
    client = server.client(KEY_A)
    with client.responses.stream(model="claude", input="hi") as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert final.model == "gpt" and final.output_text == "From GPT."
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"


def test_embeddings_fall_back_to_another_embedding_model(
        server: GatewayServer, fake: FakeOpenAI, backup: FakeOpenAI) -> None:
    fake.enqueue(Reply(status=500), Reply(status=500))
    backup.enqueue(Reply(prompt_tokens=6))
    raw = server.client(KEY_A).embeddings.with_raw_response.create(
        model="embed-a", input="hello", encoding_format="float")
    result = raw.parse()
    assert result.model == "embed-b" and result.data[0].embedding == vector("hello", 8)
    row = logged(server, raw.headers["x-request-id"])
    assert attempts(row) == [("embed-a", 500), ("embed-a", 500), ("embed-b", 200)]
    assert (row["endpoint"], row["prompt_tokens"], row["completion_tokens"]) == (
        "embeddings", 6, 0)
    assert row["cost_usd"] == cost(6, 0, price={"input_usd_per_mtok": EMBED_PRICE,
                                                "output_usd_per_mtok": 0})


# -- budgets -----------------------------------------------------------------------------------


def calls(server: GatewayServer) -> dict[str, Callable[[], Any]]:
    """One request per door, through its SDK with the SDK's own retries on (their default)."""
    claude_code = anthropic.Anthropic(base_url=server.url, api_key=KEY_A)
    client = server.client(KEY_A, max_retries=2)
    return {
        "messages": lambda: claude_code.messages.create(
            model="auto", max_tokens=64, messages=[{"role": "user", "content": "hi"}]),
        "responses": lambda: client.responses.create(model="auto", input="hi"),
        "embeddings": lambda: client.embeddings.create(model="embed-a", input="hi"),
    }


def test_over_budget_is_a_429_in_each_doors_shape_and_no_sdk_retries(
        tmp_path: Path, fake: FakeOpenAI, fake_anthropic: FakeAnthropic, backup: FakeOpenAI
) -> None:
    gw = start(tmp_path, providers(fake, fake_anthropic, backup),
               [openai_model("gpt", "oa"), embedder("embed-a", "oa")],
               budgets={"per_request_usd": 1e-9})
    hits = fake.hits
    errors: dict[str, Any] = {}
    for door, call in calls(gw).items():
        with pytest.raises((anthropic.RateLimitError, openai.RateLimitError)) as info:
            call()
        errors[door] = info.value
        assert info.value.response.headers["x-should-retry"] == "false"
    assert errors["messages"].body["type"] == "error"
    assert errors["messages"].body["error"]["type"] == "rate_limit_error"
    assert "budget" in errors["messages"].body["error"]["message"]
    for door in ("responses", "embeddings"):
        assert errors[door].body["code"] == "budget_exceeded"
        assert errors[door].body["type"] == "insufficient_quota"
    assert fake.hits == hits  # nothing went upstream
    logged_rows = rows(gw)  # one per request: the SDKs did not retry
    assert sorted((r["endpoint"], r["http_status"]) for r in logged_rows) == [
        ("embeddings", 429), ("messages", 429), ("responses", 429)]


def test_spend_is_settled_against_the_budget(tmp_path: Path, fake: FakeOpenAI,
                                             fake_anthropic: FakeAnthropic,
                                             backup: FakeOpenAI) -> None:
    """What each door's request really cost (not its worst case) is what the budget spent."""
    gw = start(tmp_path, providers(fake, fake_anthropic, backup),
               [openai_model("gpt", "oa"), embedder("embed-a", "oa")],
               budgets={"daily_usd": 5.0})
    fake.enqueue(Reply(prompt_tokens=100, completion_tokens=10, cached_tokens=40),
                 Reply(prompt_tokens=50, completion_tokens=5), Reply(prompt_tokens=8))
    for call in calls(gw).values():
        call()
    expected = cost(100, 10, cached=40) + cost(50, 5) + cost(
        8, 0, price={"input_usd_per_mtok": EMBED_PRICE, "output_usd_per_mtok": 0})
    admin = httpx.Client(base_url=gw.url, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    deadline = time.monotonic() + 10
    while True:  # settling runs just after each answer
        report = admin.get("/admin/budget").json()["scopes"]["global"]
        if report["daily_reserved_usd"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert report["daily_spent_usd"] == pytest.approx(expected, abs=1e-10)
    assert report["daily_reserved_usd"] == 0
    logged_rows = rows(gw)
    assert sorted(r["endpoint"] for r in logged_rows) == ["embeddings", "messages", "responses"]
    assert sum(r["cost_usd"] for r in logged_rows) == pytest.approx(expected, abs=1e-10)


# -- the log -----------------------------------------------------------------------------------


def test_one_row_per_request_whatever_the_door_and_however_it_ends(
        tmp_path: Path, fake: FakeOpenAI, fake_anthropic: FakeAnthropic, backup: FakeOpenAI
) -> None:
    gw = start(tmp_path, providers(fake, fake_anthropic, backup),
               [openai_model("gpt", "oa"), embedder("embed-a", "oa")])
    messages = anthropic.Anthropic(base_url=gw.url, api_key=KEY_A, max_retries=0)
    client = gw.client(KEY_A)
    ids: dict[str, tuple[str, int]] = {}

    def note(headers: Any, endpoint: str, status: int) -> None:
        ids[headers["x-request-id"]] = (endpoint, status)

    note(messages.messages.with_raw_response.create(
        model="gpt", max_tokens=8, messages=[{"role": "user", "content": "a"}]).headers,
        "messages", 200)
    with messages.messages.stream(model="gpt", max_tokens=8,
                                  messages=[{"role": "user", "content": "b"}]) as stream:
        stream.get_final_message()
        note(stream.response.headers, "messages", 200)
    note(client.responses.with_raw_response.create(model="gpt", input="c").headers,
         "responses", 200)
    with client.responses.with_streaming_response.create(model="gpt", input="d",
                                                         stream=True) as r:
        events = [line for line in r.iter_lines() if line.startswith("event:")]
        assert events[-1] == "event: response.completed"
        note(r.headers, "responses", 200)
    note(client.embeddings.with_raw_response.create(model="embed-a", input="e").headers,
         "embeddings", 200)
    fake.enqueue(Reply(status=503), Reply(status=503))
    with pytest.raises(anthropic.InternalServerError) as failed:
        messages.messages.create(model="gpt", max_tokens=8,
                                 messages=[{"role": "user", "content": "f"}])
    note(failed.value.response.headers, "messages", 502)
    with pytest.raises(openai.BadRequestError) as bad:
        client.embeddings.create(model="gpt", input="g")  # no embeddings capability
    assert bad.value.body["param"] == "model"  # type: ignore[index]
    note(bad.value.response.headers, "embeddings", 400)
    logged_rows = rows(gw)
    assert {r["id"]: (r["endpoint"], r["http_status"]) for r in logged_rows} == ids
    assert all(r["cost_usd"] for r in logged_rows if r["http_status"] == 200)


def test_stream_events_of_a_fallback_are_valid(server: GatewayServer, fake: FakeOpenAI,
                                               fake_anthropic: FakeAnthropic) -> None:
    """The events of a Responses stream answered by an Anthropic-kind model, one by one
    against the spec."""
    fake.enqueue(Reply(status=503), Reply(status=503))
    fake_anthropic.enqueue(Reply(tool_calls=[{"id": "toolu_9", "name": "lookup",
                                              "arguments": '{"q": "x"}'}]))
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object"}}
    with httpx.stream("POST", server.url + "/v1/responses", timeout=10,
                      headers={"authorization": f"Bearer {KEY_A}"},
                      json={"model": "gpt", "input": "find x", "tools": [tool],
                            "stream": True}) as r:
        frames = [f for f in r.read().split(b"\n\n") if f]
    events = [orjson.loads(f.split(b"\n")[1].removeprefix(b"data: ")) for f in frames]
    for n, event in enumerate(events):
        assert event["sequence_number"] == n
        validate(members("ResponseStreamEvent")[event["type"]], event)
    done = events[-1]["response"]
    assert done["model"] == "claude" and done["output"][0]["call_id"] == "toolu_9"
    assert orjson.loads(done["output"][0]["arguments"]) == {"q": "x"}


def test_refusals_in_each_doors_shape(tmp_path: Path, fake: FakeOpenAI,
                                      fake_anthropic: FakeAnthropic, backup: FakeOpenAI) -> None:
    """A key past its rpm gets a 429 with `retry-after` (its SDK waits and retries: this one is
    not final); a body over `server.max_body_mb` a 413; each in the door's own shape."""
    keys = [{"name": "slow", "key": "slow-key", "role": "client", "rpm": 1}]
    gw = start(tmp_path, providers(fake, fake_anthropic, backup),
               [openai_model("gpt", "oa"), embedder("embed-a", "oa")],
               auth={"api_keys": keys}, server={"max_body_mb": 0.01})
    claude_code = anthropic.Anthropic(base_url=gw.url, api_key="slow-key", max_retries=0)
    ask = [{"role": "user", "content": "hi"}]
    claude_code.messages.create(model="gpt", max_tokens=8, messages=ask)  # type: ignore[arg-type]
    with pytest.raises(anthropic.RateLimitError) as limited:
        claude_code.messages.create(model="gpt", max_tokens=8, messages=ask)  # type: ignore[arg-type]
    assert limited.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert "x-should-retry" not in limited.value.response.headers

    big = "x" * 20_000
    bodies = {"/v1/messages": {"model": "gpt", "max_tokens": 8,
                               "messages": [{"role": "user", "content": big}]},
              "/v1/responses": {"model": "gpt", "input": big},
              "/v1/embeddings": {"model": "embed-a", "input": big}}
    for path, body in bodies.items():
        r = httpx.post(gw.url + path, json=body, timeout=10,
                       headers={"authorization": "Bearer slow-key"})
        assert r.status_code == 413, (path, r.text)
        if path == "/v1/messages":
            assert r.json()["error"]["type"] == "request_too_large"
        else:
            assert r.json()["error"]["code"] == "payload_too_large"
