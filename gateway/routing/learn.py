"""Routing, step 2b: what the learner knows: per-prompt quality estimates and segments of traffic.

Learns from outcome records `(prompt features, model, score 0..1, weight, when)`, whatever
their origin: an evaluation file (`gateway eval --train`), the request log, or
`POST /v1/feedback` (`records_from_log` turns the last two into records). `LearnedModel.fit`
is that one code path; it runs off the hot path (a refit task, or the eval command), and the
result is persisted with `to_json` / `from_json`. Older records count less: weight halves
every `half_life_days`.

A fit is three steps: the per-prompt estimator (`logistic.py`: P(good) per model from the
prompt's tail words), its out-of-fold predictions (two half fits, so the allocation learns how
far per-prompt deviations are borne out rather than trusting in-sample ones), and the segments
(`segments.py`: tasks, split by clusters where outcomes differ) with their evidence.

At decision time `predict` costs one dict lookup per prompt word and a small matrix sum.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.routing.features import DENSE_NAMES, FEATURE_VERSION, PromptFeatures
from gateway.routing.logistic import Cells, Fitted, Hyper, fit
from gateway.routing.segments import Evidence, Segments, build

STATE_VERSION = 2
# A model's learned estimate gets weight n / (n + BLEND_RECORDS) against its configured prior,
# n being its recency-weighted number of outcomes: 30 outcomes make it count as much as the prior.
BLEND_RECORDS = 30.0
# How a log row without feedback counts: an error is a bad outcome; a success is only weak
# evidence of a good one (the client may still have been unhappy).
IMPLICIT_SUCCESS = (1.0, 0.1)  # (score, weight)
IMPLICIT_ERROR = (0.0, 0.5)
FEEDBACK_OUTCOME = {"success": 1.0, "partial": 0.5, "failure": 0.0}
# A fit reads at most this many prompts (the heaviest, i.e. most recent): ~30 s on one core
# for chat-sized prompts and 15 models (twice that with the out-of-fold fits), so a
# background refit stays bounded.
MAX_ROWS = 10_000
OOF_MIN_PROMPTS = 100  # below this, per-prompt deviations are not calibrated (slope 0)
OOF_SEED = 3


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    """How well one model answered one prompt."""

    features: PromptFeatures
    model: str
    score: float  # 0..1
    weight: float = 1.0
    at: datetime | None = None  # None: as of now


@dataclass(frozen=True)
class LearnedModel:
    """Fitted per-model weights over hashed prompt features, per-model track records, and the
    segments of traffic with their evidence."""

    models: tuple[str, ...]
    ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float32]  # (len(ids), len(models))
    dense: npt.NDArray[np.float32]  # (len(DENSE_NAMES), len(models))
    bias: npt.NDArray[np.float32]  # (len(models),)
    support: Mapping[str, float]  # recency-weighted number of outcomes per model
    history: Mapping[str, float]  # recency-weighted mean outcome per model
    fitted_at: datetime
    n_records: int
    segments: Segments = field(default_factory=Segments.none)

    # -- building -------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        records: Iterable[OutcomeRecord],
        *,
        now: datetime | None = None,
        half_life_days: float = 14.0,
        hyper: Hyper | None = None,
    ) -> LearnedModel:
        """Fit on `records`; a record `age` days old weighs 0.5 ** (age / half_life_days)."""
        now = now or datetime.now(UTC)
        rows: dict[PromptFeatures, int] = {}
        cells: list[tuple[int, int, float, float]] = []
        models: dict[str, int] = {}
        for rec in records:
            age = 0.0 if rec.at is None else max((now - rec.at).total_seconds(), 0) / 86400
            w = rec.weight * 0.5 ** (age / half_life_days)
            if w <= 0 or not 0 <= rec.score <= 1:
                continue
            r = rows.setdefault(rec.features, len(rows))
            m = models.setdefault(rec.model, len(models))
            cells.append((r, m, rec.score, w))
        return cls._from_cells(list(rows), list(models), cells, now, hyper or Hyper())

    @classmethod
    def _from_cells(
        cls,
        prompts: list[PromptFeatures],
        models: list[str],
        cells: list[tuple[int, int, float, float]],
        now: datetime,
        hyper: Hyper,
    ) -> LearnedModel:
        n, m = len(prompts), len(models)
        if n == 0:
            return cls.empty(now)
        merged: dict[tuple[int, int], tuple[float, float]] = {}
        for r, c, score, w in cells:  # a repeated (prompt, model) pair averages, weighted
            s0, w0 = merged.get((r, c), (0.0, 0.0))
            merged[(r, c)] = (s0 + score * w, w0 + w)
        keys = np.array(list(merged), np.int64).reshape(-1, 2)
        sums = np.array(list(merged.values()), np.float64).reshape(-1, 2)
        weight = sums[:, 1]
        target = sums[:, 0] / weight
        support = np.bincount(keys[:, 1], weight, minlength=m)
        history = np.bincount(keys[:, 1], weight * target, minlength=m) / np.maximum(support, 1e-9)
        heft = np.zeros(n)
        np.maximum.at(heft, keys[:, 0], weight)  # a prompt weighs as its heaviest outcome
        used = np.arange(n)
        if n > MAX_ROWS:  # bound the refit: keep the prompts that weigh most (the recent ones)
            used = np.sort(np.argsort(-heft, kind="stable")[:MAX_ROWS])
        index = np.full(n, -1, np.int64)
        index[used] = np.arange(len(used))
        keep = index[keys[:, 0]] >= 0
        kept = [prompts[i] for i in used]
        all_cells = Cells(
            row=index[keys[keep, 0]],
            model=keys[keep, 1],
            target=target[keep].astype(np.float32),
            weight=weight[keep].astype(np.float32),
        )
        fitted = _fit(kept, all_cells, m, hyper)
        p_oof = _out_of_fold(kept, all_cells, m, hyper)
        evidence = Evidence(
            prompts=kept,
            weight=heft[used].astype(np.float32),
            row=all_cells.row,
            model=all_cells.model,
            target=all_cells.target,
            cell_weight=all_cells.weight,
            p_in=_predict_all(fitted, kept),
            p_oof=p_oof,
            n_models=m,
        )
        nonzero = np.abs(fitted.weights).max(1) >= 1e-4  # weights L2 left at ~0 are noise
        return cls(
            models=tuple(models),
            ids=fitted.ids[nonzero],
            weights=np.ascontiguousarray(fitted.weights[nonzero]),
            dense=fitted.dense,
            bias=fitted.bias,
            support={k: float(support[i]) for i, k in enumerate(models)},
            history={k: float(history[i]) for i, k in enumerate(models)},
            fitted_at=now,
            n_records=len(cells),
            segments=build(evidence),
        )

    @classmethod
    def empty(cls, now: datetime | None = None) -> LearnedModel:
        """A model that knows nothing: every estimate falls back to the configured prior."""
        return cls(
            models=(),
            ids=np.zeros(0, np.int64),
            weights=np.zeros((0, 0), np.float32),
            dense=np.zeros((len(DENSE_NAMES), 0), np.float32),
            bias=np.zeros(0, np.float32),
            support={},
            history={},
            fitted_at=now or datetime.now(UTC),
            n_records=0,
        )

    # -- using ----------------------------------------------------------------------------

    def column(self, model: str) -> int:
        """The output index of `model`, or -1 if no outcome of it was ever seen."""
        try:
            return self.models.index(model)
        except ValueError:
            return -1

    def predict(self, features: PromptFeatures) -> npt.NDArray[np.float64]:
        """P(good) for every model in `self.models`, in that order."""
        if not self.models:
            return np.zeros(0)
        return _predict(self.ids, self.weights, self.dense, self.bias, features)

    def blend_weight(self, model: str) -> float:
        """How much the learned estimate counts against the prior for `model` (0..1)."""
        n = self.support.get(model, 0.0)
        return n / (n + BLEND_RECORDS)

    # -- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "feature_version": FEATURE_VERSION,
            "models": list(self.models),
            "ids": self.ids.tolist(),
            "weights": np.round(self.weights, 5).tolist(),
            "dense": np.round(self.dense, 5).tolist(),
            "bias": np.round(self.bias, 5).tolist(),
            "support": dict(self.support),
            "history": dict(self.history),
            "fitted_at": self.fitted_at.isoformat(),
            "n_records": self.n_records,
            "segments": self.segments.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LearnedModel:
        """Rebuild a saved model; raises ValueError if the state is from another version."""
        if data.get("version") != STATE_VERSION or data.get("feature_version") != FEATURE_VERSION:
            raise ValueError("learned router state is from another version; refit it")
        models = tuple(str(m) for m in data["models"])
        ids = np.asarray(data["ids"], np.int64)
        weights = np.asarray(data["weights"], np.float32).reshape(len(ids), len(models))
        dense = np.asarray(data["dense"], np.float32).reshape(len(DENSE_NAMES), len(models))
        bias = np.asarray(data["bias"], np.float32).reshape(len(models))
        return cls(
            models=models,
            ids=ids,
            weights=weights,
            dense=dense,
            bias=bias,
            support={str(k): float(v) for k, v in data["support"].items()},
            history={str(k): float(v) for k, v in data["history"].items()},
            fitted_at=datetime.fromisoformat(data["fitted_at"]),
            n_records=int(data["n_records"]),
            segments=Segments.from_json(data["segments"], len(models)),
        )


def _fit(prompts: Sequence[PromptFeatures], cells: Cells, m: int, hyper: Hyper) -> Fitted:
    dense = np.array([p.dense for p in prompts], np.float32).reshape(len(prompts), -1)
    return fit([p.ids for p in prompts], dense, cells, m, hyper)


def _out_of_fold(
    prompts: Sequence[PromptFeatures], cells: Cells, m: int, hyper: Hyper
) -> npt.NDArray[np.float32] | None:
    """Each prompt's predictions by a model fitted on the other half of the prompts."""
    n = len(prompts)
    if n < OOF_MIN_PROMPTS:
        return None
    fold = np.random.default_rng(OOF_SEED).permutation(n) % 2
    out = np.zeros((n, m), np.float32)
    for k in (0, 1):
        train = fold[cells.row] != k
        local = np.cumsum(fold != k) - 1  # prompt index -> index among the training half
        half = [p for p, f in zip(prompts, fold, strict=True) if f != k]
        sub = Cells(
            row=local[cells.row[train]],
            model=cells.model[train],
            target=cells.target[train],
            weight=cells.weight[train],
        )
        fitted = _fit(half, sub, m, hyper)
        rows = np.flatnonzero(fold == k)
        out[rows] = _predict_all(fitted, [prompts[int(i)] for i in rows])
    return out


