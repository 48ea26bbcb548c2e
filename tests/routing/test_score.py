"""score_candidates: hard filters with reasons (the caller's unusable reason last), then the
profile's utility, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import DEFAULT_PROFILES, ProfileWeights
from gateway.routing import Catalog, LearnedModel, RoutingOptions, classify
from gateway.routing.allocate import FREE_USD
from gateway.routing.estimate import Estimator
from gateway.routing.score import Candidate, score_candidates
from tests.routing.configs import make_config, user

CONFIG = make_config()
CATALOG = Catalog.from_config(CONFIG)
EST = Estimator(CATALOG.entries, LearnedModel.empty())
NO_OPTIONS = RoutingOptions()
IMAGE = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}


def ranked(
    body: dict[str, Any],
    weights: ProfileWeights = DEFAULT_PROFILES["balanced"],
    opts: RoutingOptions = NO_OPTIONS,
    unusable: dict[str, str] | None = None,
    mu: float = 0.0,
) -> dict[str, Candidate]:
    c = classify(body)
    est = EST.for_prompt(c.task, c.complexity, None, None)
    out, _ = score_candidates(
        CATALOG.entries, c, weights, opts, unusable or {}, est, mu
    )
    return {x.id: x for x in out}


EXCLUSIONS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (case, body, options, model, reason contains)
    ("vision", {"messages": [{"role": "user", "content": [IMAGE]}]}, {}, "local-small", "lacks vision"),
    (
        "tools",
        user("weather?", tools=[{"type": "function", "function": {"name": "w"}}]),
        {},
        "local-small",
        "lacks tools",
    ),
    ("context", user("lorem ipsum " * 20000), {}, "local-small", "do not fit context 8,192"),
    ("max cost", user("write an essay"), {"max_cost_usd": 0.001}, "sonnet", "max_cost_usd"),
    ("min quality", user("hello there"), {"min_quality": 0.9}, "mini", "min_quality"),
    ("max latency", user("hello there"), {"max_latency_ms": 500}, "big", "max_latency_ms"),
]


@pytest.mark.parametrize(("case", "body", "opts", "model", "reason"), EXCLUSIONS)
def test_exclusions_name_their_reason(
    case: str, body: dict[str, Any], opts: dict[str, Any], model: str, reason: str
) -> None:
    cands = ranked(body, opts=RoutingOptions(**opts))
    assert cands[model].excluded is not None, case
    assert reason in cands[model].excluded
    assert not cands[model].down  # the request rules it out; nothing is down


def test_the_callers_unusable_reason_is_shown_and_checked_last() -> None:
    why = "circuit open until 12:03:05 (half-open then)"
    cands = ranked(user("hi"), unusable={"mini": why})
    assert cands["mini"].excluded == why and cands["mini"].down
    image = {"messages": [{"role": "user", "content": [IMAGE]}]}
    local = ranked(image, unusable={"local-small": "local server did not answer"})["local-small"]
    assert local.excluded == "lacks vision" and not local.down


def test_excluded_candidates_rank_last_and_scores_descend() -> None:
    out = list(ranked(user("hi"), unusable={"big": "no API key (set OPENAI_API_KEY)"}).values())
    assert out[-1].id == "big"
    scores = [c.score for c in out if c.excluded is None]
    assert scores == sorted(scores, reverse=True)


def test_parts_sum_to_the_score() -> None:
    for c in ranked(user("Write a python function to sort a list."), mu=3.0).values():
        assert sum(c.parts) == pytest.approx(c.score, abs=1e-12)


MU = [
    # (exchange rate, expected winner): at 0 cost is ignored, a high rate buys the cheapest
    (0.0, "sonnet"),
    (1e6, "local-small"),
]


@pytest.mark.parametrize(("mu", "winner"), MU)
def test_the_exchange_rate_trades_quality_for_cost(mu: float, winner: str) -> None:
    q_only = ProfileWeights(quality=1.0, cost=0.0, latency=0.0, history=0.0)
    cands = ranked(user("Prove that the algorithm is optimal and derive its invariant."), q_only, mu=mu)
    assert next(iter(cands)) == winner


def test_cost_part_is_the_rate_times_the_one_cost_estimate() -> None:
    c = classify(user("Summarize this text in one line: the meeting moved to Friday."))
    cands = ranked(user("Summarize this text in one line: the meeting moved to Friday."), mu=2.0)
    big = CATALOG.get("big")
    assert big is not None
    assert cands["big"].cost_usd == big.cost_usd(c.prompt_tokens, c.expected_output_tokens)
    assert cands["big"].parts[1] == pytest.approx(-2.0 * cands["big"].cost_usd)
    assert cands["local-small"].parts[1] == pytest.approx(-2.0 * FREE_USD)  # free is not free


def test_to_json_shows_breakdown_or_exclusion() -> None:
    cands = ranked(user("hi"), opts=RoutingOptions(max_latency_ms=500))
    assert "breakdown" in cands["mini"].to_json() and "excluded" not in cands["mini"].to_json()
    assert "excluded" in cands["big"].to_json() and "score" not in cands["big"].to_json()
    sources = cands["mini"].to_json()["quality_sources"]
    assert isinstance(sources, dict) and sources["learned"] is None and sources["evidence"] == 0
