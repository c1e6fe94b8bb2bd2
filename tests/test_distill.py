"""Teacher distillation: the trace validator (table), and `tinyreason distill generate` end to end against a
loopback OpenAI-compatible server with injected 429 / 500 / timeout / malformed traces, resume, config
mismatch, and the API key absent from every file the run writes."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openai_server import Action, FakeOpenAI
from tinyreason.answers import parse_gold
from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.cli import app
from tinyreason.data import load_jsonl
from tinyreason.train.distill import DistillError, DistillOptions, check_trace, distill
from tinyreason.types import Completion
from tiny import PROBLEMS, write_gsm8k_jsonl

GOLD = {q: parse_gold(a) for q, a in PROBLEMS}
runner = CliRunner()


def trace(answer: str, verification: str = "Working backwards gives the same numbers.") -> str:
    return (f"Facts:\n- the numbers in the question\nRelationships: combine them as the question says.\n"
            f"Calculations:\n1. the arithmetic gives {answer}\nVerification: {verification}\nAnswer: #### {answer}")


def ok(text: str) -> Completion:
    return Completion(text, len(text.split()), "stop")


@pytest.mark.parametrize(
    "completion, reason",
    [
        (ok(trace("18")), None),
        (ok(trace("18").replace("Facts:", "**Facts:**").replace("Answer:", "### Answer:")), None),
        (ok(trace("18").replace("Facts:", "1. FACTS:")), None),
        (ok("#### 1. Facts\nf\n## Relationships\nr\n### **Calculations**\nc\n#### Verification:\nv\n#### Answer\n#### 18"), None),
        (ok(trace("18").replace("Facts:", "Facts and figures")), "missing_labels"),
        (ok(trace("18").replace("Facts:", "### Facts and figures")), "missing_labels"),
        (ok(trace("18", verification="18 / 2 = 9 and 9 * 2 = 18, so 99 is wrong")), None),  # numbers before Answer are not the answer
        (ok(trace("18.00")), None),  # the grader normalizes
        (ok(trace("18").replace("Verification:", "Check:")), "missing_labels"),
        (ok(trace("18").replace("Facts:", "The facts:")), "missing_labels"),  # a label starts its line
        (ok("Relationships: r\nFacts: f\nCalculations: c\nVerification: v\nAnswer: #### 18"), "labels_out_of_order"),
        (ok("Facts: f\nRelationships:\nCalculations: c\nVerification: v\nAnswer: #### 18"), "empty_section"),
        (ok(trace("18").replace("#### 18", "I am not sure")), "no_answer"),
        (ok(trace("17")), "wrong_answer"),
        (Completion(trace("18"), 1024, "length"), "truncated"),
        (Completion("", 0, "error", error="InternalServerError: 500"), "backend_error"),
    ],
)
def test_check_trace(completion: Completion, reason: str | None) -> None:
    v = check_trace(completion, "18")
    assert v.reason == reason, v
    if reason is None:
        assert v.answer == "18" and v.answer_strict == "18"


def teacher_reply(question: str, body: dict, i: int) -> str:
    gold = next(g for q, g in GOLD.items() if q in question)
    assert "Facts:" in question and "Verification:" in question  # the teacher prompt, not the eval prompt
    return trace(gold)


def _distill(srv: FakeOpenAI, data: Path, out: Path, *extra: str) -> object:
    args = ["distill", "generate", "--teacher", f"openai:teacher-model@{srv.base_url}", "--data", str(data), "--out", str(out),
            "--api-key-env", "TR_DISTILL_KEY", "--concurrency", "4", "--timeout", "0.5", "--max-retries", "2", *extra]
    return runner.invoke(app, args, catch_exceptions=False)


def _lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_distill_over_http_with_faults_resume_and_no_key_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"sk-distill-{secrets.token_hex(16)}"
    monkeypatch.setenv("TR_DISTILL_KEY", key)
    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    out = tmp_path / "out" / "traces.jsonl"
    with FakeOpenAI(teacher_reply, key=key) as srv:
        srv.plan("Janet", Action(status=429, headers={"Retry-After": "0"}))  # retried, then accepted
        srv.plan("eggs", Action(status=500))  # retried, then accepted
        srv.plan("Tom had", Action(sleep=1.0))  # a timeout, retried, then accepted
        srv.plan("train travels", Action(text=trace("180").replace("Verification:", "Double-check:")))  # malformed
        srv.plan("Sara", Action(text=trace("104")))  # wrong answer
        srv.plan("cookies", Action(status=500), repeat=True)  # persistent failure
        srv.plan("shirt", Action(finish="length"))  # truncated
        res = _distill(srv, data, out, "--n", "9")  # 12 questions, 8 good: asks every one, falls short
        assert res.exit_code == 1, res.output
        assert "only 8 of 9" in res.output and "8 traces accepted" in res.output
        assert srv.count("Janet") == 2 and srv.count("eggs") == 2 and srv.count("Tom had") == 2 and srv.count("cookies") == 3
        accepted, rejects = _lines(out), _lines(out.with_name("traces.rejects.jsonl"))
        assert sorted(r["id"] for r in accepted) == [0, 1, 2, 7, 8, 9, 10, 11]
        assert {r["id"]: r["reason"] for r in rejects} == {3: "missing_labels", 4: "wrong_answer", 5: "backend_error", 6: "truncated"}
        for r in accepted:
            assert r["gold"] == GOLD[r["question"]] and r["completion"].startswith("Facts:") and r["answer"] == r["gold"]
            assert r["teacher"] == {"backend": "openai", "model": "teacher-model", "base_url": srv.base_url}
        assert "Verification" in next(r["detail"] for r in rejects if r["id"] == 3)
        assert "500" in next(r["error"] for r in rejects if r["id"] == 5)

        asked = len(srv.requests)
        srv.clear_plans()  # the server recovers: the backend_error question is asked again, nothing else
        res = _distill(srv, data, out, "--n", "9")
        assert res.exit_code == 0, res.output
        assert len(srv.requests) == asked + 1 and srv.count("cookies") == 4
        assert len(_lines(out)) == 9
        summary = json.loads(out.with_name("traces.summary.json").read_text())
        assert summary["accepted"] == 9 and summary["attempted"] == 12 and summary["complete"]
        assert summary["rejects_by_reason"] == {"missing_labels": 1, "wrong_answer": 1, "truncated": 1}

        res = _distill(srv, data, out, "--n", "9", "--temperature", "0.5")
        assert res.exit_code == 2 and "different distillation" in res.output and "temperature" in res.output
    cfg = json.loads(out.with_name("traces.config.json").read_text())
    assert cfg["teacher"]["model"] == "teacher-model" and cfg["prompt"]["name"] == "distill_trace" and cfg["data"]["fingerprint"]
    written = [f for f in (tmp_path / "out").rglob("*") if f.is_file()]
    assert len(written) == 4
    for f in written:
        assert key not in f.read_text(errors="replace"), f"API key leaked into {f}"


def test_n_is_accepted_traces_in_seeded_order_whatever_the_batch_size(tmp_path: Path) -> None:
    ds = load_jsonl(write_gsm8k_jsonl(tmp_path / "train.jsonl"))

    def responder(chat: list, params: object, k: int) -> list[str]:
        q = chat[-1]["content"]
        gold = next(g for qq, g in GOLD.items() if qq in q)
        return [trace(gold if "apples" not in q and "eggs" not in q else "0")]

    runs = {}
    for bs in (1, 3, 16):
        out = tmp_path / f"bs{bs}" / "t.jsonl"
        s = distill(ScriptedBackend(responder=responder), ds, out, DistillOptions(n=5, batch_size=bs), progress=False)
        assert s["accepted"] == 5 and s["complete"]
        runs[bs] = ([r["id"] for r in _lines(out)], [r["id"] for r in _lines(out.with_name("t.rejects.jsonl"))])
    assert runs[1] == runs[3] == runs[16]  # the first 5 accepted in seeded order; rejects only those before them


def test_attempt_cap_test_split_and_persistent_outage(tmp_path: Path) -> None:
    ds = load_jsonl(write_gsm8k_jsonl(tmp_path / "train.jsonl"))
    wrong = ScriptedBackend(responder=lambda chat, params, k: [trace("-1")])
    s = distill(wrong, ds, tmp_path / "a.jsonl", DistillOptions(n=2, max_attempts=3), progress=False)
    assert s["accepted"] == 0 and s["attempted"] == 3 and not s["complete"] and s["rejects_by_reason"] == {"wrong_answer": 3}
    test_ds = load_jsonl(write_gsm8k_jsonl(tmp_path / "test.jsonl"))
    with pytest.raises(DistillError, match="refusing to distill test questions"):
        distill(wrong, test_ds, tmp_path / "b.jsonl", DistillOptions(n=1), progress=False)

    class Down:
        name = "down"

        def describe(self) -> dict:
            return {"backend": "down"}

        def generate(self, chats: list, params: object) -> list:
            return [[Completion("", 0, "error", error="APIConnectionError: Connection error.")] for _ in chats]

    with pytest.raises(DistillError, match="failed on 4 questions in a row"):
        distill(Down(), ds, tmp_path / "c.jsonl", DistillOptions(n=10, batch_size=2, max_consecutive_errors=4), progress=False)
    assert len(_lines(tmp_path / "c.rejects.jsonl")) == 4


def test_distill_cli_bad_teacher_spec(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    res = runner.invoke(app, ["distill", "generate", "--teacher", "gpt-4o", "--data", str(data), "--out", str(tmp_path / "t.jsonl")])
    assert res.exit_code == 2 and "openai:MODEL@BASE_URL" in res.output


def test_distill_with_a_local_hf_teacher(tiny_model: Path, tmp_path: Path) -> None:
    """hf:PATH teachers go through the same command; a random tiny model writes no valid trace."""
    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    out = tmp_path / "t.jsonl"
    res = runner.invoke(app, ["distill", "generate", "--teacher", f"hf:{tiny_model}", "--data", str(data), "--out", str(out),
                              "--n", "2", "--max-attempts", "3", "--max-new-tokens", "8", "--batch-size", "2"])
    assert res.exit_code == 1 and "only 0 of 2" in res.output, res.output
    rejects = _lines(tmp_path / "t.rejects.jsonl")
    assert len(rejects) == 3 and {r["reason"] for r in rejects} <= {"truncated", "missing_labels"}
    assert rejects[0]["teacher"]["backend"] == "hf" and rejects[0]["teacher"]["model"] == str(tiny_model)


def test_rejection_sampling_keeps_the_first_valid_sample_and_counts_the_rest(tmp_path: Path) -> None:
    """Self-distillation (STaR/RFT): k samples per question, the first one the grader accepts is kept (free
    format: any finished chain); a question with none is a reject naming each reason's count; resumable."""
    ds = load_jsonl(write_gsm8k_jsonl(tmp_path / "train.jsonl"))

    def responder(chat: list, params: object, k: int) -> list[str]:
        q = chat[-1]["content"]
        gold = next(g for qq, g in GOLD.items() if qq in q)
        if "apples" in q:  # wrong; right but a bare guess (no chain to learn); a right chain
            return ["So #### 999", f"#### {gold}", f"Add them: {gold} + 0 = {gold}. #### {gold}"]
        if "eggs" in q:
            return ["#### 1", "#### 2", "#### 3"]
        return [f"It is 1 + 1 = 2 less than that. #### {gold}", "#### 0", "#### 0"]

    out = tmp_path / "self" / "t.jsonl"
    n = len(ds.problems) - 1  # every question is asked: all but the eggs one have a valid sample
    opts = DistillOptions(n=n, batch_size=4, samples=3, temperature=0.7, format="free", prompt="cot")
    teacher = ScriptedBackend(responder=responder)
    s = distill(teacher, ds, out, opts, progress=False)
    kept = {r["id"]: r for r in _lines(out)}
    rejects = {r["id"]: r for r in _lines(out.with_name("t.rejects.jsonl"))}
    apples = next(r for r in [*kept.values(), *rejects.values()] if "apples" in r["question"])
    assert apples["id"] in kept and apples["sample"] == 2 and apples["completion"].startswith("Add them")
    assert check_trace(Completion("#### 18", 4, "stop"), "18", "free").reason == "bare_guess"
    assert check_trace(Completion("#### 18", 4, "stop"), "17", "free").reason == "wrong_answer"  # a wrong guess is wrong first
    (eggs,) = [r for r in rejects.values() if "eggs" in r["question"]]
    assert eggs["reason"] == "wrong_answer" and eggs["detail"] == "0 of 3 valid: wrong_answer 3"
    assert s["accepted"] == n, [(r["gold"], r["detail"]) for r in rejects.values()]
    assert all(r["teacher"]["backend"] == "scripted" for r in kept.values())
    cfg = json.loads(out.with_name("t.config.json").read_text())
    assert cfg["sampling"]["samples_per_question"] == 3 and cfg["validation"]["labels"] is None and cfg["prompt"]["name"] == "cot"
    asked = len(teacher.calls)
    assert distill(teacher, ds, out, opts, progress=False)["accepted"] == n and len(teacher.calls) == asked  # resumed: nothing asked again
    with pytest.raises(DistillError, match="temperature > 0"):
        distill(teacher, ds, tmp_path / "t0" / "t.jsonl", DistillOptions(n=1, samples=2), progress=False)


