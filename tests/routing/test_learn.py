"""LearnedModel: learns per-model quality from outcome records, forgets old ones, persists."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.routing import (
    LearnedModel,
    OutcomeRecord,
    PromptFeatures,
    classify,
    extract,
    feedback_score,
    records_from_log,
)
from gateway.routing.learn import BLEND_RECORDS, IMPLICIT_ERROR, IMPLICIT_SUCCESS
from tests.routing.configs import user

NOW = datetime(2025, 6, 1, tzinfo=UTC)
TOPICS = {
    "code": "python function bug compiler list sort recursion api json loop",
    "prose": "poem story autumn river love memory garden letter song dream",
}


def prompt(topic: str, rng: random.Random) -> PromptFeatures:
    words = rng.sample(TOPICS[topic].split(), 5)
    return extract(classify(user("please help with " + " ".join(words))))


def synthetic(
    n: int, rng: random.Random, at: datetime | None = None, flip: bool = False
) -> list[OutcomeRecord]:
    """`coder` is good at code and bad at prose; `writer` the reverse (or flipped)."""
    out = []
    for i in range(n):
        topic = "code" if i % 2 else "prose"
        f = prompt(topic, rng)
        coder_good = (topic == "code") != flip
        out.append(OutcomeRecord(f, "coder", 1.0 if coder_good else 0.0, at=at))
        out.append(OutcomeRecord(f, "writer", 0.0 if coder_good else 1.0, at=at))
    return out


@pytest.fixture(scope="module")
def fitted() -> LearnedModel:
    return LearnedModel.fit(synthetic(120, random.Random(1)), now=NOW)


def test_it_learns_which_model_is_good_at_what(fitted: LearnedModel) -> None:
    rng = random.Random(2)
    code, prose = prompt("code", rng), prompt("prose", rng)
    c, w = fitted.column("coder"), fitted.column("writer")
    p_code, p_prose = fitted.predict(code), fitted.predict(prose)
    assert p_code[c] > 0.7 > p_code[w]
    assert p_prose[w] > 0.7 > p_prose[c]
    assert fitted.column("never-seen") == -1


def test_support_history_and_blend_weight(fitted: LearnedModel) -> None:
    assert fitted.support["coder"] == pytest.approx(120)
    assert fitted.history["coder"] == pytest.approx(0.5)
    assert fitted.blend_weight("coder") == pytest.approx(120 / (120 + BLEND_RECORDS))
    assert fitted.blend_weight("never-seen") == 0.0


def test_recent_outcomes_outweigh_old_contradicting_ones() -> None:
    rng = random.Random(3)
    old = synthetic(120, rng, at=NOW - timedelta(days=90), flip=True)
    new = synthetic(120, rng, at=NOW - timedelta(days=1))
    model = LearnedModel.fit(old + new, now=NOW, half_life_days=14)
    p = model.predict(prompt("code", random.Random(4)))
    assert p[model.column("coder")] > p[model.column("writer")]
    assert model.support["coder"] < 120  # the old half weighs almost nothing


def test_state_round_trips_through_json(fitted: LearnedModel) -> None:
    restored = LearnedModel.from_json(json.loads(json.dumps(fitted.to_json())))
    f = prompt("code", random.Random(5))
    assert restored.models == fitted.models
    assert restored.predict(f) == pytest.approx(fitted.predict(f), abs=1e-3)
    assert restored.n_records == fitted.n_records


def test_state_from_another_version_is_refused(fitted: LearnedModel) -> None:
    state = fitted.to_json()
    with pytest.raises(ValueError, match="another version"):
        LearnedModel.from_json({**state, "version": 0})


def test_empty_model_predicts_nothing() -> None:
    empty = LearnedModel.fit([], now=NOW)
    assert empty.models == () and len(empty.predict(prompt("code", random.Random(6)))) == 0


FEEDBACK = [
    ({"score": 0.3}, 0.3),
    ({"score": 7}, 1.0),
    ({"rating": 5}, 1.0),
    ({"rating": 2}, 0.25),
    ({"outcome": "partial"}, 0.5),
    ({"outcome": "failure"}, 0.0),
    ({}, None),
]


@pytest.mark.parametrize(("row", "score"), FEEDBACK)
def test_feedback_score(row: dict[str, object], score: float | None) -> None:
    assert feedback_score(row) == score


def test_records_from_log_rows_and_feedback() -> None:
    f = prompt("code", random.Random(7)).to_json()
    rows = [
        {"id": "a", "model": "coder", "status": "success", "features": f, "created_at": NOW},
        {"id": "b", "model": "coder", "status": "success", "features": f},
        {"id": "c", "model": "writer", "status": "error", "features": f},
        {"id": "d", "model": "writer", "status": "success", "features": None},
        {"id": "e", "model": None, "status": "error", "features": f},
        {"id": "f", "model": "coder", "status": "success", "features": {**f, "v": 999}},
        {
            "id": "g",
            "model": "poet",
            "status": "success",
            "features": json.dumps(f),
            "created_at": NOW.isoformat(),
        },
        {"id": "h", "model": "poet", "status": "success", "features": "{not json"},
    ]
    records = records_from_log(rows, {"a": {"outcome": "failure", "rating": None}})
    assert [(r.model, r.score, r.weight) for r in records] == [
        ("coder", 0.0, 1.0),
        ("coder", *IMPLICIT_SUCCESS),
        ("writer", *IMPLICIT_ERROR),
        ("poet", *IMPLICIT_SUCCESS),
    ]
    assert records[0].at == NOW and records[-1].at == NOW


def test_the_request_log_and_feedback_feed_the_segments_and_the_router() -> None:
    """The live path: a decision's features go to the log row, feedback scores it, and the
    refit (records_from_log + LearnedModel.fit, as `gateway eval --train` uses) moves the
    router's evidence for the model that answered."""
    from gateway.routing import Router
    from tests.routing.configs import make_config

    router = Router(make_config())
    rows, feedback = [], {}
    for i in range(60):
        d = router.decide(user(f"Write a python function number {i} that sorts a list."))
        rows.append({"id": f"r{i}", "model": "mini", "status": "success", "features": d.features})
        feedback[f"r{i}"] = {"outcome": "failure"}
    learned = LearnedModel.fit(records_from_log(rows, feedback), now=NOW)
    assert [s.name for s in learned.segments.items] == ["code"]
    after = router.with_learned(learned).decide(user("Write a python function that sorts names."))
    mini = next(c for c in after.candidates if c.id == "mini")
    assert mini.evidence == pytest.approx(60) and mini.learned is not None and mini.learned < 0.2
    before = router.decide(user("Write a python function that sorts names."))
    assert mini.quality < next(c.quality for c in before.candidates if c.id == "mini")
