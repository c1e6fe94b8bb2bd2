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


def test_repeated_looks_match_armitage_and_a_simulation() -> None:
    from tinyreason.stats import repeated_looks_alpha

    # Armitage, McPherson & Rowe (1969), equally spaced looks at a nominal two-sided 0.05: 0.083, 0.107, 0.142
    assert repeated_looks_alpha([300]) == 0.05
    assert [round(repeated_looks_alpha(list(range(1, k + 1))), 3) for k in (2, 3, 5)] == [0.083, 0.107, 0.142]
    # unequal looks against a seeded simulation of the same random walk
    import numpy as np

    rng = np.random.default_rng(0)
    steps = rng.standard_normal((200_000, 2)) * np.sqrt([100, 300])  # increments over questions 1-100 and 101-400
    walk = np.cumsum(steps, axis=1) / np.sqrt([100, 400])
    simulated = float(np.mean(np.any(np.abs(walk) > 1.959963984540054, axis=1)))
    assert repeated_looks_alpha([100, 400]) == pytest.approx(simulated, abs=0.003)
    for bad in ([], [600, 300], [0, 10], [300, 300]):
        with pytest.raises(ValueError):
            repeated_looks_alpha(bad)
