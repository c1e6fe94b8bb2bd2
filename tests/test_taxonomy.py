"""Failure taxonomy on hand-written chains, one per class, plus a long correct chain in every notation the
models use that must NOT be flagged as arithmetic."""

from __future__ import annotations

from runfab import generation, sample

from tinyreason.analysis.claims import false_claims
from tinyreason.analysis.taxonomy import CLASSES, classify, judged_generation, tally, unit_confusion

CORRECT_CHAIN = r"""To find the total time, we break it down:
- 3 \text{ puzzles} \times 10 \text{ minutes/puzzle} = 30 \text{ minutes}
- The discount is 20% of $50 = $10.
1. Each share: 100 / 3 = 33.33, so about 33 per person.
2. After the 20% cut: 50 - 20% = 40
**Step 3:** 1,200 * 3 = 3,600 and <<3600/4=900>>900 per quarter.
\[ \frac{3}{4} \times 20 = 15 \]
Let x be the rest: x + 5 = 12, so x = 7.
Running total: 10 + 20 * 3 = 90 hmm, then 30 + 10 = 40 = 40.
```python
total = price * 3
print(total == 3 + 4)
```
The answer is 40.
#### 40"""


def test_a_correct_chain_is_not_flagged_arithmetic() -> None:
    assert false_claims(CORRECT_CHAIN) == []
    s = sample(1, "45", [generation(CORRECT_CHAIN)], question="How many minutes did it take in total?")
    case = classify(s)
    assert case.cls == "relationship misunderstanding"
    assert "stated computations check out" in case.reason and len(case.checked) >= 8


def test_arithmetic_error() -> None:
    s = sample(2, "27", [generation("She has 12 apples and gets 15 more.\n12 + 15 = 28 apples.\n#### 28")])
    case = classify(s)
    assert case.cls == "arithmetic error" and "12 + 15 = 28" in case.reason and "is 27" in case.reason


def test_arithmetic_error_in_a_gsm8k_annotation() -> None:
    s = sample(3, "24", [generation("Each box costs 4*6 = <<4*6=26>>26 dollars.\n#### 26")])
    assert classify(s).cls == "arithmetic error"


def test_unit_confusion_minutes_vs_hours() -> None:
    q = "Tom walks 45 minutes to school and 45 minutes back. How many hours does he walk?"
    s = sample(4, "1.5", [generation("45 + 45 = 90 minutes.\n#### 90")], question=q)
    case = classify(s)
    assert case.cls == "unit confusion" and "× 60" in case.reason


def test_unit_confusion_percent_more_read_as_percent_of() -> None:
    q = "A shirt costs $50. A jacket costs 40% more than the shirt. How much does the jacket cost?"
    s = sample(5, "70", [generation("The jacket costs 40% of 50 = 20 dollars.\n#### 20")], question=q)
    case = classify(s)
    assert case.cls == "unit confusion" and "40%" in case.reason


def test_unit_confusion_dozens_and_cents() -> None:
    assert "dozens" in (unit_confusion("3", "36", "She buys 3 dozen eggs. How many eggs?") or "")
    assert "cents" in (unit_confusion("250", "2.5", "A pen costs 250 cents. How many dollars?") or "")
    # the same factor without a matching unit in the question is not unit confusion
    assert unit_confusion("360", "6", "Sam has 6 marbles. How many marbles?") is None


def test_relationship_misunderstanding() -> None:
    q = "Sally has $420 and earns $300 a week. How much was withheld?"
    s = sample(6, "80", [generation("420 - 300 = 120\nSally withheld \\boxed{120} dollars.")], question=q)
    case = classify(s)
    assert case.cls == "relationship misunderstanding" and "all 1 stated computations check out" in case.reason


def test_other_no_answer_truncated_and_format() -> None:
    none = sample(7, "5", [generation("I am not sure what to do here.")], prediction=None)
    assert classify(none).cls == "other" and "no answer" in classify(none).reason
    cut = sample(8, "50", [generation("Step 1: 10 * 3 = 30\nStep 2: 30 + 1", finish="length")])
    assert classify(cut).cls == "other" and "token budget" in classify(cut).reason
    fmt = sample(9, "8", [generation("5 + 3 = 8. The answer is in 2 parts.")])
    assert fmt["prediction"] == "2"
    assert classify(fmt).cls == "other" and classify(fmt).reason.startswith("format")


