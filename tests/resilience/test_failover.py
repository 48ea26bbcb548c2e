"""Failover without gaps: one loopback scenario per upstream failure, as a client sees it.

Each test asserts what the client received (complete text, one finish_reason, usage) and what
the upstreams saw (how many calls, how long between them). The primary and its fallback are
real HTTP servers on 127.0.0.1 speaking OpenAI's wire format; the client is the official SDK.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import rows
from tests.resilience.test_faults import two_providers
from tests.spec import validate

MESSAGES = [{"role": "user", "content": "Tell me a story."}]
FAST = {"retries": 1, "backoff": {"initial_s": 0.01, "max_s": 0.05},
        "timeouts": {"connect_s": 1, "first_token_s": 0.5, "idle_s": 0.3, "total_s": 10}}


def patient_backup(primary: FakeOpenAI, backup: FakeOpenAI) -> tuple[dict, list]:
    """The primary under FAST's tight limits; the backup, which these tests never make slow,
    with limits a loaded machine cannot trip, so only the primary's faults are under test."""
    providers, models = two_providers(primary, backup)
    providers["backup"]["timeouts"] = {"first_token_s": 10, "idle_s": 5}
    return providers, models


@pytest.fixture
def pair(make_gateway: Any, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI) -> GatewayServer:
    """`main` on the primary fake, falling back to `spare` on the backup fake."""
    server: GatewayServer = make_gateway(*patient_backup(fake_openai, fake_backup),
                                         reliability=FAST)
    return server


def streamed(server: GatewayServer, **extra: Any) -> tuple[str, list[Any]]:
    chunks = list(server.client().chat.completions.create(
        model="main", messages=MESSAGES, stream=True, **extra))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def one_answer(chunks: list[Any]) -> None:
    """One id, one role chunk, one finish_reason: what the client must see, cut or not."""
    assert len({c.id for c in chunks}) == 1
    roles = [c for c in chunks if c.choices and c.choices[0].delta.role]
    assert len(roles) == 1
    finishes = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1


# -- refusals and errors before anything was sent -------------------------------------------------


def test_429_with_retry_after_is_retried_after_the_wait(pair: GatewayServer, fake_openai):
    fake_openai.enqueue(Reply(status=429, headers={"retry-after": "0.4"}))
    started = time.monotonic()
    completion = pair.client().chat.completions.create(model="main", messages=MESSAGES)
    assert time.monotonic() - started >= 0.4
    assert completion.model == "main" and fake_openai.hits == 2


def test_429_with_a_long_retry_after_falls_back_at_once(pair: GatewayServer, fake_openai,
                                                        fake_backup):
    fake_openai.enqueue(Reply(status=429, headers={"retry-after": "120"}))
    started = time.monotonic()
    completion = pair.client().chat.completions.create(model="main", messages=MESSAGES)
    assert time.monotonic() - started < 5  # not 120 s, not even the 30 s cap
    assert completion.model == "spare" and (fake_openai.hits, fake_backup.hits) == (1, 1)


def test_500_then_503_retries_then_falls_back(pair: GatewayServer, fake_openai, fake_backup):
    fake_openai.enqueue(Reply(status=500), Reply(status=503))
    text, chunks = streamed(pair)
    assert text == "Hello from the fake upstream." and {c.model for c in chunks} == {"spare"}
    assert (fake_openai.hits, fake_backup.hits) == (2, 1)


def test_tcp_reset_before_the_first_byte_is_retried(pair: GatewayServer, fake_openai):
    fake_openai.enqueue(Reply(cut_after=0))
    text, chunks = streamed(pair)
    one_answer(chunks)
    assert text == "Hello from the fake upstream." and fake_openai.hits == 2


# -- waits that must be bounded ---------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
def test_no_response_falls_back_after_the_first_token_limit(pair: GatewayServer, fake_openai,
                                                            fake_backup, stream: bool):
    fake_openai.enqueue(Reply(hang=True))
    started = time.monotonic()
    if stream:
        text, _ = streamed(pair)
    else:
        text = pair.client().chat.completions.create(
            model="main", messages=MESSAGES).choices[0].message.content or ""
    waited = time.monotonic() - started
    assert text == "Hello from the fake upstream."
    assert 0.5 <= waited < 3  # the 0.5 s first-token limit, not total_s, and no retry of it
    assert (fake_openai.hits, fake_backup.hits) == (1, 1)  # a timeout is not retried
    first, second = rows(pair, "attempts")
    assert "first-token timeout" in first["error"] and second["status"] == "success"


