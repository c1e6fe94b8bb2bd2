"""Statistics that keep small evals honest: Wilson intervals, exact McNemar, minimum detectable effect.

All are thin wrappers over scipy so the numbers are the textbook ones (and tested against scipy).

    wilson_interval(262, 600)          95% Wilson score interval of one accuracy
    mcnemar_exact(b, c)                two-sided exact McNemar p-value of a paired comparison
    mde_unpaired(p, n)                 smallest accuracy difference two independent n-question runs can detect
    mde_paired(discordance, n)         the same for two runs on the SAME n questions (McNemar, Connor 1987)
    repeated_looks_alpha([300, 600])   the chance of a false "significant" when one comparison is tested again as it grows

Minimum detectable effect (MDE): the smallest true difference that a two-sided test at level `alpha` detects
with probability `power`. It is computed from the usual normal-approximation sample-size formulas, solved for
the difference instead of n (scipy.optimize.brentq):

- unpaired, two proportions p1 = p and p2 = p + d, n per arm (Fleiss, *Statistical Methods for Rates and
  Proportions*, no continuity correction):
      n = (z_{1-alpha/2} sqrt(2 pbar qbar) + z_{power} sqrt(p1 q1 + p2 q2))^2 / d^2,   pbar = (p1 + p2) / 2
  (when p + d would leave [0, 1] the decrease p - d is used instead);
- paired, McNemar with discordance rate psi = P(the two runs disagree on correctness) and effect
  d = p10 - p01 = the accuracy difference (Connor 1987, Biometrics 43:207-211):
      n = (z_{1-alpha/2} sqrt(psi) + z_{power} sqrt(psi - d^2))^2 / d^2.
  |d| can never exceed psi; when even d = psi is not detectable at this n, the MDE is infinite (no gain of
  any size is detectable with so few disagreements). psi = 0 (identical correctness) gives NaN.
"""

from __future__ import annotations

import math

from scipy import optimize as _opt
from scipy import stats as _st


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes out of n trials; (0.0, 1.0) when n == 0."""
    if not 0 <= k <= n:
        raise ValueError(f"wilson_interval needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    ci = _st.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (fixed vs regressed).

    Under H0 each discordant pair goes either way with probability 1/2, so the p-value is the two-sided
    binomial test of b successes in b + c trials. No discordant pairs: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar_exact needs counts >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    return float(_st.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def _z(alpha: float, power: float) -> tuple[float, float]:
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"need 0 < alpha < 1 and 0 < power < 1, got alpha={alpha}, power={power}")
    return float(_st.norm.ppf(1 - alpha / 2)), float(_st.norm.ppf(power))


def n_unpaired(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Questions per run needed to tell accuracies p1 and p2 apart (independent samples)."""
    za, zb = _z(alpha, power)
    d = abs(p2 - p1)
    if d == 0:
        return math.inf
    pbar = (p1 + p2) / 2
    return (za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / d**2


def n_paired(discordance: float, effect: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Questions needed for McNemar to detect an accuracy difference `effect` (Connor 1987)."""
    za, zb = _z(alpha, power)
    d = abs(effect)
    if d == 0 or d > discordance:
        return math.inf
    return (za * math.sqrt(discordance) + zb * math.sqrt(discordance - d * d)) ** 2 / (d * d)


def mde_unpaired(p: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest accuracy difference from baseline accuracy p detectable with n questions per run."""
    if not 0 <= p <= 1 or n < 1:
        raise ValueError(f"mde_unpaired needs 0 <= p <= 1 and n >= 1, got p={p}, n={n}")
    _z(alpha, power)
    for sign in (1, -1):  # an increase if there is room for one, else a decrease
        room = 1 - p if sign > 0 else p
        if room <= 0:
            continue
        f = lambda d: n_unpaired(p, p + sign * d, alpha, power) - n  # noqa: E731  (decreasing in d)
        if f(room) <= 0:
            return float(_opt.brentq(f, 1e-9, room, xtol=1e-10))
    return math.inf


def mde_paired(discordance: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest accuracy difference McNemar detects on n shared questions with this discordance rate."""
    if not 0 <= discordance <= 1 or n < 1:
        raise ValueError(f"mde_paired needs 0 <= discordance <= 1 and n >= 1, got {discordance}, n={n}")
    za, zb = _z(alpha, power)
    if discordance == 0:
        return math.nan
    # g(d) = sqrt(n) d - za sqrt(psi) - zb sqrt(psi - d^2) is increasing in d on (0, psi]
    g = lambda d: math.sqrt(n) * d - za * math.sqrt(discordance) - zb * math.sqrt(max(0.0, discordance - d * d))  # noqa: E731
    if g(discordance) < 0:
        return math.inf
    return float(_opt.brentq(g, 1e-12, discordance, xtol=1e-12))


def repeated_looks_alpha(ns: list[int], alpha: float = 0.05) -> float:
    """The chance that a two-sided test at level `alpha`, applied at each of the growing sample sizes `ns`
    (the same questions plus more: each look a prefix of the next), is significant at one look or more when
    there is no difference (Armitage, McPherson & Rowe 1969, J. R. Stat. Soc. A 132:235-244).

    Normal approximation: the test statistics at looks i < j are jointly normal with correlation
    sqrt(n_i / n_j) (independent increments), so the answer is 1 - P(|Z_k| < z_{1-alpha/2} for every k), a
    multivariate normal rectangle (scipy). One look gives `alpha`; two equally spaced looks give 0.083.
    """
    import numpy as np

    if not ns or any(n <= 0 for n in ns) or list(ns) != sorted(set(ns)):
        raise ValueError(f"repeated_looks_alpha needs increasing positive sizes, got {ns}")
    if not 0 < alpha < 1:
        raise ValueError(f"need 0 < alpha < 1, got {alpha}")
    z = float(_st.norm.ppf(1 - alpha / 2))
    if len(ns) == 1:
        return alpha
    n = np.asarray(ns, dtype=float)
    cov = np.sqrt(np.minimum.outer(n, n) / np.maximum.outer(n, n))
    inside = _st.multivariate_normal(mean=np.zeros(len(n)), cov=cov).cdf(np.full(len(n), z), lower_limit=np.full(len(n), -z))
    return float(1 - inside)
