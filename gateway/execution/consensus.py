"""Execute step, parallel legs: pick one answer out of the legs' answers (the consensus).

Pure functions over `LegResult`s, one per leg, in the order the legs finished:

    vote              the answer most legs agree on (text compared after collapsing whitespace
                      and case, tool calls by name and parsed arguments); a tie goes to the
                      group holding the higher-quality leg
    quality_weighted  the same groups, each weighing the sum of its legs' quality estimates
    first_success     the first leg that answered (the executor cancels the others)
    judge             a judge model picks (`judge.py` writes its prompt and reads its reply);
                      when the reply cannot be read, or the judge call failed, quality_weighted
                      decides, and the outcome says so

A leg "answered" when it has no error and some text or a tool call. Every strategy returns
None when no leg answered: the request then fails with every leg's attempt listed.

`evidence` turns an outcome into weak learning records for the router (a leg that lost a vote
says a little about that model on that kind of prompt).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from gateway.routing.learn import IMPLICIT_SUCCESS


@dataclass(frozen=True, slots=True)
class LegResult:
    """What one leg came back with."""

    model: str
    quality: float  # the router's quality estimate of this model for this request, 0..1
    text: str | None = None
    tool_calls: tuple[Mapping[str, Any], ...] = ()  # OpenAI shape: {"function": {name, arguments}}
    finish_reason: str | None = None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.error is None and (bool(self.text and self.text.strip()) or bool(self.tool_calls))


@dataclass(frozen=True, slots=True)
class Consensus:
    """The chosen answer and how it was chosen."""

    strategy: str  # the strategy asked for
    decided_by: str  # the one that decided: the strategy, or quality_weighted as a fallback
    winner: int  # index of the winning leg in the list given
    model: str
    agreeing: tuple[int, ...]  # legs whose answer is the winner's (the winner included)
    answered: tuple[int, ...]  # legs that answered at all
    support: float  # share of the deciding weight on the winning answer, 0..1
    note: str | None = None  # why a fallback decided, for the log's routing_reason

    @property
    def header(self) -> str:
        """The value of `x-gateway-consensus`."""
        return f"{self.strategy}:{self.model}"


def _tool_key(call: Mapping[str, Any]) -> tuple[str, str]:
    fn = call.get("function") or {}
    name = str(fn.get("name", ""))
    args = fn.get("arguments", "")
    try:  # `{"a": 1, "b": 2}` and `{"b":2,"a":1}` are the same call
        args = json.dumps(json.loads(args), sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        args = " ".join(str(args).split())
    return name, args


def answer_key(leg: LegResult) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What two legs must share to count as the same answer."""
    text = " ".join((leg.text or "").split()).casefold()
    return text, tuple(_tool_key(c) for c in leg.tool_calls)


def _groups(legs: Sequence[LegResult]) -> list[list[int]]:
    """Indexes of the answered legs, grouped by answer, in order of first appearance."""
    by_key: dict[Any, list[int]] = {}
    for i, leg in enumerate(legs):
        if leg.answered:
            by_key.setdefault(answer_key(leg), []).append(i)
    return list(by_key.values())


def _best_leg(legs: Sequence[LegResult], group: Sequence[int]) -> int:
    return max(group, key=lambda i: (legs[i].quality, -i))  # equal quality: the earlier leg


def _by_weight(
    legs: Sequence[LegResult], strategy: str, weight: Callable[[int], float], name: str
) -> Consensus | None:
    groups = _groups(legs)
    if not groups:
        return None
    # Most weight first; then the group holding the higher-quality leg; then the earlier one.
    scored = [(sum(weight(i) for i in g), max(legs[i].quality for i in g), -g[0], g)
              for g in groups]
    total, top = sum(s[0] for s in scored), max(scored)
    group = top[3]
    win = _best_leg(legs, group)
    return Consensus(
        strategy=strategy,
        decided_by=name,
        winner=win,
        model=legs[win].model,
        agreeing=tuple(group),
        answered=tuple(i for g in groups for i in sorted(g)),
        support=top[0] / total if total > 0 else 1.0 / len(groups),
    )


