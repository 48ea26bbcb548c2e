"""Estimator: priors sharpened by complexity, blended with segment evidence and per-prompt
deviations; the same formula for a live prompt and for the reference traffic."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.routing import Catalog, LearnedModel, OutcomeRecord, PromptFeatures
from gateway.routing.estimate import Estimator, gamma
from gateway.routing.features import DENSE_NAMES, hashed_ids
from gateway.routing.learn import BLEND_RECORDS
from gateway.routing.lexicon import words
from tests.routing.configs import make_config, model

NOW = datetime(2025, 6, 1, tzinfo=UTC)
CONFIG = make_config(
    [
        model("a", "openai", (1, 1), {"default": 0.6, "code": 0.9}),
        model("b", "openai", (2, 2), 0.8),
        model("unseen", "openai", (3, 3), 0.7),
    ]
)
CATALOG = Catalog.from_config(CONFIG)
RIVER = "river flows city capital country which longest through mountains sea".split()


def feat(extra: str, rng: random.Random) -> PromptFeatures:
    text = " ".join(rng.sample(RIVER, 6)) + " " + extra
    dense = tuple(0.0 for _ in DENSE_NAMES)
    return PromptFeatures(ids=hashed_ids(words(text)), dense=dense, task="open_qa", tokens=(50, 80))


PRIORS = [("code", 4, 0.9), ("code", 8, 0.81), ("open_qa", 4, 0.6), ("open_qa", 0, 0.6**0.5)]


@pytest.mark.parametrize(("task", "complexity", "expected"), PRIORS)
def test_prior_is_the_configured_quality_sharpened_by_complexity(
    task: str, complexity: int, expected: float
) -> None:
    est = Estimator(CATALOG.entries, LearnedModel.empty()).for_prompt(task, complexity, None, None)
    assert est.quality[0] == pytest.approx(expected, abs=1e-9)
    assert est.quality[0] == est.prior[0] and np.isnan(est.learned[0]) and est.evidence[0] == 0
    assert float(gamma(4)) == 1.0


def learned(n: int, p_a: float = 0.2, p_b: float = 0.9, hard_word: bool = False) -> LearnedModel:
    rng = random.Random(n)
    recs = []
    for i in range(n):
        hard = hard_word and i % 2 == 0
        f = feat("glacier" if hard else "delta", rng)
        a_good = (not hard) if hard_word else rng.random() < p_a
        recs.append(OutcomeRecord(f, "a", float(a_good), at=NOW))
        recs.append(OutcomeRecord(f, "b", float(rng.random() < p_b), at=NOW))
    return LearnedModel.fit(recs, now=NOW)


def estimate_for(m: LearnedModel, extra: str = "delta") -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    est = Estimator(CATALOG.entries, m)
    f = feat(extra, random.Random(99))
    seg = m.segments.find("open_qa", f.ids)
    e = est.for_prompt("open_qa", 4, seg, m.predict(f))
    return e.quality, e.stderr


def test_segment_evidence_pulls_the_estimate_from_the_prior() -> None:
    few, few_err = estimate_for(learned(10))
    many, many_err = estimate_for(learned(300))
    # a: prior 0.6, outcomes ~0.2; b: prior 0.8, outcomes ~0.9
    assert many[0] < few[0] < 0.6 and many[0] < 0.35
    assert many[1] > 0.85
    assert many_err[0] < few_err[0]
    assert many[2] == pytest.approx(0.7)  # a model the learner never saw keeps its prior
    expected = (300 * 0.2 + BLEND_RECORDS * 0.6) / (300 + BLEND_RECORDS)
    assert many[0] == pytest.approx(expected, abs=0.06)


def test_per_prompt_deviations_count_where_words_predict_outcomes() -> None:
    """`a` fails exactly the prompts that mention a glacier: however the learner splits the
    traffic (a cluster of its own, or a calibrated deviation), the estimates tell them apart."""
    m = learned(400, hard_word=True)
    easy, _ = estimate_for(m, "delta")
    hard, _ = estimate_for(m, "glacier")
    assert easy[0] - hard[0] > 0.3
    assert abs(easy[1] - hard[1]) < 0.15  # b does not care


def test_reference_estimates_have_one_row_per_reference_prompt() -> None:
    m = learned(300)
    est = Estimator(CATALOG.entries, m)
    seg = m.segments.items[0]
    q = est.for_reference(seg).quality
    assert q.shape == (len(seg.ref_tokens), 3)
    assert np.all((q >= 0) & (q <= 1))
    assert q[:, 2] == pytest.approx(0.7 ** gamma(seg.ref_complexity))  # each prompt's own prior
