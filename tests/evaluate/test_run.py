"""run_eval / render_eval on small files written here, and on the shared data when present."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gateway.evaluate import render_eval, run_eval, training_records
from gateway.routing import LearnedModel

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
CODE = "write a python function to {} the list using recursion and return it"
PROSE = "write a short poem about the {} river at dawn with a gentle rhyme"
VERBS = ["sort", "reverse", "flatten", "dedupe", "rotate", "split", "merge", "count"]


def outcome_rows(n: int, seed: int) -> list[dict[str, Any]]:
    """`coder` is right on code, `poet` on poems, `oracle` always, at 30x the price."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        code = i % 2 == 0
        prompt = (CODE if code else PROSE).format(rng.choice(VERBS))
        rows.append(
            {
                "id": f"r{seed}-{i}",
                "eval_name": "code" if code else "poems",
                "prompt": prompt,
                "performance": {"coder": float(code), "poet": float(not code), "oracle": 1.0},
                "cost_usd": {"coder": 0.0001, "poet": 0.0001, "oracle": 0.003},
            }
        )
    return rows


def write(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def outcome_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write(tmp_path_factory.mktemp("d") / "toy_dev.jsonl", outcome_rows(160, 1))


def test_result_has_exactly_the_contract_keys(outcome_file: str) -> None:
    result = run_eval(outcome_file, bench=False)
    out = json.loads(json.dumps(result))
    assert set(out) == {"best_model", "models", "profiles", "decision_ms"}
    assert out["best_model"] == "oracle"
    assert set(out["profiles"]) == {"auto", "auto:cheap", "auto:best", "auto:fast"}
    for prof in out["profiles"].values():
        assert set(prof) == {"quality", "cost_usd", "quality_pct_of_best", "cost_pct_of_best"}
    for m in out["models"].values():
        assert set(m) == {"quality", "cost_usd"}
    assert set(out["decision_ms"]) == {"p50", "p99"}
    assert "50/50 split" in result.details["split"]


def test_the_router_learns_the_split_and_saves_cost(outcome_file: str) -> None:
    result = run_eval(outcome_file, bench=False)
    auto = result["profiles"]["auto"]
    assert auto["quality_pct_of_best"] >= 90  # it learned who is good at what
    assert auto["cost_pct_of_best"] <= 40  # without paying the oracle for it
    assert result["profiles"]["auto:best"]["quality"] >= auto["quality"]


def test_train_file_then_data_file(tmp_path: Path, outcome_file: str) -> None:
    test_file = write(tmp_path / "toy_test.jsonl", outcome_rows(60, 2))
    state = tmp_path / "state.json"
    result = run_eval(test_file, train=outcome_file, bench=False, save_state=str(state))
    assert "trained on all 160 rows" in result.details["split"]
    learned = LearnedModel.from_json(json.loads(state.read_text()))
    assert set(learned.models) == {"coder", "poet", "oracle"}


def test_report_and_png(tmp_path: Path, outcome_file: str) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "curve.png"
    result = run_eval(outcome_file, png=str(png), bench=False)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = render_eval(result)
    for needle in ("auto:cheap", "oracle", "best single model", "decision latency", "curve"):
        assert needle in text


def test_png_without_matplotlib_is_one_line_naming_the_extra(tmp_path: Path, outcome_file: str) -> None:
    """As a user without the `plot` extra sees it: the real CLI in a fresh interpreter where
    matplotlib cannot be imported."""
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from gateway.cli import main\n"
        f"sys.exit(main(['eval', '--data', {outcome_file!r}, '--png', {str(tmp_path / 'c.png')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert "pip install '.[plot]'" in done.stderr
    assert not (tmp_path / "c.png").exists()


def test_the_curve_is_solved_on_the_training_rows_and_replayed(outcome_file: str) -> None:
    result = run_eval(outcome_file, bench=False)
    points = result.details["sweep"]
    assert [p["cost_share"] for p in points] == sorted(p["cost_share"] for p in points)
    costs = [p["cost_usd"] for p in points]
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(costs))
    # the specialists are always right on their own kind: no budget buys the oracle here
    assert {p["quality"] for p in points} == {1.0} and points[-1]["best_model_calls"] == 0
    assert set(points[0]["groups"]) == {"code", "poems"}


