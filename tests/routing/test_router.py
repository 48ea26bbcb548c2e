"""Router.decide end to end: profiles, options, allocation and rank, exploration, local first,
the real reasons a model cannot be called, the explanation."""

from __future__ import annotations

import json

import orjson
import pytest

from gateway.config import parse_config
from gateway.errors import InvalidRequest
from gateway.routing import (
    LearnedModel,
    NoRouteAvailable,
    OutcomeRecord,
    PromptFeatures,
    Router,
    extract,
    render_decision,
)
from tests.routing.configs import make_config, user

ROUTER = Router(make_config())
HARD = "Prove rigorously that this sorting algorithm is optimal; derive the invariant."
IMAGE = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
PROMPTS = [
    f"Write a python function that {verb} a list of {noun}."
    for verb in ("sorts", "reverses", "deduplicates", "shuffles", "flattens", "rotates", "splits")
    for noun in ("numbers", "names", "dates", "words", "paths", "prices", "tuples", "emails")
] + [f"Summarize this note for my team: the {x} meeting moved to Friday." for x in range(120)]


def test_profiles_move_along_the_cost_quality_trade() -> None:
    picks = {p: ROUTER.decide(user(HARD), profile=p) for p in ("auto:cheap", "auto", "auto:best")}
    cost = {p: d.estimated_cost_usd for p, d in picks.items()}
    assert cost["auto:cheap"] <= cost["auto"] <= cost["auto:best"]
    quality = {p: next(c.quality for c in d.candidates if c.id == d.model) for p, d in picks.items()}
    assert quality["auto:cheap"] <= quality["auto"] <= quality["auto:best"]
    assert ROUTER.decide(user(HARD), profile="best").profile == "best"


def test_options_from_the_body_or_the_argument() -> None:
    body = user("hi", routing={"profile": "best"})
    assert ROUTER.decide(body).profile == "best"
    assert ROUTER.decide(body, options={}).profile == "balanced"
    with pytest.raises(InvalidRequest) as info:
        ROUTER.decide(user("hi"), options={"max_cost_usd": -1})
    assert info.value.param == "routing.max_cost_usd"


def test_unknown_profile_is_a_400_on_the_model() -> None:
    with pytest.raises(InvalidRequest) as info:
        ROUTER.decide(user("hi"), profile="auto:turbo")
    assert info.value.param == "model" and "auto:cheap" in info.value.message


def test_a_configured_profile_is_a_model_name() -> None:
    router = Router(make_config(profiles={"thrifty": {"quality": 0.4, "cost": 0.6, "cost_share": 0.05}}))
    d = router.decide(user(HARD), profile="auto:thrifty")
    assert d.profile == "thrifty"
    assert d.estimated_cost_usd <= router.decide(user(HARD), profile="auto:best").estimated_cost_usd


def test_task_option_overrides_the_classifier() -> None:
    d = ROUTER.decide(user("Write a poem"), options={"task": "code"})
    assert d.task == "code"
    assert d.classification.task_source == "routing.task"


def test_a_bigger_budget_never_buys_a_cheaper_model() -> None:
    lean, rich = ROUTER.with_budget("auto", 0.05), ROUTER.with_budget("auto", 1.0)
    for text in [*PROMPTS[:20], HARD]:
        assert lean.decide(user(text)).estimated_cost_usd <= rich.decide(user(text)).estimated_cost_usd


# -- local first ---------------------------------------------------------------------------


def test_local_profile_stays_local_for_a_simple_question() -> None:
    d = ROUTER.decide(user("What is the capital of France?"), profile="auto:local")
    assert d.model == "local-small" and d.local_first and d.escalation is None
    assert d.local_rule and "stays local" in d.local_rule and "stays local" in d.reason
    assert d.local_attempts == 2
    assert any(m != "local-small" for m in d.chain), "a hosted model to escalate to"


def test_local_profile_escalates_above_the_complexity_limit_and_says_why() -> None:
    d = ROUTER.decide(user(HARD), profile="auto:local")
    assert d.model != "local-small"
    assert d.escalation and "> local_max_complexity 3" in d.escalation
    assert "escalated" in d.reason


def test_the_local_limits_come_from_the_config() -> None:
    router = Router(make_config(local_max_complexity=9, local_failures_before_escalation=4))
    d = router.decide(user(HARD), profile="auto:local")
    assert d.model == "local-small" and d.local_attempts == 4
    assert ROUTER.decide(user("hi")).local_attempts == 0  # only local-first decisions


def test_prefer_local_escalates_when_the_local_model_lacks_a_capability() -> None:
    body = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "what?"}, IMAGE]}],
        "routing": {"prefer_local": True},
    }
    d = ROUTER.decide(body)
    assert d.model != "local-small" and d.escalation and "local-small: lacks vision" in d.escalation


def test_local_escalation_names_why_the_local_server_cannot_take_it() -> None:
    why = "local server http://127.0.0.1:1234/v1 did not answer"
    d = ROUTER.decide(user("hi"), profile="auto:local", unusable={"local-small": why})
    assert d.model != "local-small" and d.escalation and why in d.escalation


# -- why a model cannot be called ------------------------------------------------------------


