"""segments (through LearnedModel.fit, the one learning path): tasks, clusters kept only where
outcomes differ, per-segment evidence, calibration slopes, persistence."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.routing import LearnedModel, OutcomeRecord, PromptFeatures
from gateway.routing.features import DENSE_NAMES, hashed_ids
from gateway.routing.lexicon import words

NOW = datetime(2025, 6, 1, tzinfo=UTC)
MORAL = "scenario wrong morally standards character action ordinary person did".split()
RIVER = "river flows city capital country which longest through mountains sea".split()
CODE = "python function list sort loop return error compile class method".split()


def feat(vocab: list[str], rng: random.Random, task: str = "open_qa") -> PromptFeatures:
    text = " ".join(rng.sample(vocab, 6)) + f" {rng.randrange(10**6)}"
    dense = tuple(0.0 for _ in DENSE_NAMES)
    return PromptFeatures(ids=hashed_ids(words(text)), dense=dense, task=task, tokens=(60, 120))


def records(n: int, swap: bool, seed: int = 1) -> list[OutcomeRecord]:
    """Half moral scenarios, half river trivia, all classified open_qa; with `swap`, `strong`
    is right on moral scenarios and `weak` on rivers, else both do the same everywhere."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        moral = i % 2 == 0
        f = feat(MORAL if moral else RIVER, rng)
        good_strong = rng.random() < (0.9 if moral or not swap else 0.4)
        good_weak = rng.random() < (0.4 if moral and swap else 0.75)
        out.append(OutcomeRecord(f, "strong", float(good_strong), at=NOW))
        out.append(OutcomeRecord(f, "weak", float(good_weak), at=NOW))
    return out


@pytest.fixture(scope="module")
def split_model() -> LearnedModel:
    return LearnedModel.fit(records(400, swap=True), now=NOW)


def test_a_task_whose_clusters_differ_is_split(split_model: LearnedModel) -> None:
    segs = split_model.segments
    names = [s.name for s in segs.items]
    assert "open_qa" in names and any(n.startswith("open_qa/c") for n in names)
    rng = random.Random(9)
    moral = segs.items[segs.find("open_qa", feat(MORAL, rng).ids) or 0]
    river = segs.items[segs.find("open_qa", feat(RIVER, rng).ids) or 0]
    assert moral.name != river.name
    s, w = split_model.column("strong"), split_model.column("weak")
    assert moral.mean[s] - moral.mean[w] > 0.3  # the evidence of each segment is its own
    assert river.mean[w] - river.mean[s] > 0.2


def test_a_task_whose_clusters_do_not_differ_stays_whole() -> None:
    model = LearnedModel.fit(records(400, swap=False), now=NOW)
    assert [s.name for s in model.segments.items] == ["open_qa"]
    assert model.segments.find("open_qa", feat(MORAL, random.Random(3)).ids) == 0


def test_unseen_task_has_no_segment(split_model: LearnedModel) -> None:
    assert split_model.segments.find("code", feat(CODE, random.Random(4), "code").ids) is None


def test_evidence_counts_and_reference_sample(split_model: LearnedModel) -> None:
    total = sum(s.weight for s in split_model.segments.items)
    assert total == pytest.approx(400)
    for seg in (s for s in split_model.segments.items if s.weight > 0):
        assert seg.n.sum() == pytest.approx(2 * seg.weight)  # two models per prompt
        assert 0 < len(seg.ref_tokens) <= 64 and seg.ref_p.shape == (len(seg.ref_tokens), 2)
        assert (seg.ref_tokens == [60, 120]).all()


def test_calibration_slope_is_zero_when_prompt_words_carry_nothing() -> None:
    """Outcomes at random within one kind of prompt: out-of-fold estimates cannot rank them,
    so the segment trusts its mean and not the per-prompt deviations."""
    rng = random.Random(5)
    recs = []
    for _ in range(300):
        f = feat(RIVER, rng)
        recs += [OutcomeRecord(f, m, float(rng.random() < 0.6), at=NOW) for m in ("a", "b")]
    model = LearnedModel.fit(recs, now=NOW)
    assert [s.name for s in model.segments.items] == ["open_qa"]
    assert float(np.max(model.segments.items[0].beta)) < 0.2


def test_segments_round_trip_through_the_state(split_model: LearnedModel) -> None:
    back = LearnedModel.from_json(json.loads(json.dumps(split_model.to_json())))
    assert [s.name for s in back.segments.items] == [s.name for s in split_model.segments.items]
    probe = feat(MORAL, random.Random(7)).ids
    assert back.segments.find("open_qa", probe) == split_model.segments.find("open_qa", probe)
    for a, b in zip(back.segments.items, split_model.segments.items, strict=True):
        assert np.allclose(a.mean, b.mean, atol=1e-4) and np.allclose(a.ref_p, b.ref_p, atol=1e-3)