def _predict_all(fitted: Fitted, prompts: Sequence[PromptFeatures]) -> npt.NDArray[np.float32]:
    out = np.zeros((len(prompts), fitted.bias.shape[0]), np.float32)
    for i, p in enumerate(prompts):
        out[i] = _predict(fitted.ids, fitted.weights, fitted.dense, fitted.bias, p)
    return out


def _predict(
    ids: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    dense: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32],
    features: PromptFeatures,
) -> npt.NDArray[np.float64]:
    z = np.asarray(features.dense, np.float32) @ dense + bias
    hits = _hits(ids, features.ids)
    if hits.size:
        z += weights[hits].sum(0) * np.float32(1 / math.sqrt(len(features.ids)))
    return np.asarray(1.0 / (1.0 + np.exp(-z)), np.float64)


def _hits(vocab: npt.NDArray[np.int64], ids: Sequence[int]) -> npt.NDArray[np.int64]:
    """Rows of `vocab` (sorted) that hold one of `ids` (sorted)."""
    if not len(vocab) or not ids:
        return np.zeros(0, np.int64)
    wanted = np.asarray(ids, np.int64)
    pos = np.searchsorted(vocab, wanted)
    pos[pos == len(vocab)] = 0
    hits: npt.NDArray[np.int64] = pos[vocab[pos] == wanted]
    return hits


