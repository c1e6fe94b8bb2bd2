"""Exact McNemar against scipy and hand-computed binomial sums; MDE against the sample-size formulas it
inverts (recomputed here with scipy.stats.norm); Wilson against the textbook formula."""

from __future__ import annotations

import math
from math import comb

import pytest
from scipy import stats

from tinyreason.stats import mcnemar_exact, mde_paired, mde_unpaired, n_paired, n_unpaired, wilson_interval

Z_A, Z_B = stats.norm.ppf(0.975), stats.norm.ppf(0.8)


@pytest.mark.parametrize("b, c", [(0, 0), (1, 0), (2, 12), (12, 2), (6, 6), (10, 4), (30, 45), (0, 7), (100, 130)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = 1.0 if b + c == 0 else stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_exact(b, c) == pytest.approx(mcnemar_exact(c, b), rel=1e-12)  # symmetric


def test_mcnemar_known_values() -> None:
    # reflection in the reference study: 2 fixes vs 12 regressions -> 2 * P(X <= 2), X ~ Bin(14, 1/2)
    assert mcnemar_exact(2, 12) == pytest.approx(2 * sum(comb(14, k) for k in range(3)) / 2**14, rel=1e-12)
    assert mcnemar_exact(2, 12) == pytest.approx(0.012939453125)
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(5, 5) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def _fleiss_n(p1: float, p2: float) -> float:
    pbar = (p1 + p2) / 2
    return (Z_A * math.sqrt(2 * pbar * (1 - pbar)) + Z_B * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / (p2 - p1) ** 2


def _connor_n(psi: float, d: float) -> float:
    return (Z_A * math.sqrt(psi) + Z_B * math.sqrt(psi - d * d)) ** 2 / (d * d)


@pytest.mark.parametrize("p, n", [(0.4, 100), (0.4, 600), (0.437, 600), (0.1, 50), (0.0, 100), (0.97, 100)])
def test_mde_unpaired_inverts_the_two_proportion_formula(p: float, n: int) -> None:
    d = mde_unpaired(p, n)
    p2 = p + d if p + d <= 1 else p - d
    assert _fleiss_n(p, p2) == pytest.approx(n, rel=1e-6)
    assert n_unpaired(p, p2) == pytest.approx(n, rel=1e-6)


def test_mde_unpaired_known_value() -> None:
    # by hand: at p = 0.5 and n = 100 the rough (z_a + z_b) * sqrt(2 p q / n) = 0.1981; the exact inversion is close
    rough = (Z_A + Z_B) * math.sqrt(2 * 0.25 / 100)
    assert rough == pytest.approx(0.19811, abs=1e-4)
    assert mde_unpaired(0.5, 100) == pytest.approx(rough, abs=0.01)
    assert mde_unpaired(0.4, 600) < mde_unpaired(0.4, 100)  # more questions, smaller MDE


@pytest.mark.parametrize("psi, n", [(0.2, 300), (0.14, 100), (0.14, 600), (0.5, 40)])
def test_mde_paired_inverts_connor(psi: float, n: int) -> None:
    d = mde_paired(psi, n)
    assert 0 < d <= psi
    assert _connor_n(psi, d) == pytest.approx(n, rel=1e-6)
    assert n_paired(psi, d) == pytest.approx(n, rel=1e-6)
    assert d < (Z_A + Z_B) * math.sqrt(psi / n)  # Connor is below the fixed-variance approximation


def test_mde_paired_edges() -> None:
    assert math.isinf(mde_paired(0.25, 8))  # 2 disagreements out of 8: nothing is detectable
    assert math.isnan(mde_paired(0.0, 100))
    with pytest.raises(ValueError):
        mde_paired(0.2, 0)


def test_wilson_matches_textbook_formula_with_scipy_z() -> None:
    for k, n in [(3, 8), (262, 600), (0, 30)]:
        z, p = stats.norm.ppf(0.975), k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        lo, hi = wilson_interval(k, n)
        assert (lo, hi) == (pytest.approx(max(0.0, centre - half), abs=1e-9), pytest.approx(centre + half, abs=1e-9))
