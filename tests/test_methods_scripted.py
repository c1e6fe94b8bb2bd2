"""Control flow of the inference-time methods on the scripted backend (no model): who calls the model how
often, what is recorded, and how metrics read the records."""

from __future__ import annotations

from typing import Any

import pytest

from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.evaluate import sample_record
from tinyreason.methods import create_method
from tinyreason.metrics import compute_metrics
from tinyreason.types import Chat, Problem, SamplingParams

PROBLEMS = [Problem(id=i, question=f"Question number {i}?", gold=str(10 + i)) for i in range(4)]


class CountingBackend(ScriptedBackend):
    """ScriptedBackend that also records each generate() call (prompts per call, n)."""

    def __init__(self, responder: Any) -> None:
        super().__init__(responder=responder)
        self.generate_calls: list[tuple[int, int]] = []

    def generate(self, chats: list[Chat], params: SamplingParams):  # type: ignore[no-untyped-def]
        self.generate_calls.append((len(chats), params.n))
        return super().generate(chats, params)


def kind(chat: Chat) -> str:
    text = chat[-1]["content"]
    if "Review the proposed solution" in text:
        return "reflect"
    if "candidate solutions" in text:
        return "sc-reflect"
    if "Reply with exactly one word" in text:
        return "verify"
    return "answer"


def qid(chat: Chat) -> int:
    return int(chat[-1]["content"].split("Question number ")[1].split("?")[0])


def records(problems: list[Problem], preds: list[Any]) -> list[dict[str, Any]]:
    return [sample_record(p, pred, 0.1) for p, pred in zip(problems, preds, strict=True)]


# -- reflect -----------------------------------------------------------------------------------------
def test_reflect_records_both_answers_and_metrics_count_fixes_and_regressions() -> None:
    # q0: wrong -> right (fixed); q1: right -> wrong (regressed); q2: right -> right; q3: wrong -> no answer
    first = {0: "#### 1", 1: "#### 11", 2: "#### 12", 3: "#### 5"}
    second = {0: "I fixed it. #### 10", 1: "Oops. #### 99", 2: "Checked. #### 12", 3: "I am not sure."}

    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        return [(second if kind(chat) == "reflect" else first)[qid(chat)]]

    b = CountingBackend(respond)
    preds = create_method("reflect").solve(b, PROBLEMS)
    assert b.generate_calls == [(4, 1), (4, 1)]  # one batched answer call, one batched review call
    assert all(p.calls == 2 and [g.stage for g in p.generations] == ["answer", "reflect"] for p in preds)
    assert "#### 1" in b.calls[4][0][-1]["content"]  # the review prompt shows the first solution
    assert [p.extra["initial_answer"] for p in preds] == ["1", "11", "12", "5"]
    assert [p.prediction for p in preds] == ["10", "99", "12", None]  # revised answer is final
    assert [p.extra["changed"] for p in preds] == [True, True, False, True]
    rows = records(PROBLEMS, preds)
    assert all(r["pass_at_k"] is None for r in rows)  # one answer chain: no oracle
    m = compute_metrics(rows)
    assert m["revision"] == {"questions": 4, "changed": 3, "fixed": 1, "regressed": 1, "net": 0}
    assert m["calls_per_question"] == 2 and "samples_per_question" not in m


# -- sc-reflect --------------------------------------------------------------------------------------
def test_sc_reflect_calls_the_model_again_only_on_disagreement() -> None:
    votes = {0: ["#### 10"] * 3, 1: ["#### 11", "#### 7", "#### 7"], 2: ["#### 12", "no idea", "#### 12"], 3: ["#### 1", "#### 2", "#### 13"]}

    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        if kind(chat) == "sc-reflect":
            return {1: ["Candidate A is right. #### 11"], 3: ["Nothing."]}[qid(chat)]
        return votes[qid(chat)][: params.n]

    b = CountingBackend(respond)
    preds = create_method("sc-reflect", n=3).solve(b, PROBLEMS)
    assert b.generate_calls == [(4, 3), (2, 1)]  # the reflection call holds only the two split questions
    reflect_prompt = b.calls[-2][0][-1]["content"]
    assert "Candidate solution A:\n#### 7" in reflect_prompt and "Candidate solution B:\n#### 11" in reflect_prompt  # most-voted first
    assert [p.calls for p in preds] == [1, 2, 1, 2]
    assert [p.extra["reflected"] for p in preds] == [False, True, False, True]  # q2: a missing answer is no disagreement
    assert [p.prediction for p in preds] == ["10", "11", "12", "1"]
    assert preds[1].extra["changed"] and preds[1].extra["initial_answer"] == "7"
    assert preds[3].extra["fallback"] and not preds[3].extra["changed"]  # no answer in the reflection: the vote stands
    rows = records(PROBLEMS, preds)
    assert [len([g for g in r["generations"] if g["stage"] == "sample"]) for r in rows] == [3, 3, 3, 3]
    assert rows[3]["pass_at_k"] is True and rows[1]["pass_at_k"] is True  # over the samples only
    m = compute_metrics(rows)
    assert m["reflected"] == {"questions": 2, "of": 4} and m["revision"]["fixed"] == 1 and m["revision"]["regressed"] == 0
    assert m["samples_per_question"] == 3


