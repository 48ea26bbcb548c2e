"""The learner: loads what it saved, refits from the rows it is given, hands the model over,
saves it atomically, and skips a refit when nothing new was logged."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.config import LearnConfig, parse_config
from gateway.learning import Learner, evidence_path, load_state, save_state
from gateway.routing import LearnedModel, Router

CONFIG = parse_config({
    "providers": {"p": {"kind": "openai", "api_key": "k"}},
    "models": [{"id": "small", "provider": "p", "quality": 0.6, "input_usd_per_mtok": 0.1,
                "output_usd_per_mtok": 0.2},
               {"id": "big", "provider": "p", "quality": 0.9, "input_usd_per_mtok": 5,
                "output_usd_per_mtok": 15}]}, env={})


def logged_rows(n: int) -> list[dict[str, Any]]:
    """Request rows as `LogReader.outcomes()` returns them, with real routing features."""
    router = Router(CONFIG)
    rows = []
    for i in range(n):
        body = {"messages": [{"role": "user", "content": f"Write a Python parser, case {i}"}]}
        features = router.decide(body).features
        rows.append({"id": f"r{i}", "created_at": datetime.now(UTC), "model": "small",
                     "status": "success", "features_json": json.dumps(features),
                     "outcome": "failure", "score": 0.0, "rating": None,
                     "feedback_at": datetime.now(UTC)})
    return rows


class Harness:
    def __init__(self, tmp: Path, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.used: list[LearnedModel] = []
        self.flushes = 0
        self.learner = Learner(LearnConfig(state_path=str(tmp / "state.json"),
                                           refit_interval_s=3600),
                               outcomes=self.outcomes, use=self.used.append, flush=self.flush)

    async def outcomes(self) -> list[dict[str, Any]]:
        return self.rows

    async def flush(self) -> None:
        self.flushes += 1


def test_refit_fits_hands_over_and_saves(tmp_path: Path) -> None:
    h = Harness(tmp_path, logged_rows(20))
    model = asyncio.run(h.learner.refit())
    assert model is not None and h.used == [model] and h.flushes == 1
    assert model.n_records == 20
    saved = load_state(tmp_path / "state.json")
    assert saved is not None and saved.n_records == 20


def test_nothing_new_means_no_refit(tmp_path: Path) -> None:
    h = Harness(tmp_path, logged_rows(5))

    async def twice() -> tuple[Any, Any]:
        return await h.learner.refit(), await h.learner.refit()

    first, second = asyncio.run(twice())
    assert first is not None and second is None and h.learner.refits == 1


def test_no_usable_rows_keeps_the_model(tmp_path: Path) -> None:
    h = Harness(tmp_path, [{"id": "x", "model": "small", "status": "success",
                            "features_json": None}])
    assert asyncio.run(h.learner.refit()) is None and h.used == []


def test_start_loads_the_saved_state(tmp_path: Path) -> None:
    save_state(tmp_path / "state.json", LearnedModel.empty())
    h = Harness(tmp_path, [])

    async def run() -> None:
        await h.learner.start()
        await h.learner.close()

    asyncio.run(run())
    assert len(h.used) == 1


def test_an_unreadable_state_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    assert load_state(tmp_path / "state.json") is None


def test_consensus_evidence_outlives_a_restart(tmp_path: Path) -> None:
    features = json.loads(logged_rows(1)[0]["features_json"])
    evidence = [{"model": m, "score": score, "weight": 0.25, "features": features, "at": None}
                for m, score in (("big", 1.0), ("small", 0.0), ("big", 1.0))]
    first = Harness(tmp_path, [])
    first.learner.add_evidence(evidence)
    model = asyncio.run(first.learner.refit())
    assert model is not None and model.n_records == 3
    assert len(json.loads(evidence_path(tmp_path / "state.json").read_text())) == 3

    again = Harness(tmp_path, [])  # a restart: nothing in the log, the evidence on disk

    async def restart() -> LearnedModel | None:
        await again.learner.start()
        await again.learner.close()
        return await again.learner.refit()

    refitted = asyncio.run(restart())
    assert refitted is not None and refitted.n_records == 3
    (tmp_path / "state.evidence.json").write_text("[{broken")
    again = Harness(tmp_path, [])
    assert asyncio.run(restart()) is None  # an unreadable file is ignored: nothing to learn
