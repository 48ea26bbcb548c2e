"""Routing, learning (off the hot path): clusters of prompts inside one task, from their words.

The classifier names thirteen tasks; traffic holds kinds of request it does not name (one
customer's ticket template, a benchmark's question format, MMLU's moral scenarios inside
"open QA"). Spherical k-means over the prompts' hashed tail words (binary, unit length) finds
candidate groups; `segments.py` keeps a group only when the models' outcomes on it differ
from the rest of its task by more than chance. Deterministic: seeded k-means++ start.

At decision time a prompt is assigned to the nearest centroid with one sorted-array lookup
per word (`Centroids.nearest`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
ITERATIONS = 20
TOP_WORDS = 256  # a stored centroid keeps its heaviest words only (bounded state, same nearest)
SEED = 7


@dataclass(frozen=True)
class Centroids:
    """k centroids over a sorted vocabulary of hashed ids: `weights[i, j]` is word `ids[i]`'s
    weight in centroid j."""

    ids: I64
    weights: F32  # (len(ids), k)

    @property
    def k(self) -> int:
        return int(self.weights.shape[1])

    def nearest(self, ids: Sequence[int]) -> int:
        """The centroid most similar (cosine) to a prompt's ids."""
        if not len(self.ids) or not ids:
            return 0
        wanted = np.asarray(ids, np.int64)
        pos = np.searchsorted(self.ids, wanted)
        pos[pos == len(self.ids)] = 0
        hits = pos[self.ids[pos] == wanted]
        if not hits.size:
            return 0
        return int(self.weights[hits].sum(0).argmax())

    def to_json(self) -> dict[str, Any]:
        return {"ids": self.ids.tolist(), "w": np.round(self.weights, 4).tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Centroids:
        ids = np.asarray(data["ids"], np.int64)
        weights = np.asarray(data["w"], np.float32).reshape(len(ids), -1)
        return cls(ids=ids, weights=weights)


class _Sparse:
    """Rows of binary ids as a flat (row, column) list over a local vocabulary."""

    def __init__(self, rows: Sequence[Sequence[int]]) -> None:
        lengths = np.fromiter((len(r) for r in rows), np.int64, count=len(rows))
        flat = np.fromiter((i for r in rows for i in r), np.int64, count=int(lengths.sum()))
        self.vocab, self.cols = np.unique(flat, return_inverse=True)
        self.row = np.repeat(np.arange(len(rows)), lengths)
        self.vals = np.repeat((1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32), lengths)
        self.n = len(rows)

    def sims(self, centroids: F32) -> F32:
        """(n, k) cosine similarity of every row with every (unit) centroid."""
        cols = [
            np.bincount(self.row, centroids[self.cols, j] * self.vals, minlength=self.n)
            for j in range(centroids.shape[1])
        ]
        return np.column_stack(cols).astype(np.float32)

    def means(self, assign: I64, k: int, weight: F32) -> F32:
        """(vocab, k) unit-length weighted mean of the rows assigned to each centroid."""
        flat = self.cols * k + assign[self.row]
        sums = np.bincount(flat, self.vals * weight[self.row], minlength=len(self.vocab) * k)
        c = sums.reshape(len(self.vocab), k)
        norm = np.linalg.norm(c, axis=0)
        out: F32 = (c / np.maximum(norm, 1e-9)).astype(np.float32)
        return out


def kmeans(rows: Sequence[Sequence[int]], weight: Sequence[float], k: int) -> tuple[I64, Centroids]:
    """Assign `rows` (hashed id sets) to k clusters; returns (assignment, centroids)."""
    x = _Sparse(rows)
    w = np.asarray(weight, np.float32)
    rng = np.random.default_rng(SEED)
    # k-means++ start: each next seed far from the ones already chosen
    seeds = [int(rng.integers(x.n))]
    centroids = x.means(np.zeros(x.n, np.int64), 1, _one_hot(x.n, seeds[0]))
    for _ in range(1, k):
        far = np.maximum(1.0 - x.sims(centroids).max(1), 0.0) ** 2
        seeds.append(int(rng.choice(x.n, p=far / far.sum())) if far.sum() > 0 else seeds[-1])
        centroids = np.column_stack(
            [centroids, x.means(np.zeros(x.n, np.int64), 1, _one_hot(x.n, seeds[-1]))]
        )
    assign = x.sims(centroids).argmax(1)
    for _ in range(ITERATIONS):
        centroids = x.means(assign, k, w)
        new = x.sims(centroids).argmax(1)
        if np.array_equal(new, assign):
            break
        assign = new
    return assign.astype(np.int64), _pruned(x.vocab, centroids)


def _one_hot(n: int, i: int) -> F32:
    out = np.zeros(n, np.float32)
    out[i] = 1.0
    return out


def _pruned(vocab: I64, centroids: F32) -> Centroids:
    keep = np.zeros(len(vocab), bool)
    for j in range(centroids.shape[1]):
        keep[np.argsort(-centroids[:, j], kind="stable")[:TOP_WORDS]] = True
    return Centroids(ids=vocab[keep], weights=np.ascontiguousarray(centroids[keep]))


def log_likelihood(n: npt.NDArray[np.float64], s: npt.NDArray[np.float64]) -> float:
    """Bernoulli log-likelihood of s successes in n trials at their own rate, summed over
    models (fractional outcomes such as judge scores count as quasi-likelihood)."""
    out = 0.0
    for trials, wins in zip(n.tolist(), s.tolist(), strict=True):
        if trials > 0:
            p = min(max(wins / trials, 1e-6), 1 - 1e-6)
            out += wins * math.log(p) + (trials - wins) * math.log(1 - p)
    return out
