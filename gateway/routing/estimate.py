"""Routing, step 2c: the quality estimate of every catalog model for a prompt, with its evidence.

One formula serves a live decision (`for_prompt`) and the allocation solve over a segment's
reference prompts (`for_reference`), so the two cannot disagree:

    prior   = configured quality for the task, sharpened by complexity (q ** gamma), blended
              with the per-prompt estimator by how much the learner has seen of the model
    learned = the segment's mean outcome + beta * (the prompt's estimate - the segment's mean
              estimate): the segment carries the signal, the prompt adjusts it as far as
              out-of-fold evidence says prompt features can be trusted
    quality = (n * learned + BLEND_RECORDS * prior) / (n + BLEND_RECORDS), n the segment's
              recency-weighted outcomes of the model; its standard error shrinks with n

The track record (the profile's `history` part) is the learned estimate on the prompt's segment
when the model has outcomes there, else its mean over all traffic, else its prior: a model
that is perfect on code and useless on poems has a perfect record for a code prompt.

Everything is per catalog entry, in catalog order, as numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.config import TASKS
from gateway.routing.catalog import Entry
from gateway.routing.learn import BLEND_RECORDS, LearnedModel
from gateway.routing.segments import Segment

F64 = npt.NDArray[np.float64]
COMPLEXITY_PIVOT = 4  # complexity at which the prior is taken as configured
TASK_INDEX = {t: i for i, t in enumerate(TASKS)}


def gamma(complexity: int | F64) -> F64:
    """Hard prompts widen the gap between strong and weak models, easy ones narrow it: the
    exponent doubles every 4 levels above the pivot."""
    return np.asarray(2.0 ** ((np.asarray(complexity, np.float64) - COMPLEXITY_PIVOT) / 4.0))


@dataclass(frozen=True)
class Estimates:
    """One prompt's view of every entry."""

    quality: F64  # the blended estimate, 0..1
    prior: F64  # the configured prior (sharpened), before learning
    learned: F64  # the learned estimate (segment + prompt), NaN where nothing was learned
    evidence: F64  # the segment's outcomes of each model (n)
    stderr: F64  # standard error of `quality`
    history: F64  # track record: learned on the segment, else overall mean, else prior


class Estimator:
    """The catalog's priors and the learner's evidence, laid out per entry."""

    def __init__(self, entries: tuple[Entry, ...], learned: LearnedModel) -> None:
        self.learned = learned
        cols = np.array([learned.column(e.id) for e in entries], np.int64)
        self.known = cols >= 0
        self.cols = np.where(self.known, cols, 0)
        self.priors = np.array(
            [[e.quality.get(t, e.quality["default"]) for t in TASKS] for e in entries], np.float64
        ).reshape(len(entries), len(TASKS))
        self.blend = np.array([learned.blend_weight(e.id) for e in entries], np.float64)
        self.history = np.array(
            [learned.history.get(e.id, e.quality["default"]) for e in entries], np.float64
        )

    def _prior(self, task: str, complexity: int | F64, p: F64 | None) -> F64:
        """(E,) or (R, E): the configured prior, blended with the per-prompt estimate."""
        base = self.priors[:, TASK_INDEX.get(task, TASK_INDEX["open_qa"])]
        g = gamma(complexity)
        prior = base ** (g[..., None] if np.ndim(g) else g)
        if p is None or not self.known.any():
            return np.asarray(prior, np.float64)
        per_prompt = np.where(self.known, p[..., self.cols], prior)
        return np.asarray(self.blend * per_prompt + (1 - self.blend) * prior)

    def _combine(self, seg: Segment | None, prior: F64, p: F64 | None, origin: F64 | None) -> Estimates:
        if seg is None or p is None or origin is None:
            nan = np.full(prior.shape, np.nan)
            none = np.zeros(prior.shape[-1])
            return Estimates(prior, prior, nan, none, _stderr(prior, 0.0), self.history)
        n = np.where(self.known, seg.n[self.cols], 0.0)
        dev = p[..., self.cols] - origin[self.cols]
        learned = np.clip(seg.mean[self.cols] + seg.beta[self.cols] * dev, 0.0, 1.0)
        learned = np.where(self.known, learned, np.nan)
        mix = np.where(n > 0, np.nan_to_num(learned), 0.0)
        quality = (n * mix + BLEND_RECORDS * prior) / (n + BLEND_RECORDS)
        history = np.where(n > 0, mix, self.history)
        return Estimates(quality, prior, learned, n, _stderr(quality, n), history)

    def for_prompt(
        self, task: str, complexity: int, segment: int | None, p: F64 | None
    ) -> Estimates:
        """Every entry's estimate for one prompt (`p`: the learner's per-model predictions)."""
        seg = None if segment is None else self.learned.segments.items[segment]
        prior = self._prior(task, complexity, p)
        return self._combine(seg, prior, p, None if seg is None else seg.pbar.astype(np.float64))

    def for_reference(self, seg: Segment) -> Estimates:
        """(R, E) estimates of a segment's reference prompts (their out-of-fold predictions)."""
        p = seg.ref_p.astype(np.float64)
        prior = self._prior(seg.task, seg.ref_complexity.astype(np.float64), p)
        return self._combine(seg, prior, p, seg.ref_pbar.astype(np.float64))


def _stderr(q: F64, n: F64 | float) -> F64:
    return np.asarray(np.sqrt(np.clip(q * (1 - q), 0.0, 0.25) / (np.asarray(n) + BLEND_RECORDS + 1)))