def test_mt_bench_turns_judge_scale_and_reference_routers(tmp_path: Path) -> None:
    rows = [
        {
            "id": f"q{i}",
            "turns": ["Write a limerick about cats.", "Now make it sadder."],
            "score_turn1": {"big": 9, "small": 6, "x_router": 8},
            "score_turn2": {"big": 8, "small": 4, "x_router": 8},
        }
        for i in range(30)
    ]
    result = run_eval(write(tmp_path / "mt.jsonl", rows), bench=False)
    assert set(result["models"]) == {"big", "small"}  # the router is not routable
    assert 0.8 <= result["models"]["big"]["quality"] <= 0.9  # judge scores 8-9 out of 10
    assert result.details["references"]["x_router"] == pytest.approx(0.8)
    assert result["models"]["big"]["cost_usd"] > 0  # priced without recorded costs


def test_labelled_file_reports_the_classifier(tmp_path: Path) -> None:
    rows = [
        {"prompt": "Write a python function to sort a list.", "label_gateway": "code"},
        {"prompt": "Solve 3x + 5 = 11 for x.", "label_gateway": "math"},
        {"prompt": "Write a poem about snow.", "label_gateway": "generation"},
        {"prompt": "mixed", "label_gateway": None},
    ] * 25
    result = run_eval(write(tmp_path / "labels.jsonl", rows))
    assert set(result) == {"accuracy", "macro_f1", "per_class"}
    assert result["accuracy"] == 1.0 and result["macro_f1"] == 1.0
    assert result["per_class"]["code"]["support"] == 25
    assert "macro-F1" in render_eval(result)


def test_training_records_cover_every_model_outcome(outcome_file: str) -> None:
    records = training_records(outcome_file)
    assert len(records) == 160 * 3
    assert {r.model for r in records} == {"coder", "poet", "oracle"}


@pytest.mark.skipif(not (DATA / "tasktype_dev.jsonl").exists(), reason="shared data absent")
def test_classifier_on_the_shared_labelled_file() -> None:
    """Scored at the file's coarser granularity; the classes with enough examples to say
    something (>= 20) keep the macro-F1 the classifier had before the new tasks."""
    result = run_eval(str(DATA / "tasktype_dev.jsonl"))
    major = [v["f1"] for v in result["per_class"].values() if v["support"] >= 20]
    assert len(major) == 5 and sum(major) / len(major) >= 0.80
    assert "closed_qa" in result.details["folded"]


OWN = Path(__file__).resolve().parents[1] / "routing" / "data"
# (file, macro-F1 floor, per-class floor): the two first sets the cues were tuned on meet the
# targets; the others guard against regressions at their level: the first holdout and the
# three sets written apart (API, consumer and workplace traffic), each scored once untuned and
# then tuned on, and the second holdout, written apart and never tuned on (RESULTS.md).
OWN_SETS = [
    ("tasks_labelled.jsonl", 0.80, 0.65),
    ("tasks_dev2.jsonl", 0.80, 0.65),
    ("tasks_holdout.jsonl", 0.72, 0.40),
    ("tasks_train_api.jsonl", 0.77, 0.55),
    ("tasks_train_consumer.jsonl", 0.80, 0.60),
    ("tasks_train_work.jsonl", 0.80, 0.60),
    ("tasks_holdout2.jsonl", 0.73, 0.45),
]


@pytest.mark.parametrize(("name", "macro", "each"), OWN_SETS)
def test_classifier_on_our_labelled_sets(name: str, macro: float, each: float) -> None:
    result = run_eval(str(OWN / name))
    assert len(result["per_class"]) == 13  # every task of the contract is labelled
    assert result["macro_f1"] >= macro
    assert min(v["f1"] for v in result["per_class"].values()) >= each


@pytest.mark.skipif(not (DATA / "routellm_mtbench_dev.jsonl").exists(), reason="shared data absent")
def test_shared_mt_bench_file_replays() -> None:
    result = run_eval(str(DATA / "routellm_mtbench_dev.jsonl"), bench=False)
    assert result["best_model"] in result["models"]
    assert result.details["references"]
