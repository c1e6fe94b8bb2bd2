"""The safe arithmetic checker: a table of expressions, stated computations in real chain styles, and
inputs that must never be evaluated as code or blow up."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tinyreason.analysis.arith import evaluate
from tinyreason.analysis.claims import claims, false_claims


@pytest.mark.parametrize(
    "expr, value",
    [
        ("3 + 4 * 2", 11), ("(3 + 4) * 2", 14), ("10 - 2 - 3", 5), ("2^10", 1024), ("-3 - -4", 1),
        ("1,200 * 3", 3600), ("$25 * 0.8", 20), ("20% * 50", 10), ("7 / 2", Fraction(7, 2)),
        (r"\frac{3}{5} \times 50", 30), ("12 × 5 ÷ 4", 15), ("3 x 4", 12), ("2 · 3", 6), ("5 − 2", 3),
    ],
)  # fmt: skip
def test_evaluate_table(expr: str, value: object) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr",
    ["__import__('os').system('echo hi')", "2^999999", "9^9^9", "1/0", "3 +", "(3 + 4", "abc", "", "1" * 400 + " * 2",
     "open('x').read()", "lambda: 1"],
)  # fmt: skip
def test_evaluate_refuses_what_is_not_small_arithmetic(expr: str) -> None:
    assert evaluate(expr) is None


def test_claims_in_latex_and_gsm8k_notation() -> None:
    text = (
        "- 3 \\text{ puzzles} \\times 10 \\text{ minutes/puzzle} = 30 \\text{ minutes}\n"
        "\\[ \\frac{3}{5} \\times 50 = 30 \\]\n"
        "He pays 12 * 5 = <<12*5=60>>60 dollars.\n"
        "So 50 + 1440 = 1940 porcupines."
    )
    found = claims(text)
    assert [(c.expr.replace(" ", ""), c.stated, c.ok) for c in found] == [
        ("12*5", "60", True),  # the annotation
        ("3*10", "30", True),
        ("((3)/(5))*50", "30", True),
        ("12*5", "60", True),
        ("50+1440", "1940", False),
    ]
    (bad,) = false_claims(text)
    assert bad.value == 1490 and "FALSE (is 1490)" in str(bad)


@pytest.mark.parametrize(
    "line",
    [
        "100 / 3 = 33.33 each", "100 / 3 = 33.4", "100 / 3 = 33 people", "100 / 3 = 34 buses",
        "50 - 20% = 40", "25% of 80 = 20", "0.2 * 100 = 20%", "3 x 4 = 12", "3/4 of 20 = 15",
        "10 + 20 * 3 = 90",  # running total read left to right
        "3 * 10 = 30 * 2 = 60", "x + 3 * 4 = 20", "2x + 5 = 15", "abs(-5 * 2) = 10", "total = price * 3",
        "if a == 3 + 4:", "1) 3 + 4 = 7", "1 / 4 = 0.25 = 25%", "6 / 8 = 3/4", "**Step 2:** 4 * 5 = 20",
        "The time is 2:30 + 15 = 2:45", "2 \\cdot 3^{2} = 18", "It costs $1,200 \\times 3 = \\$3{,}600.",
        # styles found in GSM8K's own reference solutions
        "4/(1/8)=4*8=32 meatballs", "2 * 23 - 4 = 46 - 4 = 42", "600 x 30 = 18 000 watts", "$1/2 = 50 cents",
        "25 / 1/3 = 75 decorations", "8/3 = 24/Y", "3*30 = 30 + M trees", "0900-0130 = 0730 hours",
        "60 students x 2/3 = 40 students", "100/5 = 5A/5 or 20 = A", "15% * $80 = (15/100) * 80 = 12",
    ],
)  # fmt: skip
def test_true_or_unknowable_statements_are_never_flagged(line: str) -> None:
    assert false_claims(line) == [], [str(c) for c in claims(line)]


@pytest.mark.parametrize(
    "line, value",
    [("10 + 5 = 16", 15), ("2.5 * 4 = 10.5", 10), ("3 × 4 = 13", 12), ("<<48/2=25>>25", 24), ("100 / 3 = 30", Fraction(100, 3)),
     ("She has 12 + 15 = 28 apples.", 27), ("- 7 * 8 = 54", 56)],
)  # fmt: skip
def test_false_statements_are_flagged(line: str, value: object) -> None:
    (bad,) = false_claims(line)
    assert bad.value == value


def test_reference_solutions_are_almost_never_flagged() -> None:
    """GSM8K's own test solutions: 6.7k stated computations; the 2 flagged are typos in the references
    (row 1024 '$32 - $20 = $300', row 501 '364 / 4 = <<3/4*364=273>>273')."""
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / ".." / ".." / "shared" / "data" / "gsm8k" / "test.jsonl"
    if not path.exists():
        path = Path("/work/shared/data/gsm8k/test.jsonl")
    if not path.exists():
        pytest.skip("GSM8K test.jsonl not available")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    flagged = {i for i, r in enumerate(rows) if false_claims(r["answer"])}
    assert sum(len(claims(r["answer"])) for r in rows[:200]) > 800
    assert flagged <= {501, 1024}, sorted(flagged)
