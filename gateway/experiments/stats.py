"""Experiments report, statistics: 95 % intervals and two-sample tests, all from scipy.

Off the request path: scipy is imported here, and only the report imports this module. Each
figure's interval and test is chosen for its shape:

    rates (error, success)   Wilson score interval       Fisher's exact test (2x2)
    means (score, cost)      Student t interval          Welch's t-test (unequal variances)
    median (latency)         order-statistic interval    Mann-Whitney U
                             (distribution-free)

Every function returns None (or an interval of Nones) where the data cannot say anything
(no rows, one row, a constant sample compared with itself): a report shows "-", never NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


class Interval(NamedTuple):
    value: float | None
    low: float | None
    high: float | None

    def to_json(self, digits: int = 6) -> dict[str, float | None]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, digits)

        return {"value": r(self.value), "low": r(self.low), "high": r(self.high)}


NONE = Interval(None, None, None)


def _finite(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def rate(k: int, n: int) -> Interval:
    """k of n, with the Wilson score interval (good at small n and near 0 or 1)."""
    if n <= 0:
        return NONE
    ci = stats.binomtest(k, n).proportion_ci(CONFIDENCE, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high))


def mean(xs: Sequence[float]) -> Interval:
    """The mean, with Student's t interval (one value: the mean alone)."""
    if not xs:
        return NONE
    a = np.asarray(xs, float)
    m = float(a.mean())
    if len(a) < 2:
        return Interval(m, None, None)
    sem = float(a.std(ddof=1)) / math.sqrt(len(a))
    if sem == 0:
        return Interval(m, m, m)
    low, high = stats.t.interval(CONFIDENCE, len(a) - 1, loc=m, scale=sem)
    return Interval(m, float(low), float(high))


def median(xs: Sequence[float]) -> Interval:
    """The median, with a distribution-free interval between two order statistics (no bounds
    below ~6 values, where no pair of order statistics reaches 95 %)."""
    if not xs:
        return NONE
    a = np.asarray(xs, float)
    m = float(np.median(a))
    ci = stats.quantile_test(a, q=m, p=0.5).confidence_interval(CONFIDENCE)
    return Interval(m, _finite(ci.low), _finite(ci.high))


class Test(NamedTuple):
    name: str
    p_value: float | None


def two_rates(k1: int, n1: int, k2: int, n2: int) -> Test:
    """Fisher's exact test of k1/n1 against k2/n2 (exact at any sample size)."""
    if n1 <= 0 or n2 <= 0:
        return Test("fisher_exact", None)
    res = stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])
    return Test("fisher_exact", _finite(res.pvalue))


def two_means(a: Sequence[float], b: Sequence[float]) -> Test:
    """Welch's t-test: means with unequal variances and sizes."""
    if len(a) < 2 or len(b) < 2:
        return Test("welch_t", None)
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.std() == 0 and y.std() == 0:  # two constants: equal or certainly different
        return Test("welch_t", 1.0 if x[0] == y[0] else 0.0)
    with warnings.catch_warnings():
        # "Precision loss ... nearly identical data": the p-value is still the answer (~1).
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.ttest_ind(x, y, equal_var=False)
    return Test("welch_t", _finite(res.pvalue))


def two_distributions(a: Sequence[float], b: Sequence[float]) -> Test:
    """Mann-Whitney U: does one sample tend to be larger (no assumption on the shape)."""
    if not a or not b:
        return Test("mann_whitney_u", None)
    res = stats.mannwhitneyu(np.asarray(a, float), np.asarray(b, float))
    return Test("mann_whitney_u", _finite(res.pvalue))
