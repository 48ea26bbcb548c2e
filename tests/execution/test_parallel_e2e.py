"""Several models for one request, through the gateway with the OpenAI SDK: vote, judge,
first_success (streamed and not), a failing leg, the budget's view of all legs, and the log."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server import Reply
from tests.gateway_server import GatewayServer
from tests.logdb import rows

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def fleet() -> Iterator[dict[str, FakeOpenAI]]:
    """Four providers, one fake each: three legs (a, b, c) and a judge (j)."""
    fakes = {name: FakeOpenAI().start() for name in ("a", "b", "c", "j")}
    yield fakes  # type: ignore[misc]
    for fake in fakes.values():
        fake.stop()


def models(**extra: Any) -> list[dict[str, Any]]:
    out = []
    for name, quality in (("a", 0.9), ("b", 0.85), ("c", 0.8), ("j", 0.95)):
        out.append({"id": f"m-{name}", "provider": f"p-{name}", "quality": quality,
                    "input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0,
                    "capabilities": ["streaming", "tools", "json"], **extra})
    return out


@pytest.fixture
def gateway(make_gateway: Callable[..., GatewayServer], fleet: dict[str, FakeOpenAI]
            ) -> Callable[..., GatewayServer]:
    def make(**sections: Any) -> GatewayServer:
        providers = {f"p-{n}": {"kind": "openai", "base_url": f.url, "api_key": "k"}
                     for n, f in fleet.items()}
        return make_gateway(providers, models(), **sections)
    return make


def parallel(**options: Any) -> dict[str, Any]:
    return {"routing": {"parallel": {"models": ["m-a", "m-b", "m-c"], **options}}}


def test_vote_answers_with_what_most_legs_said(gateway, fleet) -> None:
    fleet["a"].enqueue(Reply(content="Lyon.", prompt_tokens=10, completion_tokens=2))
    fleet["b"].enqueue(Reply(content="Paris.", prompt_tokens=10, completion_tokens=2))
    fleet["c"].enqueue(Reply(content="  paris. ", prompt_tokens=10, completion_tokens=3))
    server = gateway()
    raw = server.client().chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, extra_body=parallel(strategy="vote"))
    answer = raw.parse()
    assert answer.choices[0].message.content == "Paris."
    assert raw.headers["x-gateway-parallel"] == "m-a,m-b,m-c"
    assert raw.headers["x-gateway-consensus"] == "vote:m-b"
    assert raw.headers["x-gateway-model"] == "m-b" and answer.model == "m-b"
    cost = float(raw.headers["x-gateway-cost-usd"])
    assert cost == pytest.approx((30 * 1 + 7 * 2) / 1e6)  # every leg billed, summed
    assert fleet["j"].hits == 0
    (request,) = rows(server)
    attempts = rows(server, "attempts")
    assert sorted(a["model"] for a in attempts) == ["m-a", "m-b", "m-c"]
    assert request["cost_usd"] == pytest.approx(sum(a["cost_usd"] for a in attempts))
    assert "parallel vote over m-a,m-b,m-c" in request["routing_reason"]


def label_of(prompt: str, text: str) -> str:
    """The label the judge's prompt gave the candidate whose answer holds `text`."""
    for part in prompt.split('<candidate label="')[1:]:
        label, _, rest = part.partition('">')
        if text in rest.split("</candidate>")[0]:
            return label
    raise AssertionError(f"{text!r} is not a candidate")


def ask_judge(fleet: dict[str, FakeOpenAI], server: GatewayServer) -> Any:
    fleet["a"].enqueue(Reply(content="Paris is the capital of France."))
    fleet["b"].enqueue(Reply(content="Marseille."))
    fleet["c"].enqueue(Reply(content="Lyon, I think."))
    return server.client().chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, extra_body=parallel(strategy="judge", judge="m-j"))


def test_the_judge_picks_when_legs_disagree(gateway, fleet) -> None:
    server = gateway()
    # The candidates are labelled in an order shuffled per request: the fake judge finds the
    # label of the answer it wants in the prompt it was sent, and answers with prose around it.
    fleet["j"].default = Reply(answer=lambda body: "Having compared them: "
                               f'{{"reason": "it is right", "best": '
                               f'"{label_of(body["messages"][-1]["content"], "Lyon")}"}}')
    raw = ask_judge(fleet, server)
    assert raw.parse().choices[0].message.content == "Lyon, I think."
    assert raw.headers["x-gateway-consensus"] == "judge:m-c"
    sent = fleet["j"].requests[0]
    assert sent["model"] == "m-j" and sent["temperature"] == 0
    assert "Task type:" in sent["messages"][-1]["content"]
    assert "What is the capital of France?" in sent["messages"][-1]["content"]
    attempts = rows(server, "attempts")
    judged = [a for a in attempts if a["model"] == "m-j"]
    assert len(attempts) == 4 and len(judged) == 1 and judged[0]["cost_usd"] > 0


def test_an_unreadable_verdict_falls_back_to_quality_weighted(gateway, fleet) -> None:
    server = gateway()
    fleet["j"].default = Reply(content="They are all fine answers, really.")
    raw = ask_judge(fleet, server)
    assert raw.headers["x-gateway-consensus"] == "judge:m-a"  # the best leg by quality
    (request,) = rows(server)
    assert "quality_weighted decided" in request["routing_reason"]


