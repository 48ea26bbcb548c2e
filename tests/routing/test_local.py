"""local_first: stay local while a local model can take the request, escalate above the
complexity limit or when no local model can, and say which rule applied."""

from __future__ import annotations

import pytest

from gateway.routing.local import local_first
from gateway.routing.score import Candidate


def cand(id: str, local: bool, score: float, excluded: str | None = None) -> Candidate:
    return Candidate(id, "p", local, excluded, score, 0.7, 0.7, None, 0.0, 0.001, 500.0, 0.7)


LOCAL, HOSTED = cand("qwen-7b", True, 0.4), cand("gpt-mini", False, 0.9)
DOWN = cand("qwen-7b", True, 0.0, excluded="local server http://localhost:1234/v1 did not answer")
CASES = [
    # (live, ranked, complexity, max, winner, escalated, rule contains)
    ([HOSTED, LOCAL], [HOSTED, LOCAL], 1, 3, "qwen-7b", False, "1 <= local_max_complexity 3"),
    ([HOSTED, LOCAL], [HOSTED, LOCAL], 3, 3, "qwen-7b", False, "stays local"),
    ([HOSTED, LOCAL], [HOSTED, LOCAL], 4, 3, "gpt-mini", True, "4 > local_max_complexity 3"),
    ([LOCAL], [LOCAL], 9, 3, "qwen-7b", False, "no hosted model can take it"),
    ([HOSTED], [HOSTED, DOWN], 1, 3, "gpt-mini", True, "did not answer"),
    ([HOSTED], [HOSTED], 1, 3, "gpt-mini", True, "no local model is configured"),
]


@pytest.mark.parametrize(("live", "ranked", "complexity", "limit", "winner", "escalated", "rule"), CASES)
def test_local_first(
    live: list[Candidate], ranked: list[Candidate], complexity: int, limit: int, winner: str,
    escalated: bool, rule: str,
) -> None:
    got, why, up = local_first(live, ranked, complexity, limit)
    assert (got.id, up) == (winner, escalated)
    assert rule in why
