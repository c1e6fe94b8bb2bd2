"""Wilson interval against textbook values and scipy."""

from __future__ import annotations

import math

import pytest

from tinyreason.stats import wilson_interval


def _wilson_formula(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(0, 10), (10, 10), (262, 600), (47, 100), (1, 3), (282, 600)])
def test_wilson_matches_formula(k: int, n: int) -> None:
    lo, hi = wilson_interval(k, n)
    flo, fhi = _wilson_formula(k, n)
    assert lo == pytest.approx(max(0.0, flo), abs=1e-9) and hi == pytest.approx(min(1.0, fhi), abs=1e-9)
    assert 0.0 <= lo <= k / n <= hi <= 1.0


def test_wilson_known_value_and_edges() -> None:
    lo, hi = wilson_interval(262, 600)  # 43.7% as in the reference study's greedy row
    assert (round(lo, 4), round(hi, 4)) == (0.3975, 0.4766)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 3)
    assert wilson_interval(50, 100, confidence=0.99)[0] < wilson_interval(50, 100)[0]