def test_agreeing_legs_need_no_judge(gateway, fleet) -> None:
    for name in ("a", "b", "c"):
        fleet[name].enqueue(Reply(content="Paris"))
    server = gateway()
    raw = server.client().chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, extra_body=parallel(strategy="judge", judge="m-j"))
    assert raw.parse().choices[0].message.content == "Paris" and fleet["j"].hits == 0


def test_first_success_answers_as_fast_as_the_fastest_leg(gateway, fleet) -> None:
    fleet["a"].enqueue(Reply(content="slow a", delay_s=5))
    fleet["b"].enqueue(Reply(content="fast b"))
    fleet["c"].enqueue(Reply(content="slow c", first_token_delay_s=5))
    server = gateway()
    started = time.monotonic()
    raw = server.client().chat.completions.with_raw_response.create(
        model="auto", messages=QUESTION, extra_body=parallel(strategy="first_success"))
    assert time.monotonic() - started < 2  # not the slow legs' 5 s
    assert raw.parse().choices[0].message.content == "fast b"
    assert raw.headers["x-gateway-consensus"] == "first_success:m-b"
    attempts = {a["model"]: a for a in rows(server, "attempts")}
    assert attempts["m-b"]["status"] == "success"
    assert attempts["m-a"]["status"] == attempts["m-c"]["status"] == "cancelled"


def test_first_success_streams_the_winning_leg(gateway, fleet) -> None:
    fleet["a"].enqueue(Reply(content="never", first_token_delay_s=5))
    fleet["b"].enqueue(Reply(content="one two three"))
    fleet["c"].enqueue(Reply(status=500))
    server = gateway()
    started = time.monotonic()
    chunks = list(server.client().chat.completions.create(
        model="auto", messages=QUESTION, stream=True,
        extra_body=parallel(strategy="first_success")))
    assert time.monotonic() - started < 2
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three" and {c.model for c in chunks} == {"m-b"}


def test_a_vote_streams_the_chosen_answer(gateway, fleet) -> None:
    fleet["a"].enqueue(Reply(content="Paris"))
    fleet["b"].enqueue(Reply(content="Paris"))
    fleet["c"].enqueue(Reply(content="Rome"))
    server = gateway()
    chunks = list(server.client().chat.completions.create(
        model="auto", messages=QUESTION, stream=True, stream_options={"include_usage": True},
        extra_body=parallel(strategy="vote")))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Paris"
    assert sum(1 for c in chunks if c.choices and c.choices[0].finish_reason) == 1
    assert chunks[-1].usage is not None


def test_a_failing_leg_does_not_fail_the_request(gateway, fleet) -> None:
    fleet["a"].default = Reply(status=500)
    fleet["b"].enqueue(Reply(content="Paris"))
    fleet["c"].enqueue(Reply(content="Paris"))
    server = gateway(reliability={"retries": 0})
    answer = server.client().chat.completions.create(
        model="auto", messages=QUESTION, extra_body=parallel(strategy="vote"))
    assert answer.choices[0].message.content == "Paris"


def test_every_leg_failing_is_a_502_listing_them(gateway, fleet) -> None:
    for name in ("a", "b", "c"):
        fleet[name].default = Reply(status=503)
    server = gateway(reliability={"retries": 0})
    with pytest.raises(openai.APIStatusError) as info:
        server.client().chat.completions.create(
            model="auto", messages=QUESTION, extra_body=parallel(strategy="vote"))
    assert info.value.status_code == 502
    assert all(m in info.value.body["message"] for m in ("m-a", "m-b", "m-c"))


def test_auto_consensus_uses_the_configured_legs(gateway, fleet) -> None:
    for name in ("a", "b", "c"):
        fleet[name].enqueue(Reply(content="Paris"))
    server = gateway(routing={"parallel": {"models": 3, "strategy": "vote"}})
    raw = server.client().chat.completions.with_raw_response.create(
        model="auto:consensus", messages=QUESTION)
    legs = raw.headers["x-gateway-parallel"].split(",")
    assert len(legs) == 3 and len(set(legs)) == 3  # three providers: one leg each
    assert raw.headers["x-gateway-consensus"].startswith("vote:")


def test_the_budget_sees_every_leg_before_anything_is_sent(gateway, fleet) -> None:
    server = gateway(budgets={"per_request_usd": 0.01})
    body = parallel(strategy="vote")
    with pytest.raises(openai.RateLimitError) as info:
        server.client().chat.completions.create(
            model="auto", messages=QUESTION, max_tokens=2000, extra_body=body)
    assert info.value.body["code"] == "budget_exceeded"
    # one leg alone (2,000 tokens at $2/Mtok: $0.004) fits; three do not
    assert sum(f.hits for f in fleet.values()) == 0


def test_bad_parallel_options_are_a_400_naming_the_field(gateway, fleet) -> None:
    server = gateway()
    with pytest.raises(openai.BadRequestError) as info:
        server.client().chat.completions.create(
            model="auto", messages=QUESTION,
            extra_body={"routing": {"parallel": {"models": ["m-a", "nope"]}}})
    assert info.value.body["param"] == "routing.parallel.models[1]"
