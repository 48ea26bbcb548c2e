"""Routing, learning (off the hot path): a multi-output logistic regression in plain numpy.

One row per prompt, one output per model: P(model answers this prompt well). Each model's
weights are a shared part (what makes a prompt hard for everyone) plus its own part (what it
is good or bad at), the own part regularised harder, so a model with few outcomes leans on
what all the others taught. Sparse hashed features are held as CSR arrays; the gradient's
transpose product uses a column-sorted copy and `np.add.reduceat`, so a fit over tens of
thousands of rows takes seconds. Targets may be fractional (judge scores); missing
(prompt, model) pairs carry zero weight.
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

    l2_shared: float = 1e-4
    l2_own: float = 1e-3
    l2_dense: float = 1e-3
    iterations: int = 200
    learning_rate: float = 0.03


@dataclass(frozen=True)
class Fitted:
    """The fitted weights: row i of `weights` belongs to hashed id `ids[i]`."""

    ids: I64  # sorted hashed ids seen in training
    weights: F32  # (len(ids), n_models): shared + own part, ready to sum
    dense: F32  # (n_dense, n_models)
    bias: F32  # (n_models,)


class _Csr:
    """A binary sparse matrix, each row scaled to unit L2 norm."""

    def __init__(self, rows: Sequence[Sequence[int]], vocab: I64) -> None:
        lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        flat = np.fromiter((i for r in rows for i in r), dtype=np.int64, count=int(lengths.sum()))
        self.cols = np.searchsorted(vocab, flat)
        self.ptr = np.concatenate(([0], np.cumsum(lengths)))
        scale = 1.0 / np.sqrt(np.maximum(lengths, 1))
        self.vals = np.repeat(scale, lengths).astype(np.float32)
        self.row_of = np.repeat(np.arange(len(rows)), lengths)
        self.n, self.d = len(rows), len(vocab)
        order = np.argsort(self.cols, kind="stable")
        self.t_rows, self.t_vals = self.row_of[order], self.vals[order]
        counts = np.bincount(self.cols, minlength=self.d)
        self.t_ptr = np.concatenate(([0], np.cumsum(counts)))[:-1]
        self.t_used = counts > 0
        self.used = lengths > 0

    def dot(self, w: F32) -> F32:
        """X @ w for w of shape (d, m)."""
        out = np.zeros((self.n, w.shape[1]), dtype=np.float32)
        if self.cols.size:
            prod = w[self.cols] * self.vals[:, None]
            out[self.used] = np.add.reduceat(prod, self.ptr[:-1][self.used], axis=0)
        return out

    def tdot(self, g: F32) -> F32:
        """X.T @ g for g of shape (n, m)."""
        out = np.zeros((self.d, g.shape[1]), dtype=np.float32)
        if self.cols.size:
            prod = g[self.t_rows] * self.t_vals[:, None]
            out[self.t_used] = np.add.reduceat(prod, self.t_ptr[self.t_used], axis=0)
        return out


def _sigmoid(z: F32) -> F32:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))), dtype=np.float32)


def fit(
    rows: Sequence[Sequence[int]],
    dense: F32,
    targets: F32,
    weights: F32,
    hyper: Hyper = Hyper(),
) -> Fitted:
    """Fit P(good | prompt, model). `targets` and `weights` are (n_rows, n_models); a pair
    without an outcome has weight 0. Full-batch Adam on the weighted cross-entropy."""
    vocab = np.unique(np.fromiter((i for r in rows for i in r), dtype=np.int64))
    x = _Csr(rows, vocab)
    n_models = targets.shape[1]
    total = max(float(weights.sum()), 1e-9)
    mean = (weights * targets).sum(0) / np.maximum(weights.sum(0), 1e-9)
    mean = np.clip(mean, 0.02, 0.98)
    params = [
        np.zeros((x.d, 1), np.float32),  # shared sparse
        np.zeros((x.d, n_models), np.float32),  # own sparse
        np.zeros((dense.shape[1], 1), np.float32),  # shared dense
        np.zeros((dense.shape[1], n_models), np.float32),  # own dense
        np.log(mean / (1 - mean)).astype(np.float32),  # bias, started at the base rate
    ]
    l2 = (hyper.l2_shared, hyper.l2_own, hyper.l2_dense, hyper.l2_dense, 0.0)
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    for step in range(1, hyper.iterations + 1):
        u, v, a, b_own, bias = params
        z = x.dot(u + v) + dense @ (a + b_own) + bias
        g = (_sigmoid(z) - targets) * weights / total
        g_sparse = x.tdot(g)
        g_dense = dense.T @ g
        grads = [
            g_sparse.sum(1, keepdims=True),
            g_sparse,
            g_dense.sum(1, keepdims=True),
            g_dense,
            g.sum(0),
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
    return Fitted(ids=vocab, weights=u + v, dense=a + b_own, bias=bias)