def test_a_bare_guess_is_a_guess_not_a_misunderstanding() -> None:
    q = "Tom walks 45 minutes to school and 45 minutes back. How many hours does he walk?"
    guess = classify(sample(14, "1.5", [generation("#### 90", n_tokens=5)], question=q))  # x60 off gold, but no working at all
    assert guess.cls == "guess (no working)" and "5 generated tokens" in guess.reason
    short_but_worked = classify(sample(15, "1.5", [generation("45 + 45 = 90\n#### 90", n_tokens=12)], question=q))
    assert short_but_worked.cls == "unit confusion"  # a computation is stated: not a guess
    long_no_math = classify(sample(16, "80", [generation("Sally keeps some and gives the rest away, so \\boxed{120}.", n_tokens=20)]))
    assert long_no_math.cls == "relationship misunderstanding"  # 20 tokens is not under the limit
    old = sample(17, "1.5", [generation("#### 90")], question=q)
    del old["generations"][0]["n_tokens"]  # an old record without a count is never called a guess
    assert classify(old).cls == "unit confusion"


def test_judged_generation_is_the_last_one_giving_the_prediction() -> None:
    gens = [generation(f"#### {a}", "sample") for a in ("18", "20", "18", "7")]
    s = sample(10, "20", gens, prediction="18")
    assert judged_generation(s) is gens[2]
    reflect = [generation("#### 20", "answer"), generation("On reflection 2 * 9 = 18.\n#### 18", "reflect")]
    assert judged_generation(sample(11, "20", reflect))["stage"] == "reflect"


def test_hybrid_sc_judges_the_chain_when_a_program_and_a_chain_back_the_wrong_answer() -> None:
    program = generation("```python\ndef solution():\n    return 12 + 15 + 1\n```", "sample")
    program["answer"], program["extra"] = "28", {"program": "...", "program_status": "ok", "program_answer": "28"}
    chain = generation("12 + 15 = 28\n#### 28", "sample")
    case = classify(sample(12, "27", [program, chain], prediction="28"))  # programs are listed first
    assert case.cls == "arithmetic error" and case.chain == chain["text"]
    assert classify(sample(13, "27", [program, generation("#### 5", "sample")], prediction="28")).cls == "wrong program"


def test_tally_covers_every_class() -> None:
    cases = [classify(sample(2, "27", [generation("12 + 15 = 28\n#### 28")])), classify(sample(7, "5", [generation("no")], prediction=None))]
    table = tally(cases)
    assert [c for c, _, _ in table] == list(CLASSES)
    assert dict((c, k) for c, k, _ in table) == {"guess (no working)": 0, "arithmetic error": 1, "unit confusion": 0, "relationship misunderstanding": 0, "program error": 0, "wrong program": 0, "other": 1}
    assert sum(s for _, _, s in table) == 1.0


def test_llm_judge_is_shown_next_to_the_rules_never_instead() -> None:
    from tinyreason.analysis.judge import judge_cases, parse_verdict
    from tinyreason.backends.scripted import ScriptedBackend

    assert parse_verdict("Unit.") == "unit" and parse_verdict("**RELATIONSHIP**") == "relationship" and parse_verdict("dunno") is None
    q = "Tom walks 45 minutes there and back. How many hours?"
    samples = {
        1: sample(1, "1.5", [generation("45 + 45 = 90 minutes\n#### 90")], question=q),
        2: sample(2, "80", [generation("420 - 300 = 120\n#### 120")]),
        3: sample(3, "27", [generation("12 + 15 = 28\n#### 28")]),
    }
    cases = [classify(s) for s in samples.values()]
    replies = iter(["UNIT", "I cannot tell"])
    backend = ScriptedBackend(responder=lambda chat, params, k: [next(replies)])
    counts = judge_cases(cases, samples, backend)
    assert counts == {"judged": 2, "agree": 1, "unparseable": 1}
    assert [c.judge for c in cases] == ["unit", "unparseable", None]  # arithmetic is not sent to the judge
    assert [c.cls for c in cases] == ["unit confusion", "relationship misunderstanding", "arithmetic error"]
    (chat, params), _ = backend.calls
    assert "Correct answer: 1.5" in chat[-1]["content"] and "45 + 45 = 90" in chat[-1]["content"] and params.greedy