def test_a_spent_budget_ends_the_step_only_when_fewer_is_ok(tmp_path: Path) -> None:
    """The study's structured row with a teacher that rarely writes a valid trace: max_attempts bounds it; with
    fewer_ok the reproduce step is done with what it wrote (and says so); without, it stays partial."""
    from tinyreason.experiments import DistillKind, DistillRecipe, Yardstick

    ds = load_jsonl(write_gsm8k_jsonl(tmp_path / "train.jsonl"))

    def responder(chat: list, params: object, k: int) -> list[str]:
        q = chat[-1]["content"]
        return [trace(GOLD[next(qq for qq in GOLD if qq in q)] if "apples" in q else "-1")]

    out = tmp_path / "run" / "traces.jsonl"
    cap = len(ds.problems) - 1
    s = distill(ScriptedBackend(responder=responder), ds, out, DistillOptions(n=3, max_attempts=cap), progress=False)
    assert s["attempted"] == cap and not s["complete"] and s["budget_spent"] and s["max_attempts"] == cap
    from tinyreason.data import select

    asked = [p.question for p in select(ds, None, 42)][:cap]
    accepted = s["accepted"]
    assert accepted == sum("apples" in q for q in asked) and accepted < 3
    kind, common = DistillKind(), {"teacher": "scripted:rules.json", "data": str(tmp_path / "train.jsonl"), "n": 3, "max_attempts": cap}
    done = kind.state(DistillRecipe(**common, fewer_ok=True), out.parent)
    assert (done.status, done.done) == ("done", accepted)
    assert kind.state(DistillRecipe(**common), out.parent).status == "partial"
    assert kind.state(DistillRecipe(**{**common, "max_attempts": cap + 1}, fewer_ok=True), out.parent).status == "partial"  # budget left
    more = distill(ScriptedBackend(responder=responder), ds, out, DistillOptions(n=3, max_attempts=cap + 1), progress=False)
    assert more["attempted"] == cap + 1 and more["budget_spent"]  # a larger budget resumes where the last stopped



