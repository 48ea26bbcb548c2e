"""Routing, learning (off the hot path): a multi-output logistic regression in plain numpy.

P(model answers this prompt well), one logistic output per model. Each model's weights are a
shared part (what makes a prompt hard for everyone) plus its own part (what it is good or bad
at), the own part regularised harder, so a model with few outcomes leans on what all the
others taught. Only observed (prompt, model) cells are computed: an evaluation row observes
every model, a log row one, and the cost follows the cells, not prompts x models. Sparse
products are flat gathers, `np.add.reduceat` and `np.bincount`. Targets may be fractional
(judge scores).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Hyper:
    """Training settings; the defaults were chosen on the development split (see RESULTS.md)."""

    l2_shared: float = 3e-5
    l2_own: float = 3e-4
    l2_dense: float = 1e-4
    iterations: int = 200
    learning_rate: float = 0.03


@dataclass(frozen=True)
class Fitted:
    """The fitted weights: row i of `weights` belongs to hashed id `ids[i]`."""

    ids: I64  # sorted hashed ids seen in training
    weights: F32  # (len(ids), n_models): shared + own part, ready to sum
    dense: F32  # (n_dense, n_models)
    bias: F32  # (n_models,)


@dataclass(frozen=True)
class Cells:
    """The observed (prompt, model) pairs: row index, model index, target 0..1, weight > 0."""

    row: I64
    model: I64
    target: F32
    weight: F32


class _Design:
    """Each cell's sparse features, laid out flat: entry e belongs to cell `cell_of[e]`, has
    column `cols[e]` and value `vals[e]` (the prompt's binary features scaled to unit norm)."""

    def __init__(self, rows: Sequence[Sequence[int]], vocab: I64, cells: Cells, n_models: int):
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(lengths.sum()))
        cols = np.searchsorted(vocab, flat)
        starts = np.concatenate(([0], np.cumsum(lengths)))
        per_cell = lengths[cells.row]
        self.cell_of = np.repeat(np.arange(len(cells.row)), per_cell)
        # entry e of cell c is entry (e - first entry of c) of its prompt's row
        first = np.repeat(np.cumsum(per_cell) - per_cell, per_cell)
        offset = np.arange(int(per_cell.sum())) - first
        self.cols = cols[np.repeat(starts[cells.row], per_cell) + offset]
        self.flat = self.cols * n_models + np.repeat(cells.model, per_cell)
        scale = (1.0 / np.sqrt(np.maximum(lengths, 1))).astype(np.float32)
        self.vals = np.repeat(scale[cells.row], per_cell)
        self.ptr = (np.cumsum(per_cell) - per_cell)[per_cell > 0]
        self.used = per_cell > 0
        self.n_cells, self.d, self.m = len(cells.row), len(vocab), n_models

    def dot(self, u: F32, v: F32) -> F32:
        """Per cell: its prompt's features . (shared + its model's own weights)."""
        out = np.zeros(self.n_cells, np.float32)
        if self.cols.size:
            w = (u[self.cols] + v.ravel()[self.flat]) * self.vals
            out[self.used] = np.add.reduceat(w, self.ptr)
        return out

    def grads(self, g: F32) -> tuple[F32, F32]:
        """Gradients of the shared (d,) and own (d, m) sparse weights for cell gradients g."""
        ge = g[self.cell_of] * self.vals
        shared = np.bincount(self.cols, ge, minlength=self.d).astype(np.float32)
        own = np.bincount(self.flat, ge, minlength=self.d * self.m).astype(np.float32)
        return shared, own.reshape(self.d, self.m)


def _sigmoid(z: F32) -> F32:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))), dtype=np.float32)


def fit(
    rows: Sequence[Sequence[int]],
    dense: F32,
    cells: Cells,
    n_models: int,
    hyper: Hyper = Hyper(),
) -> Fitted:
    """Fit P(good | prompt, model) on the observed cells only (a log row observes one model,
    an evaluation row all of them). Full-batch Adam on the weighted cross-entropy."""
    vocab = np.unique(np.fromiter((i for r in rows for i in r), dtype=np.int64))
    x = _Design(rows, vocab, cells, n_models)
    d_cell = dense[cells.row]
    total = max(float(cells.weight.sum()), 1e-9)
    per_model = np.bincount(cells.model, cells.weight, minlength=n_models)
    mean = np.bincount(cells.model, cells.weight * cells.target, minlength=n_models)
    mean = np.clip(mean / np.maximum(per_model, 1e-9), 0.02, 0.98)
    params = [
        np.zeros(x.d, np.float32),  # shared sparse
        np.zeros((x.d, n_models), np.float32),  # own sparse
        np.zeros(dense.shape[1], np.float32),  # shared dense
        np.zeros((dense.shape[1], n_models), np.float32),  # own dense
        np.log(mean / (1 - mean)).astype(np.float32),  # bias, started at the base rate
    ]
    l2 = (hyper.l2_shared, hyper.l2_own, hyper.l2_dense, hyper.l2_dense, 0.0)
    order = np.argsort(cells.model, kind="stable")  # cells grouped by model, for sums per model
    present = np.unique(cells.model)
    starts = np.searchsorted(cells.model[order], present)
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    for step in range(1, hyper.iterations + 1):
        u, v, a, b_own, bias = params
        z = x.dot(u, v) + d_cell @ a + (d_cell * b_own.T[cells.model]).sum(1) + bias[cells.model]
        g = (_sigmoid(z) - cells.target) * cells.weight / total
        g_shared, g_own = x.grads(g)
        g_dense_own = np.zeros_like(b_own)
        g_dense_own[:, present] = np.add.reduceat((d_cell * g[:, None])[order], starts).T
        grads = [
            g_shared,
            g_own,
            d_cell.T @ g,
            g_dense_own,
            np.bincount(cells.model, g, minlength=n_models).astype(np.float32),
        ]
        for p, grad, lam, s1, s2 in zip(params, grads, l2, m1, m2, strict=True):
            grad = grad + 2 * lam * p
            s1 *= 0.9
            s1 += 0.1 * grad
            s2 *= 0.999
            s2 += 0.001 * grad * grad
            p -= (
                hyper.learning_rate
                * (s1 / (1 - 0.9**step))
                / (np.sqrt(s2 / (1 - 0.999**step)) + 1e-8)
            ).astype(np.float32)
    u, v, a, b_own, bias = params
    return Fitted(ids=vocab, weights=u[:, None] + v, dense=a[:, None] + b_own, bias=bias)