@pytest.mark.parametrize("stream", [True, False])
def test_slow_first_token_moves_on(pair: GatewayServer, fake_openai, fake_backup, stream: bool):
    fake_openai.enqueue(Reply(first_token_delay_s=5))  # headers at once, then silence
    started = time.monotonic()
    completion: Any = pair.client().chat.completions.create(
        model="main", messages=MESSAGES, stream=stream)
    model = {c.model for c in completion} if stream else {completion.model}
    assert model == {"spare"} and time.monotonic() - started < 3


def test_timeouts_tell_the_breaker(make_gateway, fake_openai, fake_backup):
    server = make_gateway(*patient_backup(fake_openai, fake_backup), reliability={
        **FAST, "circuit_breaker": {"failure_threshold": 2, "cooldown_s": 60}})
    fake_openai.default = Reply(hang=True)
    client = server.client()
    for _ in range(2):
        assert client.chat.completions.create(model="main", messages=MESSAGES).model == "spare"
    assert httpx.get(server.url + "/health").json()["providers"]["primary"]["circuit"] == "open"
    assert client.chat.completions.create(model="main", messages=MESSAGES).model == "spare"
    assert fake_openai.hits == 2  # the open circuit was not asked again


# -- streams cut after content reached the client ---------------------------------------------------


def test_stream_cut_mid_answer_is_resumed_into_one_answer(pair: GatewayServer, fake_openai,
                                                          fake_backup):
    fake_openai.enqueue(Reply(content="Once upon a time there", cut_after=4, prompt_tokens=30),
                        Reply(content="was a dragon.", prompt_tokens=40, completion_tokens=5))
    text, chunks = streamed(pair, stream_options={"include_usage": True})
    assert text == "Once upon awas a dragon." or text == "Once upon a was a dragon."
    one_answer(chunks)
    # the same model was asked first (a cut is retryable), with the text so far as a prefill
    resume = fake_openai.requests[1]["messages"]
    assert resume[-1] == {"role": "assistant", "content": "Once upon a"}
    assert resume[-2]["role"] == "system" and "Continue" in resume[-2]["content"]
    assert fake_backup.hits == 0
    usage = chunks[-1].usage
    # both calls were billed: the continuation as reported, the cut one (which reported
    # nothing) estimated from its prompt and the text it delivered
    assert usage.prompt_tokens > 40 and usage.completion_tokens > 5
    (request,) = rows(pair)
    assert request["status"] == "success" and request["resumed"] == 1
    assert request["prompt_tokens"] == usage.prompt_tokens
    assert request["tokens_estimated"] == 1  # the cut call reported no usage


def test_resume_without_prefill_when_the_fallback_refuses_one(make_gateway, fake_openai,
                                                              fake_backup):
    server = make_gateway(*patient_backup(fake_openai, fake_backup), reliability={
        **FAST, "retries": 0})
    fake_openai.enqueue(Reply(content="The answer is forty", cut_after=4))
    # the backup refuses a trailing assistant message, then repeats the end of the text
    fake_backup.enqueue(Reply(reject_prefill=True),
                        Reply(content="answer is forty two."))
    text, chunks = streamed(server)
    one_answer(chunks)
    assert text == "The answer is forty two."  # the repeated "answer is" was cut
    refused, asked = fake_backup.requests
    assert refused["messages"][-1]["role"] == "assistant"
    assert asked["messages"][-2] == {"role": "assistant", "content": "The answer is"}
    assert asked["messages"][-1]["role"] == "user"
    metrics = httpx.get(server.url + "/metrics").text
    assert 'gateway_stream_resumes_total{outcome="prefill_refused"} 1.0' in metrics
    assert 'gateway_stream_resumes_total{outcome="resumed"} 1.0' in metrics


def test_stream_stall_is_resumed(pair: GatewayServer, fake_openai, fake_backup):
    fake_openai.enqueue(Reply(content="a b c", stall_after=3))
    started = time.monotonic()
    text, chunks = streamed(pair)
    one_answer(chunks)
    assert text.startswith("a b") and time.monotonic() - started < 3
    first, _ = rows(pair, "attempts")
    assert "stalled" in first["error"]


def test_resume_can_be_turned_off(make_gateway, fake_openai, fake_backup):
    server = make_gateway(*patient_backup(fake_openai, fake_backup), reliability={
        **FAST, "resume_streams": False})
    fake_openai.enqueue(Reply(content="a b c d", cut_after=3))
    with pytest.raises(openai.APIError):
        streamed(server)
    (request,) = rows(server)
    assert request["status"] == "error" and not request["resumed"]
    assert request["completion_tokens"] is not None  # what was delivered is still counted