def test_data_that_runs_out_before_the_budget_spends_it_and_says_so(tmp_path: Path) -> None:
    from tinyreason.experiments import DistillKind, DistillRecipe, StepFailed

    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    ds = load_jsonl(data)
    out = tmp_path / "run" / "traces.jsonl"
    rules = tmp_path / "rules.json"
    rules.write_text('[{"match": "", "responses": ["#### -1"]}]')  # every question answered, never right
    s = distill(ScriptedBackend(model=str(rules)), ds, out, DistillOptions(n=3), progress=False)
    assert (s["attempted"], s["accepted"], s["max_attempts"]) == (len(ds.problems), 0, 30) and s["data_exhausted"] and s["budget_spent"]
    common = {"teacher": f"scripted:{rules}", "data": str(data), "n": 3}
    kind = DistillKind()
    assert kind.state(DistillRecipe(**common, fewer_ok=True), out.parent).status == "done"
    state = kind.state(DistillRecipe(**common), out.parent)
    assert state.status == "partial"
    with pytest.raises(StepFailed, match=f"every one of the data's {len(ds.problems)} questions was asked"):
        kind.run(DistillRecipe(**common), out.parent, state, log=lambda line: None, progress=False)
    assert "budget spent: 0 traces accepted" in kind.run(DistillRecipe(**common, fewer_ok=True), out.parent, state, log=lambda line: None,
                                                         progress=False)


