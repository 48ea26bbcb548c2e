"""The parallel-legs bound on outcome files: its arithmetic on a toy file whose answers are
known, and its ordering on the shared RouterBench file."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.evaluate.consensus_bound import consensus_bound, render_bound

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CODE = "write a python function to {} the list using recursion and return it"
PROSE = "write a short poem about the {} river at dawn with a gentle rhyme"
VERBS = ["sort", "reverse", "flatten", "dedupe", "rotate", "split", "merge", "count"]
COST = {"coder": 0.0001, "poet": 0.0002, "oracle": 0.003, "dud": 0.00005}


def rows(n: int) -> list[dict[str, Any]]:
    """`coder` is right on code, `poet` on poems, `oracle` always, `dud` never."""
    rng = random.Random(3)
    out = []
    for i in range(n):
        code = i % 2 == 0
        out.append({
            "id": f"r{i}",
            "prompt": (CODE if code else PROSE).format(rng.choice(VERBS)),
            "performance": {"coder": float(code), "poet": float(not code), "oracle": 1.0,
                            "dud": 0.0},
            "cost_usd": COST,
        })
    return out


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("d") / "toy_dev.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows(200)))
    return str(path)


def test_every_model_as_a_leg_reaches_the_oracle_at_the_sum_of_their_costs(toy: str) -> None:
    out = consensus_bound(toy, legs=4)
    bound = out["rows"]["legs_perfect_judge"]
    assert out["legs"] == 4 and out["best_model"] == "oracle"
    assert bound["quality"] == 1.0
    assert bound["cost_usd"] == pytest.approx(sum(COST.values()))
    assert out["rows"]["legs_one_at_random"]["quality"] == pytest.approx(0.5)  # 1+1+0+0 / 4
    oracle = out["rows"]["oracle_cheapest_best"]
    assert oracle["quality"] == 1.0
    # coder on code rows, poet on poems: about half each in the test half
    assert oracle["cost_usd"] == pytest.approx((COST["coder"] + COST["poet"]) / 2, rel=0.05)


def test_the_bound_orders_as_a_bound_must(toy: str) -> None:
    out = consensus_bound(toy, legs=2)
    r = {k: v["quality"] for k, v in out["rows"].items()}
    assert r["legs_one_at_random"] <= r["auto"] <= r["legs_perfect_judge"] <= r["oracle_cheapest_best"]
    assert out["rows"]["best_single"]["quality_pct_of_best"] == 100.0
    assert out["trio"] == ["oracle", "coder"] or out["trio"] == ["oracle", "poet"]
    text = render_bound(out)
    assert "UPPER BOUND" in text and "2 auto:consensus legs, perfect judge (BOUND)" in text


def test_a_labelled_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"prompt": "x", "label_gateway": "code"}) + "\n")
    with pytest.raises(ValueError, match="per-model outcomes"):
        consensus_bound(str(path))


@pytest.mark.skipif(not (DATA / "routerbench_subset_dev.jsonl").exists(),
                    reason="shared data absent")
def test_routerbench_three_legs() -> None:
    out = consensus_bound(str(DATA / "routerbench_subset_dev.jsonl"))
    r = out["rows"]
    assert out["best_model"] == "gpt-4-1106-preview" and out["legs"] == 3
    assert r["auto"]["quality"] < r["legs_perfect_judge"]["quality"]
    assert r["legs_perfect_judge"]["quality"] <= r["oracle_cheapest_best"]["quality"]
    assert r["legs_perfect_judge"]["cost_usd"] > r["auto"]["cost_usd"]
