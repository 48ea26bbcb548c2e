"""Consensus strategies over scripted leg results, table-driven; and consensus as evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.execution.consensus import (
    STRATEGIES,
    LegResult,
    answer_key,
    by_label,
    evidence,
    first_success,
    needs_judge,
    quality_weighted,
    vote,
)
from gateway.routing import LearnedModel, OutcomeRecord, PromptFeatures, classify, extract


def leg(model: str, quality: float, text: str | None = None, **kw: Any) -> LegResult:
    return LegResult(model=model, quality=quality, text=text, **kw)


def call(name: str, arguments: str) -> dict[str, Any]:
    return {"id": "call_x", "type": "function", "function": {"name": name, "arguments": arguments}}


FAILED = {"error": "HTTP 503"}

# (legs, vote's winner, quality_weighted's winner, agreeing legs under vote)
CASES = [
    # two agree (after whitespace and case), the stronger third dissents: the majority wins
    ([leg("a", 0.6, "Paris"), leg("b", 0.95, "Lyon"), leg("c", 0.5, "  paris \n")],
     "a", "a", (0, 2)),
    # no agreement: a three-way tie goes to the highest quality leg
    ([leg("a", 0.6, "1"), leg("b", 0.9, "2"), leg("c", 0.7, "3")], "b", "b", (1,)),
    # 1-1 tie between two groups: the group with the higher-quality leg
    ([leg("a", 0.6, "x"), leg("b", 0.8, "y")], "b", "b", (1,)),
    # vote counts heads, quality_weighted weighs them: two weak legs vs one strong one
    ([leg("a", 0.3, "x"), leg("b", 0.3, "x"), leg("c", 0.9, "y")], "a", "c", (0, 1)),
    # a failed leg does not vote; an empty answer is no answer
    ([leg("a", 0.9, None, **FAILED), leg("b", 0.5, "ok"), leg("c", 0.99, "   ")], "b", "b", (1,)),
    # inside the winning group, the answer returned is the higher-quality leg's
    ([leg("a", 0.5, "The Answer"), leg("b", 0.7, "the answer"), leg("c", 0.9, "other")],
     "b", "b", (0, 1)),
    # tool calls agree by name and parsed arguments (key order and spacing do not matter)
    ([leg("a", 0.5, None, tool_calls=(call("get", '{"a": 1, "b": 2}'),)),
      leg("b", 0.6, None, tool_calls=(call("get", '{"b":2,"a":1}'),)),
      leg("c", 0.9, None, tool_calls=(call("get", '{"a": 3}'),))], "b", "b", (0, 1)),
]


@pytest.mark.parametrize(("legs", "voted", "weighted", "agreeing"), CASES)
def test_vote_and_quality_weighted(legs: list[LegResult], voted: str, weighted: str,
                                   agreeing: tuple[int, ...]) -> None:
    v = vote(legs)
    assert v is not None and v.model == voted and v.agreeing == agreeing
    assert v.decided_by == "vote" and v.header == f"vote:{voted}"
    assert legs[v.winner].model == voted
    q = quality_weighted(legs)
    assert q is not None and q.model == weighted
    assert STRATEGIES["vote"](legs, "vote") == v


def test_support_is_the_winning_share() -> None:
    legs = [leg("a", 0.5, "x"), leg("b", 0.5, "x"), leg("c", 0.5, "y"), leg("d", 0.5, None,
                                                                           **FAILED)]
    assert vote(legs).support == pytest.approx(2 / 3)  # type: ignore[union-attr]
    assert vote(legs).answered == (0, 1, 2)  # type: ignore[union-attr]


def test_first_success_takes_the_first_answer_in_finishing_order() -> None:
    legs = [leg("slow-fail", 0.9, None, **FAILED), leg("fast", 0.4, "hi"), leg("late", 0.9, "HI")]
    out = first_success(legs)
    assert out is not None and out.model == "fast" and out.agreeing == (1, 2)


def test_no_answer_no_consensus() -> None:
    legs = [leg("a", 0.9, None, **FAILED), leg("b", 0.5, "")]
    for strategy in (vote, quality_weighted, first_success):
        assert strategy(legs) is None
    assert by_label(legs, None, {}) is None
    assert not needs_judge(legs)


def test_the_judge_is_needed_only_when_answers_differ() -> None:
    assert not needs_judge([leg("a", 0.5, "Yes."), leg("b", 0.9, "yes.")])
    assert needs_judge([leg("a", 0.5, "Yes."), leg("b", 0.9, "No.")])
    assert not needs_judge([leg("a", 0.5, "Yes."), leg("b", 0.9, None, **FAILED)])


def test_by_label_takes_the_judges_pick_or_falls_back() -> None:
    legs = [leg("a", 0.9, "x"), leg("b", 0.3, "y"), leg("c", 0.2, "y")]
    picked = by_label(legs, "B", {"A": 2, "B": 0, "C": 1})
    assert picked is not None and picked.model == "a" and picked.decided_by == "judge"
    assert picked.header == "judge:a" and picked.note is None
    fell = by_label(legs, None, {"A": 2, "B": 0, "C": 1}, note="the judge call failed (HTTP 500)")
    assert fell is not None and fell.decided_by == "quality_weighted" and fell.strategy == "judge"
    assert fell.model == "a"  # 0.9 against 0.3 + 0.2
    assert fell.note == "the judge call failed (HTTP 500); quality_weighted decided"
    assert fell.header == "judge:a"
    unknown = by_label(legs, "D", {"A": 2, "B": 0, "C": 1})
    assert unknown is not None and "named no candidate" in (unknown.note or "")


def test_answer_key_normalises_whitespace_and_case_only() -> None:
    assert answer_key(leg("a", 1, " Hello\n\tWorld ")) == answer_key(leg("b", 1, "hello world"))
    assert answer_key(leg("a", 1, "hello world.")) != answer_key(leg("b", 1, "hello world"))


# -- evidence -----------------------------------------------------------------------------------

FEATURES = extract(classify({"messages": [{"role": "user", "content": "What is 2+2?"}]})).to_json()
AT = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_leg_that_lost_a_vote_is_weak_negative_evidence() -> None:
    legs = [leg("a", 0.6, "4"), leg("b", 0.9, "5"), leg("c", 0.5, "4"), leg("d", 0.5, None,
                                                                           **FAILED)]
    rows = evidence(legs, vote(legs), FEATURES, request_id="req_1", at=AT)  # type: ignore[arg-type]
    got = {r["model"]: (r["score"], r["weight"]) for r in rows}
    assert got == {"a": (1.0, 0.1), "b": (0.0, 0.25), "c": (1.0, 0.1)}  # d failed: not here
    assert all(r["source"] == "consensus" and r["request_id"] == "req_1" for r in rows)
    # The records are what the learner takes: OutcomeRecord fields, features as stored.
    records = [OutcomeRecord(features=PromptFeatures.from_json(r["features"]),  # type: ignore[arg-type]
                             model=r["model"], score=r["score"], weight=r["weight"], at=r["at"])
               for r in rows]
    learned = LearnedModel.fit(records, now=AT)
    assert learned.n_records == 3 and learned.history["b"] == 0.0


def test_judge_verdicts_count_a_little_more() -> None:
    legs = [leg("a", 0.6, "x"), leg("b", 0.9, "y")]
    rows = evidence(legs, by_label(legs, "A", {"A": 1, "B": 0}), FEATURES)  # type: ignore[arg-type]
    assert {r["model"]: (r["score"], r["weight"]) for r in rows} == {"a": (0.0, 0.3),
                                                                    "b": (1.0, 0.3)}


@pytest.mark.parametrize("name", ["no agreement", "first_success", "one answer",
                                  "judge fell back, no agreement"])
def test_no_evidence_when_the_outcome_says_nothing_about_quality(name: str) -> None:
    split = [leg("a", 0.6, "1"), leg("b", 0.9, "2"), leg("c", 0.7, "3")]
    outcome = {
        "no agreement": vote(split),  # the prior chose: learning from it would echo the prior
        "first_success": first_success([leg("a", 0.5, "x"), leg("b", 0.5, "y")]),
        "one answer": vote([leg("a", 0.5, "x"), leg("b", 0.5, None, **FAILED)]),
        "judge fell back, no agreement": by_label(split, None, {"A": 0, "B": 1, "C": 2}),
    }[name]
    legs = split if "agreement" in name else [leg("a", 0.5, "x"), leg("b", 0.5, "y")]
    assert outcome is not None
    assert evidence(legs, outcome, FEATURES) == []