def test_the_dry_runs_estimate_counts_every_sample_a_question_costs(tmp_path: Path) -> None:
    """Rejection sampling generates all k samples of a question: the estimate is traces left × questions asked per
    trace × k × tokens, and with no trace yet it says the acceptance rate is unknown instead of inventing one."""
    from tinyreason.experiments import DistillKind, DistillRecipe, Yardstick

    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    out = tmp_path / "run" / "traces.jsonl"
    common = {"teacher": "scripted:rules.json", "data": str(data), "n": 4, "max_attempts": 4, "samples": 2, "temperature": 0.7}
    opts = DistillOptions(n=4, max_attempts=2, samples=2, temperature=0.7)
    distill(ScriptedBackend(responder=lambda chat, params, k: [trace("-1")] * params.n), load_jsonl(data), out, opts, progress=False)
    kind = DistillKind()
    cfg = DistillRecipe(**common)
    state = kind.state(cfg, out.parent)
    assert state.done == 0 and kind.estimate(cfg, out.parent, state, Yardstick()).startswith("unknown (0 of 2 questions asked")

    def right(chat: list, params: object, k: int) -> list[str]:
        q = chat[-1]["content"]
        return [trace(GOLD[next(qq for qq in GOLD if qq in q)])] * 2

    distill(ScriptedBackend(responder=right), load_jsonl(data), out, opts.model_copy(update={"max_attempts": 4}), progress=False)
    state = kind.state(cfg, out.parent)
    rows = [json.loads(line) for f in (out, out.with_name("traces.rejects.jsonl")) for line in f.read_text().splitlines()]
    mean = sum(r["n_tokens"] for r in rows) / len(rows)
    assert state.done == 2 and len(rows) == 4  # 2 asked and rejected, then 2 asked and kept
    text = kind.estimate(cfg, out.parent, state, Yardstick())
    per_accept = len(rows) / state.done
    assert f"{4 - state.done} traces × {per_accept:.2g} asks × 2 × {mean:.0f} tok" in text
    from tinyreason.experiments import _tokens

    assert text.startswith(f"≈ {_tokens((4 - state.done) * per_accept * 2 * mean)} teacher tok")


