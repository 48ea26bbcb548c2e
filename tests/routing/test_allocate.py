"""allocate: the reference traffic, the budgeted solve (exact, with the fractional step), each
segment's mix, and the rank of a marginal prompt."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.config import DEFAULT_PROFILES, TASKS, ProfileWeights
from gateway.routing import Catalog, LearnedModel, OutcomeRecord, PromptFeatures
from gateway.routing.allocate import (
    Reference,
    Solution,
    cost_share,
    marginal_rank,
    mixes,
    solve,
    synthetic_key,
)
from gateway.routing.estimate import Estimator
from gateway.routing.features import DENSE_NAMES, hashed_ids
from gateway.routing.lexicon import words
from tests.routing.configs import make_config, model

NOW = datetime(2025, 6, 1, tzinfo=UTC)
QUALITY = ProfileWeights(quality=1.0, cost=0.25, latency=0.0, history=0.0)
CONFIG = make_config(
    [
        model("cheap", "openai", (0.1, 0.1), 0.6, latency_ms=500),
        model("strong", "openai", (10.0, 10.0), 0.9, latency_ms=500),
    ]
)
CATALOG = Catalog.from_config(CONFIG)
MORAL = "scenario wrong morally standards character action ordinary person did".split()
RIVER = "river flows city capital country which longest through mountains sea".split()


def feat(vocab: list[str], rng: random.Random) -> PromptFeatures:
    text = " ".join(rng.sample(vocab, 6)) + f" {rng.randrange(10**6)}"
    dense = tuple(0.0 for _ in DENSE_NAMES)
    return PromptFeatures(ids=hashed_ids(words(text)), dense=dense, task="open_qa", tokens=(100, 100))


@pytest.fixture(scope="module")
def two_kinds() -> tuple[LearnedModel, Reference]:
    """Moral scenarios: strong gains 0.5 over cheap; rivers: strong gains 0.1."""
    rng = random.Random(1)
    recs = []
    for i in range(600):
        moral = i % 2 == 0
        f = feat(MORAL if moral else RIVER, rng)
        recs.append(OutcomeRecord(f, "cheap", float(rng.random() < (0.4 if moral else 0.8)), at=NOW))
        recs.append(OutcomeRecord(f, "strong", float(rng.random() < 0.9), at=NOW))
    learned = LearnedModel.fit(recs, now=NOW)
    return learned, Reference.build(CATALOG.entries, Estimator(CATALOG.entries, learned))


def spend(ref: Reference, sol: Solution) -> tuple[float, float]:
    """(mean quality, mean cost) of a solution, its fractional step included."""
    q1, c1, _, _ = ref.means(ref.picks(QUALITY, sol.mu))
    q2, c2, _, _ = ref.means(ref.picks(QUALITY, sol.mu_next))
    return (1 - sol.theta) * q1 + sol.theta * q2, (1 - sol.theta) * c1 + sol.theta * c2


def test_without_traffic_the_reference_is_one_typical_prompt_per_task() -> None:
    ref = Reference.build(CATALOG.entries, Estimator(CATALOG.entries, LearnedModel.empty()))
    assert ref.task == TASKS and ref.weight.sum() == pytest.approx(1.0)
    assert (ref.segment == -1).all() and ref.quality.shape == (len(TASKS), 2)


@pytest.mark.parametrize("share", [0.1, 0.25, 0.5, 0.75, 1.0])
def test_the_solve_spends_the_budget_and_no_more(
    two_kinds: tuple[LearnedModel, Reference], share: float
) -> None:
    _, ref = two_kinds
    sol = solve(ref, QUALITY, share)
    _, cost = spend(ref, sol)
    top = float(ref.weight @ ref.cost[:, 1])
    assert cost <= share * top * (1 + 1e-6)
    if 0.05 < share < 1.0:
        assert cost == pytest.approx(share * top, rel=0.02)  # the fractional step uses it up


def test_more_budget_buys_more_quality(two_kinds: tuple[LearnedModel, Reference]) -> None:
    _, ref = two_kinds
    qualities = [spend(ref, solve(ref, QUALITY, s))[0] for s in (0.05, 0.2, 0.4, 0.7, 1.0)]
    assert qualities == sorted(qualities) and qualities[-1] > qualities[0] + 0.1


def test_the_segment_where_the_upgrade_buys_most_goes_first(
    two_kinds: tuple[LearnedModel, Reference],
) -> None:
    learned, ref = two_kinds
    sol = solve(ref, QUALITY, 0.35)  # moral scenarios are half the traffic: 0.5 would fit all
    mix = mixes(ref, CATALOG.entries, QUALITY, sol)
    segs = learned.segments
    moral = mix[segs.find("open_qa", feat(MORAL, random.Random(5)).ids) or 0]
    river = mix[segs.find("open_qa", feat(RIVER, random.Random(6)).ids) or 0]
    assert moral.shares.get("strong", 0) > 0.5 > 0.1 > river.shares.get("strong", 0)
    for m in mix.values():
        assert sum(m.shares.values()) == pytest.approx(1.0, abs=1e-3)


SHARES = [
    # (weights, floor, target): level w_q / (w_q + w_c) on the log scale from floor to 1
    (DEFAULT_PROFILES["balanced"], 0.016, 0.016 ** (1 / 3)),  # ~0.25 of the strongest
    (DEFAULT_PROFILES["cheap"], 0.016, 0.016 ** (0.55 / 0.85)),  # ~0.07
    (DEFAULT_PROFILES["best"], 0.016, 0.016 ** (0.05 / 0.85)),  # ~0.78
    (ProfileWeights(quality=1.0, cost=0.0), 0.016, 1.0),  # cost does not matter
    (ProfileWeights(quality=0.0, cost=1.0), 0.016, 0.016),  # only cost matters
    (ProfileWeights(quality=0.5, cost=0.25, cost_share=0.4), 0.016, 0.4),  # explicit
]


@pytest.mark.parametrize(("weights", "floor", "target"), SHARES)
def test_cost_share_is_explicit_or_derived_from_the_weights(
    weights: ProfileWeights, floor: float, target: float
) -> None:
    assert cost_share(weights, floor) == pytest.approx(target)


RANKS = [
    # (claims, claim, tiebreak, rank)
    ([0.1, 0.2, 0.3, 0.4], 0.35, 0.5, 0.25),  # one marginal prompt has a stronger claim
    ([0.1, 0.2, 0.3, 0.4], 0.5, 0.9, 0.0),
    ([0.2, 0.2, 0.2, 0.2], 0.2, 0.25, 0.25),  # all tie: the hash orders them
    ([], 0.3, 0.7, 0.7),
]


@pytest.mark.parametrize(("claims", "claim", "tiebreak", "rank"), RANKS)
def test_marginal_rank(claims: list[float], claim: float, tiebreak: float, rank: float) -> None:
    assert marginal_rank(np.array(claims), claim, tiebreak) == pytest.approx(rank)


def test_synthetic_keys_are_negative_and_distinct() -> None:
    keys = {synthetic_key(t) for t in TASKS}
    assert len(keys) == len(TASKS) and max(keys) < 0