def test_no_usable_model_is_a_503_naming_each_models_reason() -> None:
    reasons = {
        "local-small": "local server http://127.0.0.1:1234/v1 did not answer",
        "mini": "circuit open until 12:03:05 (half-open then)",
        "big": "circuit open until 12:04:00 (half-open then)",
        "sonnet": "no API key (set ANTHROPIC_API_KEY)",
    }
    with pytest.raises(NoRouteAvailable) as info:
        ROUTER.decide(user("hi"), unusable=reasons)
    assert info.value.status == 503
    for model, why in reasons.items():
        assert f"{model}: {why}" in info.value.message


def test_a_missing_key_is_named_without_the_caller_saying_so() -> None:
    config = parse_config(
        {
            "providers": {"openai": {"kind": "openai", "api_key": "${OPENAI_API_KEY}"}},
            "models": [{"id": "gpt", "provider": "openai", "quality": 0.8}],
        },
        env={},
    )
    with pytest.raises(NoRouteAvailable) as info:
        Router(config).decide(user("hi"))
    assert "gpt: no API key (set OPENAI_API_KEY)" in info.value.message


def test_a_request_no_model_can_take_is_a_400() -> None:
    with pytest.raises(NoRouteAvailable) as info:
        ROUTER.decide(user("hi"), options={"max_cost_usd": 0.0, "min_quality": 0.99})
    assert info.value.status == 400 and info.value.type == "invalid_request_error"
    with pytest.raises(NoRouteAvailable) as only_cost:
        ROUTER.decide(user("write an essay"), options={"max_latency_ms": 1})
    assert only_cost.value.param == "routing.max_latency_ms"


def test_chain_starts_with_the_model_and_has_no_repeats() -> None:
    d = ROUTER.decide(user("Write a python function to parse dates."))
    assert d.chain[0] == d.model and len(set(d.chain)) == len(d.chain)


# -- the explanation ---------------------------------------------------------------------------


def test_decision_json_explains_the_task_its_allocation_and_the_rank() -> None:
    body = user("Summarize this: the council met and moved the vote.")
    d = ROUTER.decide(body, options={"max_latency_ms": 800})
    out = orjson.loads(orjson.dumps(d.to_json()))  # the server's encoder: plain types only
    for key in ("model", "chain", "task", "complexity", "needs", "estimated_cost_usd", "reason",
                "candidates", "profile", "weights", "allocation", "explored", "local_attempts"):
        assert key in out
    alloc = out["allocation"]
    assert alloc["segment"] == "summarization (prior)"
    assert sum(alloc["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert alloc["base"] in alloc["shares"] and 0.0 <= alloc["rank"] <= 1.0
    assert d.task in d.reason and alloc["segment"] in d.reason
    by_id = {c["model"]: c for c in out["candidates"]}
    assert set(by_id) == {"local-small", "mini", "big", "sonnet"}
    assert "excluded" in by_id["sonnet"] and "breakdown" in by_id["mini"]
    text = render_decision(d)
    assert d.model in text and "excluded:" in text and "allocation" in text


def test_features_round_trip_through_the_log_row() -> None:
    d = ROUTER.decide(user("Write a python function to parse dates."))
    stored = json.loads(json.dumps(d.features))
    assert PromptFeatures.from_json(stored) == d.prompt_features
    assert d.prompt_features.task == d.task


def test_with_learned_changes_the_pick_when_outcomes_disagree_with_priors() -> None:
    body = user("Write a python function to parse ISO dates.")
    before = ROUTER.decide(body)
    records = []
    for text in PROMPTS[:40]:
        f = extract(ROUTER.classify(user(text)))
        records += [OutcomeRecord(f, before.model, 0.0) for _ in range(3)]
        others = [m for m in ("local-small", "mini", "big", "sonnet") if m != before.model]
        records += [OutcomeRecord(f, m, 1.0) for m in others]
    after = ROUTER.with_learned(LearnedModel.fit(records)).decide(body)
    assert after.model != before.model
    loser = next(c for c in after.candidates if c.id == before.model)
    assert loser.learned is not None and loser.learned < 0.3 and loser.evidence > 50
    assert after.allocation is not None and after.allocation.segment.startswith("code")
    assert after.learned_records == len(records)


# -- exploration ---------------------------------------------------------------------------


def test_a_bounded_share_of_prompts_explores_the_second_best_choice() -> None:
    plain = Router(make_config())
    exploring = Router(make_config(explore_share=0.2))
    explored = 0
    for text in PROMPTS:
        d = exploring.decide(user(text))
        base = plain.decide(user(text))
        if d.explored:
            explored += 1
            assert d.model != base.model and "explored" in d.reason
            assert d.model == next(c.id for c in base.candidates[1:] if c.excluded is None)
        else:
            assert d.model == base.model
        assert exploring.decide(user(text)).explored == d.explored  # deterministic per prompt
    assert 0.1 * len(PROMPTS) <= explored <= 0.3 * len(PROMPTS)


def test_best_and_local_first_never_explore() -> None:
    exploring = Router(make_config(explore_share=0.2))
    for text in PROMPTS[:60]:
        assert not exploring.decide(user(text), profile="auto:best").explored
        assert not exploring.decide(user(text), profile="auto:local").explored