def test_state_and_estimate_read_rows_holding_a_line_separator_and_leave_a_torn_line_alone(tmp_path: Path) -> None:
    """A rejected sample's text may hold U+2028 (written raw): the dry run's state and estimate read it as one row.
    They only look: a torn last line (a writer killed, or still writing) stays on disk for the resuming run to cut."""
    from tinyreason.experiments import DistillKind, DistillRecipe, Yardstick

    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    out = tmp_path / "run" / "traces.jsonl"
    opts = DistillOptions(n=4, max_attempts=2)

    asked: list[str] = []

    def odd(chat: list, params: object, k: int) -> list[str]:  # the first question asked is answered right, the rest wrong
        asked.append(chat[-1]["content"])
        right = GOLD[next(qq for qq in GOLD if qq in asked[0])]
        return [trace(right) if len(asked) == 1 else trace("-1") + "\u2028and\x85so"] * params.n

    distill(ScriptedBackend(responder=odd), load_jsonl(data), out, opts, progress=False)
    rejects = out.with_name("traces.rejects.jsonl")
    assert "\u2028" in rejects.read_text(encoding="utf-8")  # the test's premise: written raw, not escaped
    kind = DistillKind()
    cfg = DistillRecipe(teacher="scripted:rules.json", data=str(data), n=4, max_attempts=4)
    state = kind.state(cfg, out.parent)
    assert (state.status, state.done) == ("partial", 1)
    assert kind.estimate(cfg, out.parent, state, Yardstick()).startswith("≈ ")
    with rejects.open("ab") as fh:
        fh.write(b'{"id": 3, "reason": "wro')
    torn = rejects.read_bytes()
    assert kind.estimate(cfg, out.parent, kind.state(cfg, out.parent), Yardstick()).startswith("≈ ")
    assert rejects.read_bytes() == torn  # looked at, not cut
    distill(ScriptedBackend(responder=odd), load_jsonl(data), out, opts.model_copy(update={"max_attempts": 3}), progress=False)
    assert all(json.loads(line) for line in rejects.read_bytes().split(b"\n")[:-1])  # the resume cut it, then appended whole rows