# -- frames the client's SDK could not parse, and streams that end oddly ----------------------------


def test_malformed_chunk_is_dropped_and_counted(pair: GatewayServer, fake_openai):
    fake_openai.enqueue(Reply(content="one two three", malformed_after=2))
    body = {"model": "main", "messages": MESSAGES, "stream": True}
    with pair.http() as http, http.stream("POST", "/v1/chat/completions", json=body) as r:
        events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        validate("CreateChatCompletionStreamResponse", __import__("json").loads(event))
    text, _ = streamed(pair)  # and the SDK reads it to the end
    metrics = httpx.get(pair.url + "/metrics").text
    assert 'gateway_dropped_frames{provider="primary"} 1.0' in metrics
    assert text == "Hello from the fake upstream."


def test_missing_done_still_ends_the_stream_properly(pair: GatewayServer, fake_openai):
    fake_openai.enqueue(Reply(content="all of it", no_done=True))
    text, chunks = streamed(pair)
    one_answer(chunks)
    assert text == "all of it" and fake_openai.hits == 1


def test_answers_without_usage_are_counted(pair: GatewayServer, fake_openai):
    fake_openai.enqueue(Reply(content="a reply of several words", no_usage=True),
                        Reply(content="another reply", no_usage=True))
    streamed(pair)
    pair.client().chat.completions.create(model="main", messages=MESSAGES)
    for request in rows(pair):
        assert request["status"] == "success" and request["tokens_estimated"] == 1
        assert request["prompt_tokens"] > 0 and request["completion_tokens"] > 0
        assert request["cost_usd"] > 0


# -- refusals that keep their meaning ---------------------------------------------------------------


def test_content_filter_keeps_the_upstream_code_and_names_who_refused(pair: GatewayServer,
                                                                      fake_openai, fake_backup):
    fake_openai.enqueue(Reply(status=400, error={"error": {
        "message": "Your request was rejected as a result of our safety system.",
        "type": "invalid_request_error", "param": "prompt", "code": "content_policy_violation"}}))
    with pytest.raises(openai.BadRequestError) as info:
        pair.client().chat.completions.create(model="main", messages=MESSAGES)
    err = info.value.body
    assert err["code"] == "content_policy_violation" and "safety system" in err["message"]
    assert info.value.response.headers["x-should-retry"] == "false"
    assert fake_backup.hits == 0
    (request,) = rows(pair)
    assert (request["model"], request["provider"]) == ("main", "primary")


# -- the breaker lets traffic back as soon as the cooldown ends -------------------------------------


def test_flapping_primary_returns_right_after_the_cooldown(make_gateway, fake_openai, fake_backup):
    server = make_gateway(*patient_backup(fake_openai, fake_backup), reliability={
        **FAST, "retries": 0, "circuit_breaker": {"failure_threshold": 2, "cooldown_s": 0.5}})
    client = server.client()
    fake_openai.enqueue(Reply(status=503), Reply(status=503))
    for _ in range(2):
        assert client.chat.completions.create(model="main", messages=MESSAGES).model == "spare"
    time.sleep(0.55)
    # the first request after the cooldown is the probe, and it is real traffic
    assert client.chat.completions.create(model="main", messages=MESSAGES).model == "main"
    assert client.chat.completions.create(model="main", messages=MESSAGES).model == "main"


def test_failover_accounting(pair: GatewayServer, fake_openai, fake_backup):
    fake_openai.default = Reply(status=500)
    fake_backup.enqueue(Reply(prompt_tokens=100, completion_tokens=10))
    raw = pair.client().chat.completions.with_raw_response.create(model="main",
                                                                  messages=MESSAGES)
    assert raw.headers["x-gateway-attempts"] == "3"
    cost = float(raw.headers["x-gateway-cost-usd"])
    assert cost == pytest.approx((100 * 1 + 10 * 2) / 1e6)
    (request,) = rows(pair)
    attempts = rows(pair, "attempts")
    assert [(a["model"], a["status"]) for a in attempts] == [
        ("main", "error"), ("main", "error"), ("spare", "success")]
    assert attempts[2]["cost_usd"] == pytest.approx(cost)
    assert request["cost_usd"] == pytest.approx(sum(a["cost_usd"] or 0 for a in attempts))
