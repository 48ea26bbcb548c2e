"""Routing, learning (off the hot path): segments of traffic and what each model does on them.

A segment is a task the classifier names, or a cluster inside a task, when splitting the task
into clusters explains the outcomes better than the task as a whole (BIC; `clusters.py`). For
every segment and model the learner keeps the evidence the allocation is solved from
(`allocate.py`):

- `n`, `mean`: recency-weighted outcomes and their mean (the segment-level quality);
- `pbar`, `beta`: the per-prompt estimator's mean on the segment and how far its deviations
  from that mean are borne out by outcomes (a calibration slope from out-of-fold predictions,
  0 when prompt features say nothing beyond the segment, as inside most benchmarks);
- a reference sample of the segment's prompts (their out-of-fold predictions and token counts),
  on which a profile's exchange rate between quality and cost is solved and a new prompt's
  rank inside its segment is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.routing.clusters import Centroids, kmeans, log_likelihood
from gateway.routing.features import PromptFeatures

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
MIN_CLUSTER = 40.0  # recency-weighted prompts a cluster needs to become a segment
MAX_CLUSTERS = 8  # per task
REF_PROMPTS = 64  # reference sample per segment


@dataclass(frozen=True)
class Segment:
    """One segment's evidence; arrays are per model in `LearnedModel.models` order."""

    name: str  # "code", or "open_qa/c3" for a cluster of open_qa prompts
    task: str
    weight: float  # recency-weighted number of prompts
    n: F64  # recency-weighted number of outcomes per model
    mean: F64  # their mean per model (0 where n is 0)
    pbar: F32  # mean live prediction over the segment's prompts
    beta: F32  # calibration slope of outcomes on prediction deviations, 0..1
    ref_p: F32  # (R, M) predictions of the reference prompts (out of fold when possible)
    ref_pbar: F32  # their mean, the origin of their deviations
    ref_tokens: I64  # (R, 2) prompt and expected answer tokens
    ref_complexity: I64  # (R,)

    def to_json(self) -> dict[str, Any]:
        def r(a: npt.NDArray[Any], d: int = 4) -> Any:
            return np.round(a, d).tolist()

        return {
            "name": self.name, "task": self.task, "weight": round(self.weight, 4),
            "n": r(self.n), "mean": r(self.mean), "pbar": r(self.pbar), "beta": r(self.beta),
            "ref_p": r(self.ref_p, 3), "ref_pbar": r(self.ref_pbar),
            "ref_tokens": self.ref_tokens.tolist(), "ref_complexity": self.ref_complexity.tolist(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], m: int) -> Segment:
        def f(key: str, dtype: Any) -> Any:
            return np.asarray(d[key], dtype)

        return cls(
            name=str(d["name"]), task=str(d["task"]), weight=float(d["weight"]),
            n=f("n", np.float64), mean=f("mean", np.float64), pbar=f("pbar", np.float32),
            beta=f("beta", np.float32), ref_p=f("ref_p", np.float32).reshape(-1, m),
            ref_pbar=f("ref_pbar", np.float32),
            ref_tokens=f("ref_tokens", np.int64).reshape(-1, 2),
            ref_complexity=f("ref_complexity", np.int64),
        )


@dataclass(frozen=True)
class Segments:
    """Every segment, with the lookup from a prompt's task (and words) to its segment."""

    items: tuple[Segment, ...]
    by_task: Mapping[str, int]  # task -> its task-level segment
    clusters: Mapping[str, tuple[Centroids, tuple[int, ...]]]  # task -> centroids, segment each

    @classmethod
    def none(cls) -> Segments:
        return cls(items=(), by_task={}, clusters={})

    def find(self, task: str, ids: Sequence[int]) -> int | None:
        """The segment of a prompt, or None when the learner has seen no prompt of its task."""
        split = self.clusters.get(task)
        if split is not None:
            centroids, target = split
            return target[centroids.nearest(ids)]
        return self.by_task.get(task)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [s.to_json() for s in self.items],
            "clusters": {
                t: {"centroids": c.to_json(), "target": list(target)}
                for t, (c, target) in self.clusters.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], m: int) -> Segments:
        items = tuple(Segment.from_json(s, m) for s in data["items"])
        clusters = {
            str(t): (Centroids.from_json(c["centroids"]), tuple(int(i) for i in c["target"]))
            for t, c in data["clusters"].items()
        }
        by_task = {s.task: i for i, s in enumerate(items) if "/" not in s.name}
        return cls(items=items, by_task=by_task, clusters=clusters)


