"""The report's statistics against values worked out by hand (so the right method is in use)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.experiments import stats

ROOT = Path(__file__).resolve().parents[2]


def test_rates_use_the_wilson_interval() -> None:
    # Wilson, p = 0.1, n = 200, z = 1.96: centre 0.10754, half-width 0.04187.
    r = stats.rate(20, 200)
    assert r.value == 0.1
    assert r.low == pytest.approx(0.06567, abs=2e-4)
    assert r.high == pytest.approx(0.14941, abs=2e-4)
    zero = stats.rate(0, 30)  # Wilson stays inside 0..1 and is not degenerate at 0
    assert zero.value == 0 and zero.low == pytest.approx(0, abs=1e-12) and 0.1 < zero.high < 0.13
    assert stats.rate(0, 0) == stats.NONE


def test_means_use_the_t_interval() -> None:
    xs = [1.0, 2.0, 3.0, 4.0, 5.0]  # mean 3, sd 1.5811, t(4, .975) = 2.7764
    m = stats.mean(xs)
    half = 2.7764 * 1.5811 / math.sqrt(5)
    assert m.value == 3.0
    assert m.low == pytest.approx(3 - half, abs=1e-3) and m.high == pytest.approx(3 + half, abs=1e-3)
    assert stats.mean([7.0]) == (7.0, None, None)
    assert stats.mean([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert stats.mean([]) == stats.NONE


def test_the_median_interval_is_between_order_statistics() -> None:
    # n = 11: P(Binom(11, .5) <= 1) = 0.0059, <= 2 = 0.0327, so [x(2), x(10)] is the 95 % one.
    m = stats.median([float(x) for x in range(1, 12)])
    assert (m.value, m.low, m.high) == (6.0, 2.0, 10.0)
    few = stats.median([1.0, 2.0, 3.0])  # too few values for any 95 % pair
    assert few.value == 2.0 and few.low is None and few.high is None


def test_two_sample_tests() -> None:
    assert stats.two_rates(20, 200, 2, 200).p_value < 0.001  # type: ignore[operator]
    assert stats.two_rates(10, 100, 11, 100).p_value > 0.5  # type: ignore[operator]
    assert stats.two_rates(1, 0, 1, 10).p_value is None
    a = [1.0, 1.2, 0.9, 1.1, 1.0, 0.95, 1.05]
    assert stats.two_means(a, [x + 1 for x in a]).p_value < 0.001  # type: ignore[operator]
    assert stats.two_means(a, a).p_value == pytest.approx(1.0)
    assert stats.two_means([3.0, 3.0], [3.0, 3.0, 3.0]).p_value == 1.0  # constants, equal
    assert stats.two_means([3.0, 3.0], [4.0, 4.0]).p_value == 0.0  # constants, different
    assert stats.two_means([1.0], a).p_value is None
    slow = [x * 100 for x in range(20, 40)]
    fast = [x * 100 for x in range(5, 25)]
    assert stats.two_distributions(slow, fast).p_value < 0.001  # type: ignore[operator]
    assert stats.two_distributions([], fast).p_value is None


def test_scipy_stays_out_of_a_serving_process() -> None:
    # Everything this feature adds to the request path, imported as `gateway serve` would.
    code = (
        "import sys; import gateway.app, gateway.api.experiments, gateway.api.batch, "
        "gateway.experiments, gateway.experiments.report, gateway.execution.consensus, "
        "gateway.execution.judge, gateway.execution.legs, gateway.execution.deployments; "
        "print('scipy' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
