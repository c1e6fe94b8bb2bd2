"""Regression tables for the grader (tinyreason.answers): every rule in its module docstring has a row.

The extraction table is small-model output as Qwen2.5-0.5B-Instruct writes it on GSM8K; each row is
(text, expected flexible answer, expected strict answer). Add a row before changing a rule.

    PYTHONPATH=src python -m pytest -q tests/test_answers.py
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tinyreason.answers import (
    answers_match,
    extract_answer,
    majority_vote,
    normalize_number,
    parse_gold,
    vote_counts,
)

P = pytest.param

EXTRACTION = [
    # --- the requested format, #### N ---
    P("Janet has 16 eggs. She eats 3 and bakes 4, so 16 - 3 - 4 = 9.\nShe sells them for $2 each: 9 * 2 = 18.\n#### 18", "18", "18", id="hash-plain"),
    P("Step 1: 5 + 7 = 12\nStep 2: 12 * 3 = 36\n\n#### 36\n", "36", "36", id="hash-trailing-newline"),
    P("She earns $1,200 a month, so in a year 12 * 1,200 = 14,400.\n#### 14,400", "14400", "14400", id="hash-thousands"),
    P("The total cost is 3 * $6 = $18.\n#### $18", "18", "18", id="hash-dollar"),
    P("The discount is 25% of 80 = 20.\n#### 25%", "25", "25", id="hash-percent"),
    P("Total: **42** apples\n\n#### **42**", "42", "42", id="hash-bold"),
    P("He loses 5 - 12 = -7 dollars.\n#### -7", "-7", "-7", id="hash-negative"),
    P("Each slice costs 7.5 / 3 = 2.5 dollars.\n#### 2.50", "2.5", "2.5", id="hash-decimal-zeros"),
    P("#### 10\nWait, I made a mistake. 4 * 3 = 12.\n#### 12", "12", "12", id="hash-last-wins"),
    P("#### 18.", "18", "18", id="hash-sentence-period"),
    P("#### \\$18", "18", "18", id="hash-latex-dollar"),
    P("#### Step 1: Find the eggs\nShe has 16 - 7 = 9 eggs.\n#### Step 2: Sell them\n9 * 2 = 18", "18", None, id="hash-markdown-headers"),
    P("She pays 30 in total.\n#### thirty", "30", None, id="hash-not-a-number"),
    # --- the format ignored: a stated answer ---
    P("To find the total, we add 12 + 8 = 20.\nThe answer is 20.", "20", None, id="answer-is"),
    P("The answer is 18. Check: 18 * 2 = 36, which is the doubled amount.", "18", None, id="answer-then-check"),
    P("So the answer is: 35 minutes. She needs 5 more minutes for the bus.", "35", None, id="answer-is-colon-units"),
    P("Answer: 72", "72", None, id="answer-colon"),
    P("**Answer:** $18", "18", None, id="answer-bold-cue"),
    P("The final answer is: **18**", "18", None, id="final-bold-number"),
    P("Final Answer: The final answer is 18. I hope it is correct.", "18", None, id="minerva-style"),
    P("Final Answer: The final answer is $18$. I hope it is correct.", "18", None, id="minerva-dollar-math"),
    P("The answer is -4.", "-4", None, id="answer-negative"),
    P("The answer is $1,250.50.", "1250.5", None, id="answer-currency-decimal"),
    P("Therefore, the answer is: 16 - 3 - 4 = 9 eggs, and 9 * 2 = 18 dollars.", "18", None, id="answer-expression"),
    P("The answer is 18, because 3 + 4 = 7 eggs are used.", "18", None, id="answer-then-reason"),
    P("The answer to this question is 45 minutes. Then she rests for 15.", "45", None, id="answer-to-question"),
    P("The answer is:\n\n24 cookies\n\nEach child gets 6.", "24", None, id="answer-next-line"),
    P("The final answer would be 60 miles. Total time is 2 hours.", "60", None, id="final-would-be"),
    P("The answer is 30.\n\nNote: 15 + 15 = 30, and 30 - 5 = 25 is wrong.", "30", None, id="answer-then-note"),
    P("Let me think.\nThe answer is the number of pens, 12 * 4 = 48.", "48", None, id="answer-is-the"),
    P("所以答案是 56。", "56", None, id="chinese-cue"),
    P("The answer is 18 dollars.\n\nHuman: What if she sold 20?", "18", None, id="answer-then-runaway-turn"),
    P("He is 10 now; in 5 years he will be 15. The answer is fifteen.", "15", None, id="answer-in-words"),
    P("### Final Answer\nThe final answer is \\(\\boxed{18}\\).", "18", None, id="final-header-boxed"),
    # --- \boxed{} ---
    P("So she makes $18 every day.\n\n\\[\n\\boxed{18}\n\\]", "18", None, id="boxed"),
    P("The final answer is $\\boxed{\\$18}$.", "18", None, id="boxed-latex-dollar"),
    P("Therefore the total is \\boxed{18 \\text{ dollars}}.", "18", None, id="boxed-text-units"),
    P("She eats \\(\\frac{3}{4}\\) of the pie.\n\\[\\boxed{\\frac{3}{4}}\\]", "0.75", None, id="boxed-frac"),
    P("\\boxed{1{,}200}", "1200", None, id="boxed-latex-thousands"),
    P("\\[ 9 \\times 2 = \\boxed{18} \\]\nSo she earns 18 dollars; 18 / 2 = 9 per hour.", "18", None, id="boxed-then-more-numbers"),
    P("The answer is 20.\nWait, I forgot the tax: 20 + 2 = 22.\n\\boxed{22}", "22", None, id="boxed-after-answer-is"),
    P("\\boxed{2 + 3 = 5}", "5", None, id="boxed-expression"),
    P("\\boxed{}\nThe total is 40.", "40", None, id="boxed-empty"),
    P("The answer is 7.\n#### 8", "8", "8", id="hash-after-answer-is"),
    P("#### 8\nThe answer is 7.", "7", "8", id="answer-is-after-hash"),
    # --- no cue: the last number ---
    P("She has 16 - 3 - 4 = 9 eggs left. She sells them for $2 each, so she makes 9 * 2 = $18.", "18", None, id="last-dollar-period"),
    P("Janet makes 9 * 2 = $<<9*2=18>>18 every day at the market.", "18", None, id="calculator-annotation"),
    P("It takes 45 minutes.", "45", None, id="last-units"),
    P("The price increased by 25%.", "25", None, id="last-percent"),
    P("The total is 1,234,567 people.", "1234567", None, id="last-thousands"),
    P("Tom is a 5-year-old boy.", "5", None, id="hyphen-age"),
    P("She reads 2-3 books a week.", "3", None, id="hyphen-range"),
    P("The temperature dropped to -12 degrees.", "-12", None, id="last-negative"),
    P("x = (-5)", "-5", None, id="paren-negative"),
    P("The numbers are 1, 2, 3", "3", None, id="list-spaced"),
    P("The numbers are 1,2,3", "3", None, id="list-tight"),
    P("We pick 3,4 from the set.", "4", None, id="list-pair"),
    P("The train leaves at 3:30 PM after a 2 hour wait.", "2", None, id="time-skipped"),
    P("It arrives at 10:45.", None, None, id="time-only"),
    P("Each person gets 0.50 dollars, or 1/2 of a dollar... so 0.5.", "0.5", None, id="last-decimal"),
    P("Half of the 12 is \\( 6 \\).", "6", None, id="latex-inline"),
    P("Total = **36** cupcakes", "36", None, id="bold-number"),
    P("Box A has 4 apples; put them in box B2", "4", None, id="glued-letter-digit"),
    P("She makes 9 * 2 = <<9*2=18>> dollars.", "18", None, id="annotation-not-echoed"),
    P("Lost 3 - 7 = <<3-7=-4>>-4 dollars, so the change is -$4.", "-4", None, id="annotation-negative"),
    P("Each run is \\(2\\frac{1}{2}\\) miles.\n\\[\\boxed{2\\dfrac{1}{2}}\\]", "2.5", None, id="boxed-mixed-number"),
    P("The cake needs 2 1/2 cups of flour.", "0.5", None, id="plain-mixed-number"),
    P("He runs 3 miles a day for 7 days, so 3 * 7 = 21 miles. I hope it is correct.", "21", None, id="trailing-hope"),
    P("Step 1:\nStep 2:\nWe cannot determine the value.", "2", None, id="step-numbers-only"),
    P("−8 degrees", "-8", None, id="unicode-minus"),
    # --- no answer at all ---
    P("", None, None, id="empty"),
    P("   \n\t  ", None, None, id="whitespace"),
    P("I don't know how to solve this problem.", None, None, id="no-number"),
    P("The answer is , and . too", None, None, id="bare-punctuation"),
    P("####", None, None, id="hash-alone"),
]


@pytest.mark.parametrize(("text", "flexible", "strict"), EXTRACTION)
def test_extract_answer(text: str, flexible: str | None, strict: str | None) -> None:
    assert extract_answer(text) == flexible
    assert extract_answer(text, "flexible") == flexible
    assert extract_answer(text, "strict") == strict


def test_extract_answer_table_is_large() -> None:
    assert len(EXTRACTION) >= 50


def test_extract_answer_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="strict, flexible"):
        extract_answer("#### 1", "lenient")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("18", "18"), ("  18  ", "18"), ("$18", "18"), ("$18.00", "18"), ("18.00", "18"), ("18.", "18"),
        ("1,200", "1200"), ("1,234,567", "1234567"), ("1200.50", "1200.5"), ("$1,200.50", "1200.5"),
        ("007", "7"), ("0.5", "0.5"), (".5", "0.5"), ("+5", "5"), ("-3", "-3"), ("-0", "0"), ("-0.00", "0"),
        ("-.5", "-0.5"), ("$-5", "-5"), ("-$5", "-5"), ("25%", "25"), ("25\\%", "25"), ("**18**", "18"),
        ("\\$18", "18"), ("3/4", "0.75"), ("-3/4", "-0.75"), ("6/3", "2"), ("2/6", "1/3"),
        ("\\frac{3}{4}", "0.75"), ("0.1", "0.1"), ("1000000000000000000000000000001", "1000000000000000000000000000001"),
        ("0.30000000000000000004", "0.30000000000000000004"), ("100", "100"), ("0", "0"),
        # not numbers
        (",", None), (".", None), ("", None), ("   ", None), ("-", None), ("$", None), ("%", None),
        ("1,2,3", None), ("3,4", None), ("1,2345", None), ("12:30", None), ("5/0", None), ("1e5", None),
        ("nan", None), ("inf", None), ("18 dollars", None), ("eighteen", None), ("--5", None), ("1" * 200, None),
    ],
)
def test_normalize_number(raw: str, expected: str | None) -> None:
    assert normalize_number(raw) == expected


@pytest.mark.parametrize(
    ("pred", "gold", "expected"),
    [
        ("18", "18", True), ("18.0", "18", True), ("18.00", "18", True), ("$18", "18", True),
        ("1,000", "1000", True), ("0.5", ".5", True), ("0.75", "3/4", True), ("-0", "0", True),
        ("0.3", "0.30", True), ("17", "18", False), ("-18", "18", False), ("1.8", "18", False),
        ("25%", "0.25", False), (None, "18", False), ("", "18", False), ("abc", "18", False),
        ("18", "", False), ("18", "not a number", False), (None, "", False),
    ],
)
def test_answers_match(pred: str | None, gold: str, expected: bool) -> None:
    assert answers_match(pred, gold) is expected


@pytest.mark.parametrize(
    ("preds", "winner", "counts"),
    [
        (["18", "18.0", "$18", "20"], "18", [("18", 3), ("20", 1)]),
        (["20", "18", "18", "20"], "20", [("20", 2), ("18", 2)]),  # tie: earliest first appearance
        (["18", "20", "20", "18"], "18", [("18", 2), ("20", 2)]),
        ([None, None, "7", None], "7", [("7", 1)]),
        ([None, "5", "6", "6", None, "5.00"], "5", [("5", 2), ("6", 2)]),
        (["1,000", "1000", "999"], "1000", [("1000", 2), ("999", 1)]),
        (["junk", "3"], "3", [("3", 1)]),
        ([None, None], None, []),
        ([], None, []),
    ],
)
def test_majority_vote(preds: list[str | None], winner: str | None, counts: list[tuple[str, int]]) -> None:
    assert majority_vote(preds) == winner
    assert vote_counts(preds) == counts


@pytest.mark.parametrize(
    ("answer_field", "expected"),
    [
        (
            "Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
            "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer’s market.\n#### 18",
            "18",
        ),
        ("It takes 2/2=<<2/2=1>>1 bolt of white fiber\nSo the total amount of fabric is 2+1=<<2+1=3>>3 bolts\n#### 3", "3"),
        ("The cost is 5000+... so he made a profit of 70000.\n#### 70000", "70000"),
        ("So the total is 1,000 dollars.\n#### 1,000", "1000"),
        ("Lost 3 - 7 = <<3-7=-4>>-4\n#### -4", "-4"),
        ("#### 2.50", "2.5"),
        ("no gold marker here 42", None),
        ("#### ", None),
        ("#### 18 dollars", None),
        ("", None),
    ],
)
def test_parse_gold(answer_field: str, expected: str | None) -> None:
    assert parse_gold(answer_field) == expected


_JUNK_ALPHABET = list("0123456789-+.,$%/:*#{}()\\ \n=xe<>") + [
    "####", "\\boxed{", "answer is", "Answer:", "\\frac{", "<<", ">>", "1,000", "答案是", "−", "\u00a0",
]


def _check_never_raises(text: str) -> None:
    for mode in ("strict", "flexible"):
        value = extract_answer(text, mode)  # type: ignore[arg-type]
        # Whatever comes out is already canonical, and matches itself.
        assert value is None or (normalize_number(value) == value and answers_match(value, value))
    normalize_number(text)
    parse_gold(text)
    answers_match(text, text)


def test_extract_answer_never_raises_on_random_junk() -> None:
    rng = random.Random(1234)
    for _ in range(2000):
        _check_never_raises("".join(rng.choice(_JUNK_ALPHABET) for _ in range(rng.randint(0, 60))))
    for _ in range(500):  # arbitrary code points, surrogates included
        _check_never_raises("".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 40))))


def test_extract_answer_never_raises_on_arbitrary_text(tmp_path: Path) -> None:
    hypothesis = pytest.importorskip("hypothesis")  # optional: not a declared test dependency
    from hypothesis.configuration import set_hypothesis_home_dir

    st = hypothesis.strategies

    @hypothesis.settings(max_examples=300, deadline=None, database=None)
    @hypothesis.given(st.text() | st.lists(st.sampled_from(_JUNK_ALPHABET)).map("".join))
    def run(text: str) -> None:
        _check_never_raises(text)

    set_hypothesis_home_dir(tmp_path)  # its caches go to tmp, not .hypothesis/ in the working tree
    try:
        run()
    finally:
        set_hypothesis_home_dir(None)


@pytest.mark.parametrize(
    "unit",
    ["\\boxed{", "\\boxed{1", "answer is ", "answer is 1:00 ", "1,", "#### ", "9", "-", "<<"],
)
def test_extract_answer_is_fast_on_looping_output(unit: str) -> None:
    text = unit * (100_000 // len(unit))  # a degenerate generation that repeats itself to the token limit
    start = time.perf_counter()
    extract_answer(text)
    extract_answer(text, "strict")
    assert time.perf_counter() - start < 3.0


def test_non_string_inputs_are_no_answer() -> None:
    assert extract_answer(None) is None  # type: ignore[arg-type]
    assert normalize_number(18) is None  # type: ignore[arg-type]
    assert parse_gold(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "a, b, same",
    [("18", "18.00", True), ("$1,200", "1200", True), (None, None, True), ("18", None, False), (None, "3", False), ("3", "4", False)],
)
def test_same_answer(a, b, same) -> None:
    from tinyreason.answers import same_answer

    assert same_answer(a, b) is same