def test_a_stored_distillation_made_otherwise_is_stale_in_the_dry_run(tmp_path: Path) -> None:
    """reproduce's state compares what distill would refuse on resume, before the teacher loads: the prompt,
    sampling and data by content (a moved copy is the same data), the teacher's backend and given options."""
    from tinyreason.experiments import DistillKind, DistillRecipe, Yardstick

    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    out = tmp_path / "run" / "traces.jsonl"
    distill(ScriptedBackend(responder=lambda chat, params, k: [trace("-1")] * params.n), load_jsonl(data), out,
            DistillOptions(n=2, max_attempts=2, samples=2, temperature=0.7), progress=False)
    common = {"teacher": "scripted:rules.json", "data": str(data), "n": 2, "max_attempts": 2, "samples": 2, "temperature": 0.7}
    kind = DistillKind()
    assert kind.state(DistillRecipe(**common), out.parent).stale == ""
    moved = tmp_path / "elsewhere" / "train.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(data.read_bytes())
    assert kind.state(DistillRecipe(**{**common, "data": str(moved)}), out.parent).stale == ""
    assert kind.state(DistillRecipe(**{**common, "temperature": 0.8}), out.parent).stale == "sampling.temperature: stored 0.7 != now 0.8"
    assert kind.state(DistillRecipe(**{**common, "samples": 3}), out.parent).stale == "sampling.samples_per_question: stored 2 != now 3"
    assert "prompt." in kind.state(DistillRecipe(**{**common, "prompt": "cot"}), out.parent).stale
    assert kind.state(DistillRecipe(**{**common, "teacher": "hf:./qwen"}), out.parent).stale.startswith("teacher: stored scripted != now hf")
    other = tmp_path / "other.jsonl"
    other.write_text(data.read_text().replace("apples", "pears"))
    assert "holds other questions than now" in kind.state(DistillRecipe(**{**common, "data": str(other)}), out.parent).stale