def vote(legs: Sequence[LegResult], strategy: str = "vote") -> Consensus | None:
    return _by_weight(legs, strategy, lambda i: 1.0, "vote")


def quality_weighted(legs: Sequence[LegResult], strategy: str = "quality_weighted"
                     ) -> Consensus | None:
    # A floor keeps a leg whose estimate is 0 from counting for nothing at all.
    return _by_weight(legs, strategy, lambda i: max(legs[i].quality, 1e-3), "quality_weighted")


def first_success(legs: Sequence[LegResult], strategy: str = "first_success") -> Consensus | None:
    """The first leg, in the order given (the order they finished), that answered."""
    answered = tuple(i for i, leg in enumerate(legs) if leg.answered)
    if not answered:
        return None
    win = answered[0]
    key = answer_key(legs[win])
    agreeing = tuple(i for i in answered if answer_key(legs[i]) == key)
    return Consensus(strategy, "first_success", win, legs[win].model, agreeing, answered,
                     support=len(agreeing) / len(answered))


def by_label(
    legs: Sequence[LegResult], label: str | None, labels: Mapping[str, int], note: str | None = None
) -> Consensus | None:
    """The judge's pick (`label` names a leg through `labels`); None as the label, or one that
    names no leg, falls back to quality_weighted with a note saying why."""
    if label is None or label not in labels or not legs[labels[label]].answered:
        fallback = quality_weighted(legs, "judge")
        if fallback is None:
            return None
        why = note or "the judge's reply named no candidate"
        return replace(fallback, note=f"{why}; quality_weighted decided")
    win = labels[label]
    key = answer_key(legs[win])
    answered = tuple(i for i, leg in enumerate(legs) if leg.answered)
    agreeing = tuple(i for i in answered if answer_key(legs[i]) == key)
    return Consensus("judge", "judge", win, legs[win].model, agreeing, answered,
                     support=len(agreeing) / len(answered), note=note)


def needs_judge(legs: Sequence[LegResult]) -> bool:
    """A judge call is worth paying for only when the legs that answered disagree."""
    return len(_groups(legs)) > 1


# -- consensus as learning evidence -----------------------------------------------------------

# Weights against 1.0 for a client's own feedback: a vote is a weak signal (models can agree on
# a wrong answer), a judge's verdict a little stronger.
AGREED = IMPLICIT_SUCCESS  # (score, weight): as weak as a success nobody rated
LOST_VOTE = (0.0, 0.25)
JUDGE_PICKED = (1.0, 0.3)
JUDGE_PASSED_OVER = (0.0, 0.3)


def evidence(
    legs: Sequence[LegResult],
    outcome: Consensus,
    features: Mapping[str, Any],
    *,
    request_id: str | None = None,
    at: datetime | None = None,
) -> list[dict[str, Any]]:
    """Learning records from one consensus, as plain dicts with `OutcomeRecord`'s fields
    (`model`, `score`, `weight`, `at`, and `features`, the request's stored
    `PromptFeatures.to_json()`), plus `request_id` and `source: "consensus"`.

    Nothing is learned when the outcome says nothing about quality: first_success (speed, not
    quality), one answer only, or a vote where no two legs agreed (the quality tie-break chose,
    and learning from it would only echo the router's own prior back to it). Failed legs are
    left out: their attempts are in the log already, as errors."""
    answered = outcome.answered
    if len(answered) < 2 or outcome.decided_by == "first_success":
        return []
    if outcome.decided_by == "judge":
        win, lose = JUDGE_PICKED, JUDGE_PASSED_OVER
    elif len(outcome.agreeing) >= 2:
        win, lose = AGREED, LOST_VOTE
    else:
        return []
    out = []
    for i in answered:
        score, weight = win if i in outcome.agreeing else lose
        out.append({"model": legs[i].model, "score": score, "weight": weight, "at": at,
                    "features": dict(features), "request_id": request_id,
                    "source": "consensus"})
    return out


STRATEGIES: Mapping[str, Callable[[Sequence[LegResult], str], Consensus | None]] = {
    "vote": vote,
    "quality_weighted": quality_weighted,
    "first_success": first_success,
}