def test_pass_at_k_ignores_reflection_generations() -> None:
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        return ["#### 10"] if kind(chat) == "sc-reflect" else ["#### 1", "#### 2"]

    (pred,) = create_method("sc-reflect", n=2).solve(ScriptedBackend(responder=respond), PROBLEMS[:1])
    (row,) = records(PROBLEMS[:1], [pred])
    assert row["correct"] is True and row["pass_at_k"] is False  # the right answer came from reflection, not a sample


# -- structured-sc -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "found", "ok", "in_order"),
    [
        ("Facts: 3 apples\nRelationships: adds\nCalculations: 3+4=7\nAnswer: #### 7", ["facts", "relationships", "calculations", "answer"], True, True),
        ("**Facts:**\n- 3\n**Relationships**\nx\n### Calculations\n3+4\n**Answer:** 7", ["facts", "relationships", "calculations", "answer"], True, True),
        ("1. Facts: a\n2. Relationships: b\n3. Calculations: c\n4. Answer: 7", ["facts", "relationships", "calculations", "answer"], True, True),
        ("## facts\n## RELATIONSHIPS\n## Answer\n## Calculations", ["facts", "relationships", "answer", "calculations"], True, False),
        ("Facts: a\nCalculations: 3+4=7\n#### 7", ["facts", "calculations"], False, False),
        ("The facts are simple. The answer is 7.", [], False, False),
        ("Facts about the problem\nAnswer is 7", [], False, False),
    ],
)
def test_structured_section_detection(text: str, found: list[str], ok: bool, in_order: bool) -> None:
    from tinyreason.methods.structured import section_record

    assert section_record(text) == {"sections": found, "format_ok": ok, "in_order": in_order}


def test_structured_sc_uses_its_prompt_and_reports_format_share() -> None:
    good = "Facts: 3\nRelationships: sum\nCalculations: 3+7\nAnswer: #### 10"

    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        assert "Facts" in chat[-1]["content"] and "Relationships" in chat[-1]["content"]
        return [good, good, "#### 10", "#### 4"][: params.n]

    preds = create_method("structured-sc", n=4).solve(ScriptedBackend(responder=respond), PROBLEMS[:1])
    assert preds[0].prediction == "10" and preds[0].extra["format_ok"] == 2 and preds[0].calls == 1
    m = compute_metrics(records(PROBLEMS[:1], preds))
    assert m["format_ok"] == {"share": 0.5, "completions": 4}


# -- adaptive-sc -------------------------------------------------------------------------------------
def test_adaptive_sc_stops_early_on_unanimous_votes_and_goes_to_max_n_on_split_votes() -> None:
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        i = qid(chat)
        if i % 2 == 0:
            return [f"#### {10 + i}"] * params.n  # unanimous
        return [f"#### {j % 3}" for j in range(params.n)]  # a three-way split, every round

    b = CountingBackend(respond)
    preds = create_method("adaptive-sc", max_n=9, min_n=4, round_size=2).solve(b, PROBLEMS)
    assert [p.extra["n_samples"] for p in preds] == [4, 9, 4, 9]
    assert [p.extra["stop_reason"] for p in preds] == ["beta", "max_n", "beta", "max_n"]
    assert [p.calls for p in preds] == [1, 4, 1, 4]
    # every round is ONE generate call over the still-open questions; the last round is cut to max_n
    assert b.generate_calls == [(4, 4), (2, 2), (2, 2), (2, 1)]
    assert all(g.stage == "sample" for p in preds for g in p.generations)
    m = compute_metrics(records(PROBLEMS, preds))
    assert m["stop_reasons"] == {"beta": 2, "max_n": 2} and m["samples_per_question"] == 6.5
    assert m["calls_per_question"] == 2.5


def test_adaptive_sc_default_stops_when_the_sc5_answer_is_decided() -> None:
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        return {0: ["#### 10"] * 3, 1: ["#### 11", "#### 11", "#### 3"]}[qid(chat)][: params.n] if params.n == 3 else ["#### 3", "#### 3"]

    preds = create_method("adaptive-sc").solve(ScriptedBackend(responder=respond), PROBLEMS[:2])
    assert preds[0].extra["n_samples"] == 3 and preds[0].extra["stop_reason"] == "decided"  # 3-0: SC-5 cannot change
    assert preds[1].extra["n_samples"] == 5 and preds[1].prediction == "3"  # 2-1 goes on; 2 more flip it


def test_adaptive_sc_beta_rule_matches_the_paper() -> None:
    from scipy.stats import beta

    from tinyreason.methods.adaptive import leader_confidence, stop_reason

    assert leader_confidence(3, 0) == pytest.approx(1 - 0.5**4)
    assert leader_confidence(7, 2) == pytest.approx(1 - beta.cdf(0.5, 8, 3))
    assert stop_reason(["1"] * 4, 40, 0.95) == "beta" and stop_reason(["1"] * 3, 40, 0.95) is None
    assert stop_reason([None] * 5, 5, 0.95) == "max_n"
    with pytest.raises(ValueError, match="min_n"):
        create_method("adaptive-sc", min_n=6, max_n=5)