def test_check_arithmetic_rejects_a_right_answer_reached_through_a_false_computation(tmp_path: Path) -> None:
    """The grader checks the answer only; with check_arithmetic a right chain that states a false computation
    (found in the structured self-distillation: "120 + 40 + 40 = 180") is a reject, a true or rounded one is
    kept, the config records the check, and a resume with the check toggled is refused, naming the field."""
    from tinyreason.experiments import DistillKind, DistillRecipe, Yardstick

    right = ok("She has 120 + 40 + 40 = 200 beads. #### 200")
    slip = ok("She has 120 + 40 + 40 = 180 beads, plus 20 more. #### 200")
    rounded = ok("Each gets 100 / 3 = 33.33, so about 200 in all. #### 200")
    assert check_trace(slip, "200", "free").reason is None  # the answer alone: accepted
    v = check_trace(slip, "200", "free", arithmetic=True)
    assert v.reason == "false_arithmetic" and "120 + 40 + 40 = 180" in v.detail and v.answer == "200"
    assert check_trace(right, "200", "free", arithmetic=True).reason is None
    assert check_trace(rounded, "200", "free", arithmetic=True).reason is None
    assert check_trace(ok(trace("17")), "18", arithmetic=True).reason == "wrong_answer"  # wrong first, as for a guess

    data = write_gsm8k_jsonl(tmp_path / "train.jsonl")
    ds = load_jsonl(data)

    def responder(chat: list, params: object, k: int) -> list[str]:
        g = next(g for qq, g in GOLD.items() if qq in chat[-1]["content"])
        if "apples" in chat[-1]["content"]:  # a slip first, then a true chain: the second is kept
            return [f"1 + 1 = 3, so {g}. #### {g}", f"{g} + 0 = {g}. #### {g}"]
        return [f"2 * 2 = 5, so {g}. #### {g}"] * 2  # every sample slips: a reject counting them

    out = tmp_path / "run" / "traces.jsonl"
    opts = DistillOptions(n=len(ds.problems), samples=2, temperature=0.7, format="free", prompt="cot", check_arithmetic=True)
    s = distill(ScriptedBackend(responder=responder), ds, out, opts, progress=False)
    assert s["accepted"] == 1 and s["rejects_by_reason"] == {"false_arithmetic": len(ds.problems) - 1}
    (kept,) = _lines(out)
    assert "apples" in kept["question"] and kept["sample"] == 1
    assert all(r["detail"] == "0 of 2 valid: false_arithmetic 2" for r in _lines(out.with_name("traces.rejects.jsonl")))
    assert "arithmetic" in json.loads(out.with_name("traces.config.json").read_text())["validation"]
    with pytest.raises(DistillError, match="validation.arithmetic"):
        distill(ScriptedBackend(responder=responder), ds, out, opts.model_copy(update={"check_arithmetic": False}), progress=False)
    common = {"teacher": "scripted:rules.json", "data": str(data), "n": len(ds.problems), "samples": 2, "temperature": 0.7, "format": "free",
              "prompt": "cot"}
    assert DistillKind().state(DistillRecipe(**common, check_arithmetic=True), out.parent).stale == ""
    assert "validation.arithmetic" in DistillKind().state(DistillRecipe(**common), out.parent).stale
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "", "responses": ["1 + 1 = 3. #### 1"]}]))
    cli_out = tmp_path / "cli" / "t.jsonl"
    r = runner.invoke(app, ["distill", "generate", "--teacher", f"scripted:{rules}", "--data", str(data), "--format", "free", "--prompt", "cot",
                            "--check-arithmetic", "--n", "1", "--max-attempts", "1", "--out", str(cli_out)])
    assert r.exit_code == 1 and "only 0 of 1 wanted" in r.output, r.output  # the flag reaches the run's config
    assert "arithmetic" in json.loads(cli_out.with_name("t.config.json").read_text())["validation"]
