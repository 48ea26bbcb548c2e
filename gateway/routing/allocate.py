"""Routing, step 3b: per-task allocation: each profile's mix of models per segment of traffic,
solved under the profile's cost target.

A profile's cost target is a share of what always using the strongest model would cost on the
same traffic. Unless set (`ProfileWeights.cost_share`) it comes from the weights, on a log
scale: the cheapest possible mix costs a share `floor` of the strongest model, and a profile
sits at `level = w_quality / (w_quality + w_cost)` between the two, its target being
`floor ** (1 - level)`. Log, so the target does not depend on how expensive the most expensive
model in the fleet happens to be: each 0.1 of level multiplies the budget by the same factor.
A budget alone would also buy gains too small to be worth anything when it does not bind, so
the exchange rate never drops below `MIN_VALUE * w_cost`: paying what the strongest model
costs must buy at least `MIN_VALUE * w_cost / w_quality` of quality (0.05 for balanced).

Within the target the allocation maximises the profile's weighted

    w_quality * mean quality + w_latency * mean latency part + w_history * mean track record

A mix is given by one exchange rate `mu` (utility per dollar): every prompt goes to the model
with the highest `w_quality * quality + w_latency * latency + w_history * history - mu * cost`.
This is
the solution of that budgeted problem (a fractional knapsack over the segments: a
segment whose upgrade buys the most quality per dollar is upgraded first, and the segment
where the budget runs out gets a share of its prompts upgraded, the ones whose own estimate
gains most). `solve` finds `mu` on the reference traffic: each segment's reference prompts,
weighted by the segment's share of traffic. Quality estimates are posterior means with their
evidence (`estimate.py`): a segment with few outcomes leans on the configured priors.

With no traffic learned yet the reference is one typical prompt per task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.config import TASKS, ProfileWeights
from gateway.routing.catalog import Entry
from gateway.routing.classify import EXPECTED_OUTPUT
from gateway.routing.estimate import Estimator

F64 = npt.NDArray[np.float64]
LATENCY_DOUBLINGS = 4.0  # each 2x of latency costs 1/LATENCY_DOUBLINGS of the latency weight
# A free (local) model counts as this cheap: about a short prompt on the cheapest hosted model.
# Local compute is not free (power, a busy GPU), and a floor keeps the log scale finite.
FREE_USD = 2e-5
TYPICAL_PROMPT_TOKENS = 300  # the synthetic reference prompt, before any traffic is learned
TYPICAL_COMPLEXITY = 3
# exchange rates tried, in utility per `Reference.unit` dollars (8 % steps)
MU_GRID = np.concatenate(([0.0], np.logspace(-4, 4, 241)))
MIN_VALUE = 0.1  # quality a full strongest-model cost must buy at equal quality and cost weights


def latency_part(latency_ms: F64) -> F64:
    """1 at the fastest model, minus 1/LATENCY_DOUBLINGS per doubling."""
    lat = np.maximum(latency_ms, 1.0)
    return np.asarray(np.maximum(1 - np.log2(lat / lat.min()) / LATENCY_DOUBLINGS, 0.0))


@dataclass(frozen=True)
class Reference:
    """The reference traffic: prompts x entries of estimated quality and cost."""

    weight: F64  # (R,) sums to 1
    segment: npt.NDArray[np.int64]  # (R,) segment index, -1 for a synthetic prompt
    task: tuple[str, ...]  # (R,)
    quality: F64  # (R, E)
    cost: F64  # (R, E) USD, floored at FREE_USD
    latency: F64  # (E,) latency part
    history: F64  # (R, E) track record
    top: int  # the strongest entry: best mean quality over the reference
    unit: float  # its mean cost: the unit of budgets and exchange rates

    @classmethod
    def build(cls, entries: tuple[Entry, ...], est: Estimator) -> Reference:
        segments = est.learned.segments.items
        rows: list[tuple[float, int, str, F64, F64, F64]] = []
        total = sum(s.weight for s in segments if len(s.ref_tokens))
        for i, seg in enumerate(segments):
            r = len(seg.ref_tokens)
            if not r or total <= 0:
                continue
            e = est.for_reference(seg)
            history = np.broadcast_to(e.history, e.quality.shape)
            for j in range(r):
                c = _costs(entries, *seg.ref_tokens[j])
                rows.append((seg.weight / total / r, i, seg.task, e.quality[j], c, history[j]))
        if not rows:  # nothing learned: one typical prompt per task
            for task in TASKS:
                e = est.for_prompt(task, TYPICAL_COMPLEXITY, None, None)
                c = _costs(entries, TYPICAL_PROMPT_TOKENS, EXPECTED_OUTPUT[task])
                rows.append((1.0 / len(TASKS), -1, task, e.quality, c, e.history))
        w = np.array([r[0] for r in rows])
        w = w / w.sum()
        quality = np.stack([r[3] for r in rows])
        cost = np.stack([r[4] for r in rows])
        top = int((w @ quality).argmax())
        return cls(
            weight=w,
            segment=np.array([r[1] for r in rows], np.int64),
            task=tuple(r[2] for r in rows),
            quality=quality,
            cost=cost,
            latency=latency_part(np.array([e.latency_ms for e in entries], np.float64)),
            history=np.stack([r[5] for r in rows]),
            top=top,
            unit=float(w @ cost[:, top]),
        )

    def picks(self, weights: ProfileWeights, mu: float) -> npt.NDArray[np.int64]:
        """The entry each reference prompt goes to at exchange rate `mu`."""
        return np.asarray(utilities(self, weights, mu).argmax(1), np.int64)

    def means(self, picks: npt.NDArray[np.int64]) -> tuple[float, float, float, float]:
        """Traffic-weighted (quality, cost, latency part, history) of a set of picks."""
        r = np.arange(len(picks))
        w = self.weight
        return (
            float(w @ self.quality[r, picks]),
            float(w @ self.cost[r, picks]),
            float(w @ self.latency[picks]),
            float(w @ self.history[r, picks]),
        )


def _costs(entries: Sequence[Entry], prompt_tokens: int, output_tokens: int) -> F64:
    return np.array(
        [max(e.cost_usd(int(prompt_tokens), int(output_tokens)), FREE_USD) for e in entries]
    )


def cost_share(weights: ProfileWeights, floor: float) -> float:
    """The profile's cost target as a share of the strongest model's cost, given the share
    `floor` the cheapest possible mix costs (module docstring)."""
    if weights.cost_share is not None:
        return weights.cost_share
    trade = weights.quality + weights.cost
    level = weights.quality / trade if trade > 0 else 0.5
    return float(min(max(floor, 1e-9), 1.0) ** (1.0 - level))


@dataclass(frozen=True)
class Solution:
    """A profile's solved allocation. Every prompt goes where the rate `mu` sends it, except
    the marginal ones (whose pick changes between `mu` and the next rate down, `mu_next`):
    a share `theta` of those, the highest ranked in their segment, take `mu_next`'s pick. That
    spends the budget exactly (the fractional step of the knapsack)."""

    mu: float
    mu_next: float
    theta: float

    @property
    def mu_mid(self) -> float:
        return (self.mu + self.mu_next) / 2


def solve(ref: Reference, weights: ProfileWeights, share: float | None = None) -> Solution:
    """The profile's best mix whose mean cost is at most `share` (default: the profile's own
    cost target) of always using the strongest model; the cheapest mix when no mix fits."""
    floor = float(ref.weight @ ref.cost.min(1)) / ref.unit
    budget = (cost_share(weights, floor) if share is None else share) * ref.unit
    points = []
    for mu in MU_GRID[MU_GRID >= MIN_VALUE * weights.cost] / ref.unit:
        q, c, lat, hist = ref.means(ref.picks(weights, float(mu)))
        points.append((float(mu), c, weights.quality * q + weights.latency * lat + weights.history * hist))
    feasible = [i for i, (_, c, _) in enumerate(points) if c <= budget * (1 + 1e-9)]
    if not feasible:
        return Solution(points[-1][0], points[-1][0], 0.0)
    best = max(feasible, key=lambda i: (points[i][2], -points[i][1]))
    mu, c_best, v_best = points[best]
    if best == 0:
        return Solution(mu, mu, 0.0)
    mu_next, c_next, v_next = points[best - 1]
    if c_next <= c_best or v_next <= v_best:
        return Solution(mu, mu, 0.0)
    return Solution(mu, mu_next, min(max((budget - c_best) / (c_next - c_best), 0.0), 1.0))


@dataclass(frozen=True)
class SegmentMix:
    """A segment's allocation under one profile, and how its prompts rank."""

    shares: Mapping[str, float]  # entry id -> share of the segment's prompts
    base: int  # the entry most of the segment goes to
    alt: int  # the next one (the upgrade or the cheaper alternative)
    margins: F64  # sorted utility margins of alt over base on the reference prompts
    claims: F64  # sorted claims of the segment's marginal reference prompts on the upgrade