@dataclass(frozen=True)
class Evidence:
    """What `build` reads: the training prompts, their weights, the observed cells and the
    per-prompt predictions (live model in-sample, and out of fold when it was computed)."""

    prompts: Sequence[PromptFeatures]
    weight: F32  # per prompt
    row: I64  # per cell
    model: I64
    target: F32
    cell_weight: F32
    p_in: F32  # (n, M)
    p_oof: F32 | None  # (n, M)
    n_models: int

    def totals(self, rows: npt.NDArray[np.bool_]) -> tuple[F64, F64]:
        """(weighted count, weighted sum of outcomes) per model over the cells of `rows`."""
        keep = rows[self.row]
        w = self.cell_weight[keep].astype(np.float64)
        n = np.bincount(self.model[keep], w, minlength=self.n_models).astype(np.float64)
        s = np.bincount(self.model[keep], w * self.target[keep], minlength=self.n_models)
        return n, s.astype(np.float64)


def build(ev: Evidence) -> Segments:
    """Segments from the evidence: each task, split where clusters differ significantly."""
    tasks = np.array([p.task for p in ev.prompts])
    seg_of = np.full(len(ev.prompts), -1, np.int64)
    names: list[tuple[str, str]] = []
    clusters: dict[str, tuple[Centroids, tuple[int, ...]]] = {}
    for task in dict.fromkeys(tasks.tolist()):
        rows = np.flatnonzero(tasks == task)
        base = len(names)
        names.append((task, task))
        seg_of[rows] = base
        split = _split(ev, rows)
        if split is None:
            continue
        assign, centroids, kept = split
        target = []
        for j in range(centroids.k):
            if j in kept:
                seg_of[rows[assign == j]] = len(names)
                target.append(len(names))
                names.append((f"{task}/c{j}", task))
            else:
                target.append(base)
        clusters[task] = (centroids, tuple(target))
    items = tuple(_segment(ev, seg_of == i, name, task) for i, (name, task) in enumerate(names))
    by_task = {task: i for i, (name, task) in enumerate(names) if name == task}
    return Segments(items=items, by_task=by_task, clusters=clusters)


