"""The mirage check: would the first 100 questions have told the same story as all of them?

    tinyreason mirage RUN            # one run: first-100 accuracy vs all, unpaired MDE at both sizes
    tinyreason mirage BASE OTHER     # a pair: the gain on the first 100 shared questions vs on all, paired MDE

The reference study's structured prompt looked +6 pp on 100 questions and was -4 pp on 600. "First 100" is
the first 100 ids of the run's subset order (config.subset.ids; for a pair, of A's order among the shared
ids) — the seeded subset order makes that prefix itself a uniform random 100-subset, exactly what a quick
experiment would have used.

Minimum detectable effect (alpha 0.05, power 0.8; formulas in tinyreason.stats): for one run, the unpaired
two-proportion MDE at the run's accuracy (what another independent run of this size would need to differ
by); for a pair, the paired McNemar MDE (Connor 1987) with the discordance rate psi estimated on ALL shared
questions (the first 100 alone hold too few disagreements for a stable estimate). A claimed change smaller
than the MDE at its n is flagged: "at n=100 a +6 pp gain is indistinguishable from noise".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tinyreason.analysis.loading import Paired, Run
from tinyreason.analysis.paired import Transitions, transitions
from tinyreason.stats import mde_paired, mde_unpaired

FIRST = 100
ALPHA, POWER = 0.05, 0.8


def pp(x: float, sign: bool = True) -> str:
    """A proportion as percentage points: 0.06 -> '+6 pp', 0.0625 -> '+6.2 pp'."""
    if math.isinf(x):
        return "∞"
    v = round(x * 100, 1)
    s = f"{v:+.1f}" if sign else f"{v:.1f}"
    return s.removesuffix(".0") + " pp"


def pct(x: float) -> str:
    return f"{x:.1%}"


@dataclass
class RunMirage:
    n: int
    k: int  # size of the prefix actually used (min(FIRST, n))
    correct_first: int
    correct_all: int
    mde_first: float
    mde_all: float

    @property
    def acc_first(self) -> float:
        return self.correct_first / self.k

    @property
    def acc_all(self) -> float:
        return self.correct_all / self.n

    def lines(self) -> list[str]:
        if self.n <= self.k:
            head = f"only {self.n} questions: the first {FIRST} are all of them ({pct(self.acc_all)}, {self.correct_all}/{self.n})"
        else:
            head = (
                f"first {self.k} questions {pct(self.acc_first)} ({self.correct_first}/{self.k}) vs all {self.n} "
                f"{pct(self.acc_all)} ({self.correct_all}/{self.n}): the first {self.k} are off by {pp(self.acc_first - self.acc_all)}"
            )
        mde = f"an independent run of this size must differ by at least {pp(self.mde_all, False)} to be detected (n={self.n}, unpaired MDE, α=0.05, power 0.8)"
        if self.n > self.k:
            mde += f"; at n={self.k} by {pp(self.mde_first, False)}"
        return [head, mde]

    @property
    def short(self) -> str:
        if self.n <= self.k:
            return f"n={self.n}: MDE ±{pp(self.mde_all, False)}"
        return f"first {self.k}: {pct(self.acc_first)} vs all {pct(self.acc_all)}; MDE ±{pp(self.mde_all, False)} (±{pp(self.mde_first, False)} at {self.k})"


def run_mirage(run: Run, first: int = FIRST) -> RunMirage:
    ids = run.order
    k = min(first, len(ids))
    c_first = sum(run.correct(i) for i in ids[:k])
    c_all = sum(run.correct(i) for i in ids)
    p = c_all / len(ids)
    return RunMirage(len(ids), k, c_first, c_all, mde_unpaired(p, k, ALPHA, POWER), mde_unpaired(p, len(ids), ALPHA, POWER))


@dataclass
class PairMirage:
    first: Transitions
    all: Transitions
    mde_first: float
    mde_all: float
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        f, a = self.first, self.all
        out = []
        if a.n > f.n:
            out.append(f"Δ on the first {f.n} shared questions: {pp(f.delta)} (fixed {f.fixed}, regressed {f.regressed}, McNemar p={f.p_value:.3g})")
        out.append(f"Δ on all {a.n} shared questions: {pp(a.delta)} (fixed {a.fixed}, regressed {a.regressed}, McNemar p={a.p_value:.3g})")
        mde = f"paired MDE (discordance {pct(a.discordance)}, α=0.05, power 0.8): {_mde(self.mde_all)} at n={a.n}"
        if a.n > f.n:
            mde += f", {_mde(self.mde_first)} at n={f.n}"
        return [*out, mde, *self.warnings]

    @property
    def short(self) -> str:
        f, a = self.first, self.all
        flag = " ⚠" if self.warnings else ""
        if a.n > f.n:
            return f"Δ first {f.n}: {pp(f.delta)} vs all: {pp(a.delta)}; MDE {_mde(self.mde_all)}{flag}"
        return f"Δ {pp(a.delta)} at n={a.n}; MDE {_mde(self.mde_all)}{flag}"


def _mde(x: float) -> str:
    if math.isnan(x):
        return "n/a (no disagreements)"
    return "∞ (too few disagreements)" if math.isinf(x) else pp(x, False)


def _warn(t: Transitions, mde: float) -> str | None:
    if t.delta == 0 or math.isnan(mde):
        return None
    word = "gain" if t.delta > 0 else "drop"
    if math.isinf(mde) and t.p_value >= ALPHA:
        return f"at n={t.n} a {pp(t.delta)} {word} is indistinguishable from noise: too few disagreements for any change to be detectable"
    if abs(t.delta) >= mde:
        return None
    if t.p_value >= ALPHA:
        return f"at n={t.n} a {pp(t.delta)} {word} is indistinguishable from noise (minimum detectable effect {pp(mde, False)}, McNemar p={t.p_value:.2g})"
    return (
        f"at n={t.n} the {pp(t.delta)} {word} is significant (p={t.p_value:.2g}) but below the minimum detectable effect "
        f"({pp(mde, False)}): an underpowered comparison, whose significant effects tend to be overestimated"
    )


def pair_mirage(pair: Paired, first: int = FIRST) -> PairMirage:
    t_all = transitions(pair)
    t_first = transitions(pair, pair.ids[:first])
    psi = t_all.discordance
    mde_all = mde_paired(psi, t_all.n, ALPHA, POWER)
    mde_first = mde_paired(psi, t_first.n, ALPHA, POWER)
    warnings = []
    for t, m in ((t_first, mde_first), (t_all, mde_all)) if t_all.n > t_first.n else ((t_all, mde_all),):
        w = _warn(t, m)
        if w:
            warnings.append(w)
    if t_all.n > t_first.n and t_first.delta * t_all.delta < 0:
        warnings.append(
            f"the sign flips: {pp(t_first.delta)} on the first {t_first.n} but {pp(t_all.delta)} on all {t_all.n} — a {t_first.n}-question mirage"
        )
    return PairMirage(t_first, t_all, mde_first, mde_all, warnings)
