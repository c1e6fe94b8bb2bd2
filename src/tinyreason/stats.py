"""Statistics that keep small evals honest: Wilson intervals, exact McNemar, minimum detectable effect.

All are thin wrappers over scipy so the numbers are the textbook ones (and tested against scipy).
"""

from __future__ import annotations

from scipy import stats as _st


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n trials; (0.0, 1.0) when n == 0."""
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    ci = _st.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))