# -- the request log and feedback as outcome records ----------------------------------------


def feedback_score(feedback: Mapping[str, Any]) -> float | None:
    """One feedback row's score: `score` if given, else `rating` 1..5, else `outcome`."""
    score = feedback.get("score")
    if isinstance(score, int | float) and not isinstance(score, bool):
        return min(max(float(score), 0.0), 1.0)
    rating = feedback.get("rating")
    if isinstance(rating, int | float) and not isinstance(rating, bool):
        return min(max((float(rating) - 1) / 4, 0.0), 1.0)
    return FEEDBACK_OUTCOME.get(str(feedback.get("outcome")))


def records_from_log(
    rows: Iterable[Mapping[str, Any]],
    feedback: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[OutcomeRecord]:
    """Outcome records from `requests` rows (with their stored `features`) and the feedback
    given on them (`request_id -> feedback row`). Feedback counts fully; a row without it
    counts as `IMPLICIT_SUCCESS` or `IMPLICIT_ERROR`. Rows without features are skipped."""
    feedback = feedback or {}
    out: list[OutcomeRecord] = []
    for row in rows:
        raw = row.get("features")
        if isinstance(raw, str | bytes):  # a JSON column read back as text
            try:
                raw = json.loads(raw)
            except ValueError:
                continue
        model = row.get("model")
        if not isinstance(raw, Mapping) or not model:
            continue
        features = PromptFeatures.from_json(raw)
        if features is None:
            continue
        fb = feedback.get(str(row.get("id")))
        score = feedback_score(fb) if fb else None
        if score is not None:
            weight = 1.0
        elif row.get("status") == "success":
            score, weight = IMPLICIT_SUCCESS
        else:
            score, weight = IMPLICIT_ERROR
        at = row.get("created_at")
        if isinstance(at, str):
            try:
                at = datetime.fromisoformat(at)
            except ValueError:
                at = None
        out.append(
            OutcomeRecord(
                features=features,
                model=str(model),
                score=score,
                weight=weight,
                at=_utc(at) if isinstance(at, datetime) else None,
            )
        )
    return out


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
