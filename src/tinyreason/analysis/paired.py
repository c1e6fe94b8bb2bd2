"""Paired comparison of two runs on their shared questions: the transition matrix and exact McNemar.

                      B right        B wrong
        A right     both right     regressed (A right, B wrong)
        A wrong     fixed          both wrong

Only the off-diagonal cells carry information about which run is better: under "no difference" each
discordant question is a fair coin, so the exact McNemar p-value is a two-sided binomial test of
`fixed` successes in `fixed + regressed` trials (tinyreason.stats.mcnemar_exact).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyreason.analysis.loading import Paired
from tinyreason.stats import mcnemar_exact


@dataclass
class Transitions:
    both_right: int
    fixed: int
    regressed: int
    both_wrong: int
    fixed_ids: list[int]
    regressed_ids: list[int]

    @property
    def n(self) -> int:
        return self.both_right + self.fixed + self.regressed + self.both_wrong

    @property
    def acc_a(self) -> float:
        return (self.both_right + self.regressed) / self.n if self.n else 0.0

    @property
    def acc_b(self) -> float:
        return (self.both_right + self.fixed) / self.n if self.n else 0.0

    @property
    def delta(self) -> float:
        """Accuracy of B minus accuracy of A on these questions."""
        return (self.fixed - self.regressed) / self.n if self.n else 0.0

    @property
    def discordance(self) -> float:
        return (self.fixed + self.regressed) / self.n if self.n else 0.0

    @property
    def p_value(self) -> float:
        return mcnemar_exact(self.fixed, self.regressed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "both_right": self.both_right, "fixed": self.fixed, "regressed": self.regressed,
            "both_wrong": self.both_wrong, "acc_a": self.acc_a, "acc_b": self.acc_b, "delta": self.delta,
            "p_value": self.p_value, "fixed_ids": self.fixed_ids, "regressed_ids": self.regressed_ids,
        }  # fmt: skip


def transitions(pair: Paired, ids: list[int] | None = None) -> Transitions:
    """The transition matrix of B against A over `ids` (default: all shared questions)."""
    cells: dict[tuple[bool, bool], list[int]] = {(x, y): [] for x in (True, False) for y in (True, False)}
    for i in pair.ids if ids is None else ids:
        cells[(pair.a.correct(i), pair.b.correct(i))].append(i)
    return Transitions(
        both_right=len(cells[(True, True)]),
        fixed=len(cells[(False, True)]),
        regressed=len(cells[(True, False)]),
        both_wrong=len(cells[(False, False)]),
        fixed_ids=cells[(False, True)],
        regressed_ids=cells[(True, False)],
    )


def verdict(t: Transitions, alpha: float = 0.05) -> str:
    """'better' / 'worse' only when McNemar rejects at alpha; otherwise 'n.s.' (never a win)."""
    if t.p_value >= alpha or t.fixed == t.regressed:
        return "n.s."
    return "better" if t.fixed > t.regressed else "worse"


def matrix_markdown(t: Transitions, a: str, b: str) -> str:
    return "\n".join(
        [
            f"| {a} \\ {b} | {b} right | {b} wrong |",
            "|---|---:|---:|",
            f"| **{a} right** | {t.both_right} (both right) | {t.regressed} (regressed) |",
            f"| **{a} wrong** | {t.fixed} (fixed) | {t.both_wrong} (both wrong) |",
        ]
    )