def utilities(ref: Reference, weights: ProfileWeights, mu: float) -> F64:
    return np.asarray(
        weights.quality * ref.quality + weights.latency * ref.latency
        + weights.history * ref.history - mu * ref.cost
    )


def mixes(
    ref: Reference, entries: Sequence[Entry], weights: ProfileWeights, sol: Solution
) -> dict[int, SegmentMix]:
    """Per segment (index; `synthetic_key(task)` for synthetic prompts): its mix."""
    hi, lo = ref.picks(weights, sol.mu), ref.picks(weights, sol.mu_next)
    u = utilities(ref, weights, sol.mu)
    mid = utilities(ref, weights, sol.mu_mid)
    rows_all = np.arange(len(hi))
    claim = mid[rows_all, lo] - mid[rows_all, hi]
    out: dict[int, SegmentMix] = {}
    keys = np.where(ref.segment >= 0, ref.segment, [synthetic_key(t) for t in ref.task])
    for key in np.unique(keys):
        rows = np.flatnonzero(keys == key)
        marginal = rows[hi[rows] != lo[rows]]
        counts = np.bincount(hi[rows], minlength=len(entries)).astype(np.float64)
        np.subtract.at(counts, hi[marginal], sol.theta)
        np.add.at(counts, lo[marginal], sol.theta)
        order = np.argsort(-counts, kind="stable")
        base = alt = int(order[0])
        if len(order) > 1:
            alt = int(order[1]) if counts[order[1]] > 1e-9 else int(np.argsort(-u[rows].mean(0))[1])
        out[int(key)] = SegmentMix(
            shares={
                entries[i].id: round(float(c) / len(rows), 4) for i, c in enumerate(counts) if c > 1e-9
            },
            base=base,
            alt=alt,
            margins=np.sort(u[rows, alt] - u[rows, base]),
            claims=np.sort(claim[marginal]),
        )
    return out


def synthetic_key(task: str) -> int:
    """The `mixes` key of a task's synthetic reference prompt."""
    return -1 - TASKS.index(task)


def marginal_rank(claims: F64, claim: float, tiebreak: float) -> float:
    """Share of a segment's marginal prompts with a stronger claim than `claim`; prompts that
    tie (nothing tells them apart) are ordered by `tiebreak` (0..1, a hash of the prompt)."""
    if not len(claims):
        return tiebreak
    above = len(claims) - int(np.searchsorted(claims, claim + 1e-12, side="right"))
    ties = int(np.searchsorted(claims, claim + 1e-12, side="right")) - int(
        np.searchsorted(claims, claim - 1e-12, side="left")
    )
    return (above + tiebreak * ties) / len(claims)