def _split(ev: Evidence, rows: I64) -> tuple[I64, Centroids, set[int]] | None:
    """Cluster one task's prompts into the number of clusters that explains the outcomes best
    (BIC: outcome log-likelihood with one mean per cluster and model, penalised by
    log(outcomes) per mean); None when one cluster (the task as a whole) is best. Clusters
    smaller than MIN_CLUSTER stay with the task."""
    total = float(ev.weight[rows].sum())
    k_max = min(MAX_CLUSTERS, int(total // MIN_CLUSTER))
    if k_max < 2:
        return None
    ids = [ev.prompts[i].ids for i in rows]
    weight = ev.weight[rows].tolist()
    penalty = math.log(max(float(ev.totals(_mask(ev, rows))[0].sum()), 2.0))
    best = _bic(ev, [rows], penalty)
    choice: tuple[I64, Centroids, set[int]] | None = None
    for k in range(2, k_max + 1):
        assign, centroids = kmeans(ids, weight, k)
        groups = [rows[assign == j] for j in range(k)]
        bic = _bic(ev, groups, penalty)
        if bic < best:
            kept = {j for j, g in enumerate(groups) if float(ev.weight[g].sum()) >= MIN_CLUSTER}
            best, choice = bic, (assign, centroids, kept)
    return choice if choice and choice[2] else None


def _mask(ev: Evidence, rows: I64) -> npt.NDArray[np.bool_]:
    out = np.zeros(len(ev.prompts), bool)
    out[rows] = True
    return out


def _bic(ev: Evidence, groups: Sequence[I64], penalty: float) -> float:
    """-2 log-likelihood of the outcomes with one mean per group and model, + penalty each."""
    total = 0.0
    params = 0
    for g in groups:
        n, s = ev.totals(_mask(ev, g))
        total += log_likelihood(n, s)
        params += int((n >= 1).sum())
    return -2.0 * total + penalty * params


def _segment(ev: Evidence, rows: npt.NDArray[np.bool_], name: str, task: str) -> Segment:
    m = ev.n_models
    n, s = ev.totals(rows)
    mean = np.where(n > 0, s / np.maximum(n, 1e-9), 0.0)
    w = ev.weight[rows]
    total = float(w.sum())
    pbar = (w @ ev.p_in[rows] / total) if total > 0 else np.zeros(m, np.float32)
    ref_src = ev.p_oof if ev.p_oof is not None else ev.p_in
    ref_pbar = (w @ ref_src[rows] / total) if total > 0 else np.zeros(m, np.float32)
    beta = _slopes(ev, rows, ref_pbar, mean, n) if ev.p_oof is not None else np.zeros(m)
    idx = _reference(np.flatnonzero(rows), w)
    return Segment(
        name=name,
        task=task,
        weight=total,
        n=n,
        mean=mean,
        pbar=np.asarray(pbar, np.float32),
        beta=np.asarray(beta, np.float32),
        ref_p=np.ascontiguousarray(ref_src[idx], np.float32).reshape(len(idx), m),
        ref_pbar=np.asarray(ref_pbar, np.float32),
        ref_tokens=np.array([ev.prompts[i].tokens for i in idx], np.int64).reshape(-1, 2),
        ref_complexity=np.array([ev.prompts[i].complexity for i in idx], np.int64),
    )


def _slopes(
    ev: Evidence, rows: npt.NDArray[np.bool_], origin: npt.NDArray[Any], mean: F64, n: F64
) -> F64:
    """Per model: the weighted least-squares slope of outcomes on out-of-fold deviations,
    clipped to 0..1 and shrunk by its own noise (James-Stein: times 1 - 1/t^2, t the slope
    over its standard error), so a slope chance alone could give counts for nothing."""
    assert ev.p_oof is not None
    keep = rows[ev.row]
    r, mdl = ev.row[keep], ev.model[keep]
    w = ev.cell_weight[keep].astype(np.float64)
    d = ev.p_oof[r, mdl].astype(np.float64) - origin[mdl]
    y = ev.target[keep].astype(np.float64) - mean[mdl]
    cov = np.bincount(mdl, w * d * y, minlength=ev.n_models)
    var = np.bincount(mdl, w * d * d, minlength=ev.n_models)
    slope = np.where(var > 1e-9, cov / np.maximum(var, 1e-9), 0.0)
    noise = np.clip(mean * (1 - mean), 0.01, 0.25) / np.maximum(var, 1e-9)  # slope variance
    t2 = slope * slope / noise
    keep = np.where(t2 > 1.0, 1.0 - 1.0 / np.maximum(t2, 1e-9), 0.0)
    return np.asarray(np.clip(slope, 0.0, 1.0) * keep)


def _reference(rows: I64, weight: F32) -> I64:
    """Up to REF_PROMPTS of a segment's prompts, the heaviest (most recent) first, ties in a
    fixed pseudo-random order so a file sorted by topic is still sampled across topics."""
    if len(rows) <= REF_PROMPTS:
        return rows
    order = np.random.default_rng(11).permutation(len(rows))
    heavy = np.argsort(-np.round(weight[order], 3), kind="stable")[:REF_PROMPTS]
    return np.sort(rows[order[heavy]])
