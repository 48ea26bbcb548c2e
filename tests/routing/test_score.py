"""score_candidates: hard filters with reasons, then the weighted score, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config import DEFAULT_PROFILES, ProfileWeights
from gateway.routing import Catalog, RoutingOptions, classify
from gateway.routing.score import (
    COST_DECADES,
    UNUSABLE,
    Estimate,
    prior_quality,
    score_candidates,
)
from tests.routing.configs import make_config, user

CONFIG = make_config()
CATALOG = Catalog.from_config(CONFIG)
ALL_USABLE = {e.id: True for e in CATALOG.entries}
NO_OPTIONS = RoutingOptions()
IMAGE = {"type": "image_url", "image_url": {"url": "https://x/y.png"}}


def ranked(
    body: dict[str, Any],
    weights: ProfileWeights = DEFAULT_PROFILES["balanced"],
    opts: RoutingOptions = NO_OPTIONS,
    usable: dict[str, bool] | None = None,
    estimates: dict[str, Estimate] | None = None,
) -> dict[str, Any]:
    out = score_candidates(
        CATALOG.entries,
        classify(body),
        weights,
        opts,
        ALL_USABLE if usable is None else usable,
        estimates or {},
    )
    return {c.id: c for c in out}


EXCLUSIONS: list[tuple[str, dict[str, Any], dict[str, Any], str, str]] = [
    # (case, body, options, model, reason contains)
    (
        "vision",
        {"messages": [{"role": "user", "content": [IMAGE]}]},
        {},
        "local-small",
        "lacks vision",
    ),
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


def test_unusable_is_checked_last() -> None:
    usable = {**ALL_USABLE, "mini": False}
    cands = ranked(user("hi"), usable=usable)
    assert cands["mini"].excluded == UNUSABLE
    image = {"messages": [{"role": "user", "content": [IMAGE]}]}
    assert "lacks vision" in (ranked(image, usable={})["local-small"].excluded or "")


def test_excluded_candidates_rank_last_and_scores_descend() -> None:
    out = score_candidates(
        CATALOG.entries,
        classify(user("hi")),
        DEFAULT_PROFILES["balanced"],
        RoutingOptions(),
        {**ALL_USABLE, "big": False},
        {},
    )
    assert out[-1].id == "big"
    scores = [c.score for c in out if c.excluded is None]
    assert scores == sorted(scores, reverse=True)


PROFILE_WINNERS = [
    ("best", "Prove that the algorithm is optimal and derive its invariant.", "sonnet"),
    ("cheap", "Prove that the algorithm is optimal and derive its invariant.", "local-small"),
    ("fast", "What is the capital of France?", "local-small"),
]


@pytest.mark.parametrize(("profile", "text", "winner"), PROFILE_WINNERS)
def test_profile_weights_decide_the_winner(profile: str, text: str, winner: str) -> None:
    out = score_candidates(
        CATALOG.entries,
        classify(user(text)),
        DEFAULT_PROFILES[profile],
        RoutingOptions(),
        ALL_USABLE,
        {},
    )
    assert out[0].id == winner


def test_parts_sum_to_the_score_and_stay_in_range() -> None:
    for c in ranked(user("Write a python function to sort a list.")).values():
        assert abs(sum(c.parts.values()) - c.score) < 1e-9
        assert all(0.0 <= v <= 1.0 for v in c.raw)


def test_cost_part_loses_one_share_per_decade() -> None:
    cands = ranked(user("Summarize this text in one line: the meeting moved to Friday."))
    mini, big = cands["mini"], cands["big"]
    decades = __import__("math").log10(big.cost_usd / mini.cost_usd)
    assert mini.raw[1] - big.raw[1] == pytest.approx(decades / COST_DECADES, rel=1e-6)


def test_learned_estimate_blends_with_the_prior_by_its_weight() -> None:
    est = {"mini": Estimate(learned=0.2, weight=0.75, history=0.4)}
    c = ranked(user("hi"), estimates=est)["mini"]
    assert c.quality == pytest.approx(0.75 * 0.2 + 0.25 * c.prior)
    assert (c.learned, c.learned_weight, c.history) == (0.2, 0.75, 0.4)
    untouched = ranked(user("hi"))["mini"]
    assert untouched.quality == untouched.prior and untouched.learned is None


PRIORS = [(0.9, 4, 0.9), (0.9, 8, 0.81), (0.81, 0, 0.9)]


@pytest.mark.parametrize(("q", "complexity", "expected"), PRIORS)
def test_complexity_sharpens_the_prior(q: float, complexity: int, expected: float) -> None:
    entry = Catalog.from_config(
        make_config([{"id": "m", "provider": "openai", "quality": q}])
    ).entries[0]
    assert prior_quality(entry, "code", complexity) == pytest.approx(expected, abs=1e-9)


def test_to_json_shows_breakdown_or_exclusion() -> None:
    cands = ranked(user("hi"), opts=RoutingOptions(max_latency_ms=500))
    assert "breakdown" in cands["mini"].to_json() and "excluded" not in cands["mini"].to_json()
    assert "excluded" in cands["big"].to_json() and "score" not in cands["big"].to_json()
