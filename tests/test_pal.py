"""Program-aided methods: the extraction table, the few-shot exemplars, pal / pal-sc / hybrid-sc on a
scripted backend that returns real programs (run for real in the sandbox), the metrics' program counts,
and the refusal when the sandbox cannot run. End-to-end CLI runs are in tests/test_pal_cli.py."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sandboxed import needs_sandbox

from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.evaluate import sample_record
from tinyreason.methods import create_method
from tinyreason.methods.programs import extract_program, run_programs
from tinyreason.metrics import compute_metrics, summary_lines
from tinyreason.prompts import PAL_EXEMPLARS
from tinyreason.sandbox import SandboxResult, SandboxUnavailable, run_program
from tinyreason.types import Chat, Generation, Problem, SamplingParams


FENCE = "```"
CODE = "def solution():\n    return 3 + 4"


@pytest.mark.parametrize(
    ("text", "program"),
    [
        (f"Here you go:\n{FENCE}python\n{CODE}\n{FENCE}\nThe answer is 7.", CODE),
        (f"{FENCE}python\nx = 1\n{FENCE}\nBetter:\n{FENCE}python\n{CODE}\n{FENCE}", CODE),  # the last python block
        (f"{FENCE}py\n{CODE}\n{FENCE}", CODE),
        (f"{FENCE}Python3\n{CODE}\n{FENCE}", CODE),
        (f"{FENCE} python\n{CODE}\n{FENCE}", CODE),
        (f"{FENCE}python\n{CODE}\n{FENCE}\n{FENCE}\nprint(7)\n{FENCE}", CODE),  # a tagged block beats a later untagged one
        (f"1. Write it:\n   {FENCE}python\n   def solution():\n       return 7\n   {FENCE}", "def solution():\n    return 7"),  # dedented
        (f"{FENCE}python\n{CODE}", CODE),  # cut before the closing fence: runs to the end
        (f"{FENCE}python\ndef solution(:\n{FENCE}", "def solution(:"),  # a python block is taken even if broken (syntax error later)
        (f"{FENCE}\n{CODE}\n{FENCE}", CODE),  # untagged, parses
        (f"{FENCE}\nTotal = 3 apples plus 4\n{FENCE}", None),  # untagged, not Python
        (f"{FENCE}bash\necho 7\n{FENCE}", None),  # another language
        (CODE, CODE),  # a bare program
        ("print(7)", "print(7)"),
        ("18", "18"),  # parses as Python: runs, prints nothing, "no-number"
        ("Janet has 3 apples and buys 4 more, so she has 7. #### 7", None),
        ("", None),
        ("   \n", None),
        (f"{FENCE}python\n\n{FENCE}", None),  # an empty block
        ("-" * 100000 + "1", None),  # too deep for the parser: not Python, no crash
    ],
)
def test_extract_program(text: str, program: str | None) -> None:
    assert extract_program(text) == program


@needs_sandbox
@pytest.mark.parametrize("ex", PAL_EXEMPLARS, ids=lambda ex: f"train-{ex['train_row']}")
def test_few_shot_exemplars_are_train_items_whose_programs_return_the_gold(ex: dict[str, Any]) -> None:
    from tinyreason.answers import extract_answer

    r = run_program(str(ex["program"]))
    assert r.status == "ok" and extract_answer(r.answer or "") == ex["gold"]
    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / "gsm8k"
    if not (shared / "train.jsonl").exists():
        pytest.skip("../shared/data/gsm8k not present: the train/test membership check needs it")
    train = (shared / "train.jsonl").read_text().splitlines()
    assert json.loads(train[int(ex["train_row"])])["question"] == ex["question"]  # type: ignore[call-overload]
    assert all(json.loads(line)["question"] != ex["question"] for line in (shared / "test.jsonl").read_text().splitlines())


PROBLEMS = [Problem(id=i, question=f"Question number {i}?", gold=g) for i, g in enumerate(["7", "60", "12", "180", "105", "8", "20", "8", "64"])]
PROGRAMS = {  # question id -> completion, one per program_status
    0: f"{FENCE}python\ndef solution():\n    apples = 3\n    bought = 4\n    return apples + bought\n{FENCE}",  # ok, right
    1: f"Program:\n{FENCE}python\ndef solution():\n    return 12 * 5\n{FENCE}\nThe answer is 99.",  # ok: the prose's 99 is not read
    2: f"{FENCE}python\nprint('left:')\nprint(20 - 8)\n{FENCE}",  # ok, from stdout: strict None
    3: f"{FENCE}python\ndef solution():\n    return 60 * 3 / 0\n{FENCE}",  # exception
    4: f"{FENCE}python\ndef solution(:\n    return 15 * 7\n{FENCE}",  # syntax-error
    5: "I cannot write code for this one. The answer is 8.",  # no-program (its 8 is not read)
    6: f"{FENCE}python\nimport time\ndef solution():\n    time.sleep(30)\n    return 20\n{FENCE}",  # timeout
    7: f"{FENCE}python\ndef solution():\n    return 'eight'\n{FENCE}",  # no-number
    8: f"{FENCE}python\ndef solution():\n    return 9 * 4 + 14 * 2 + 1\n{FENCE}",  # ok, wrong: 65
}


def qid(chat: Chat) -> int:
    return int(chat[-1]["content"].split("Question number ")[1].split("?")[0])


def records(problems: list[Problem], preds: list[Any]) -> list[dict[str, Any]]:
    return [sample_record(p, pred, 0.1) for p, pred in zip(problems, preds, strict=True)]


@needs_sandbox
def test_pal_runs_one_program_per_question_and_metrics_count_every_failure() -> None:
    b = ScriptedBackend(responder=lambda chat, params, k: [PROGRAMS[qid(chat)]])
    preds = create_method("pal", timeout_s=1.0).solve(b, PROBLEMS)
    assert len(b.calls) == 9 and all("solution()" in chat[-1]["content"] and params.greedy for chat, params in b.calls)
    assert [p.prediction for p in preds] == ["7", "60", "12", None, None, None, None, None, "65"]
    assert [p.prediction_strict for p in preds] == ["7", "60", None, None, None, None, None, None, "65"]
    statuses = [p.extra["program_status"] for p in preds]
    assert statuses == ["ok", "ok", "ok", "exception", "syntax-error", "no-program", "timeout", "no-number", "ok"]
    g = preds[3].generations[0]
    assert g.stage == "answer" and g.extra["program"] == "def solution():\n    return 60 * 3 / 0"
    assert g.extra["program_error"] == "ZeroDivisionError: division by zero (line 2)" and g.extra["program_elapsed_s"] < 1
    assert preds[2].generations[0].extra["program_stdout"] == "left:\n12\n" and preds[2].generations[0].extra["program_source"] == "stdout"
    assert preds[6].generations[0].extra["program_error"].startswith("timeout") and preds[7].generations[0].extra["program_answer"] == "eight"
    m = compute_metrics(records(PROBLEMS, preds))
    assert m["correct"] == 3 and m["strict"]["correct"] == 2
    p = m["programs"]
    assert (p["total"], p["ok"], p["failed_to_parse"], p["raised"], p["timed_out"], p["no_number"]) == (9, 4, 2, 1, 1, 1)
    assert p["by_status"] == {"exception": 1, "no-number": 1, "no-program": 1, "ok": 4, "syntax-error": 1, "timeout": 1}
    line = next(x for x in summary_lines(m) if x.startswith("programs:"))
    assert "4/9 gave a number · 2 failed to parse · 1 raised (or hit a limit) · 1 timed out · 1 returned no number" in line


@needs_sandbox
def test_pal_sc_votes_over_executed_answers() -> None:
    votes = {
        0: [PROGRAMS[0], PROGRAMS[3], PROGRAMS[8].replace("+ 1", "- 57")],  # 7, failure, 7
        1: [PROGRAMS[4], PROGRAMS[5], PROGRAMS[7]],  # nothing runs to a number
        2: [f"{FENCE}python\ndef solution():\n    return {a}\n{FENCE}" for a in ("12.0", "13", "12")],  # "12.000000" and "12" agree
    }

    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        assert params.n == 3 and params.temperature == 0.7
        return votes[qid(chat)]

    preds = create_method("pal-sc", n=3).solve(ScriptedBackend(responder=respond), PROBLEMS[:3])
    assert [p.prediction for p in preds] == ["7", None, "12"]
    assert preds[2].extra["votes"] == [("12", 2), ("13", 1)] and [p.extra["programs_ok"] for p in preds] == [2, 0, 3]
    assert all(g.stage == "sample" for p in preds for g in p.generations)
    rows = records(PROBLEMS[:3], preds)
    assert [r["pass_at_k"] for r in rows] == [True, False, True]
    assert compute_metrics(rows)["programs"]["total"] == 9


@needs_sandbox
def test_hybrid_sc_pools_chains_and_programs_and_falls_back_to_the_chains() -> None:
    chains = {0: ["#### 7", "#### 7", "#### 5"], 1: ["#### 1", "#### 2", "#### 3"], 2: ["no idea"] * 3, 3: ["hmm"] * 3}
    programs = {
        0: [PROGRAMS[3], PROGRAMS[4]],  # both programs fail: the chains decide (7)
        1: [PROGRAMS[1], PROGRAMS[1]],  # programs agree on 60, chains split 1/2/3: 60
        2: [PROGRAMS[2], PROGRAMS[7]],  # no chain answers: the one working program decides (12)
        3: [PROGRAMS[5], PROGRAMS[5]],  # nothing: None
    }
    calls: list[tuple[int, int]] = []

    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        is_program = "solution()" in chat[-1]["content"]
        calls.append((int(is_program), params.n))
        return (programs if is_program else chains)[qid(chat)]

    preds = create_method("hybrid-sc").solve(ScriptedBackend(responder=respond), PROBLEMS[:4])
    assert sorted(set(calls)) == [(0, 3), (1, 2)]  # n=3 chains, m=2 programs by default
    assert [p.prediction for p in preds] == ["7", "60", "12", None]
    assert [p.extra["decided_by"] for p in preds] == ["chains", "both", "programs", "none"]
    assert preds[1].extra["votes_by_source"] == {"program": [("60", 2)], "chain": [("1", 1), ("2", 1), ("3", 1)]}
    assert preds[1].extra["votes"] == [("60", 2), ("1", 1), ("2", 1), ("3", 1)] and preds[1].calls == 2
    assert ["program_status" in g.extra for g in preds[0].generations] == [True, True, False, False, False]  # programs first
    m = compute_metrics(records(PROBLEMS[:4], preds))
    assert m["decided_by"] == {"both": 1, "chains": 1, "none": 1, "programs": 1} and m["programs"]["total"] == 8
    assert m["samples_per_question"] == 5


def test_a_program_tie_goes_to_the_program() -> None:
    from tinyreason.methods.hybrid import decided_by
    from tinyreason.methods.sc import vote

    program = Generation("sample", "", 1, 1, "stop", "20", "20", {"program_status": "ok"})
    chain = Generation("sample", "#### 18", 1, 1, "stop", "18", "18")
    assert vote([program, chain], calls=2).prediction == "20" and decided_by([program], [chain]) == "both"


@needs_sandbox
def test_a_batch_of_programs_runs_concurrently() -> None:
    gens = [Generation("sample", f"{FENCE}python\nimport time\ntime.sleep(1.0)\nprint({i})\n{FENCE}", 1, 1, "stop", None, None) for i in range(4)]
    config = create_method("pal", workers=4).config
    t0 = time.monotonic()
    run_programs(gens, config)  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 3.0  # 4 x 1 s would be over 4 s in series
    assert [g.answer for g in gens] == ["0", "1", "2", "3"]


def test_pal_refuses_when_the_sandbox_cannot_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.methods import programs

    def unavailable(isolation: str) -> dict[str, Any]:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed. Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap)")

    monkeypatch.setattr(programs, "check_isolation", unavailable)
    for name in ("pal", "pal-sc", "hybrid-sc"):
        with pytest.raises(ValueError, match=f"{name} refuses to run: bubblewrap .* apt-get install bubblewrap"):
            create_method(name).preflight({"backend": "scripted", "model": "m"})


def test_a_sandbox_failing_for_one_program_fails_only_that_program(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.methods import programs

    def execute(code: str, **limits: Any) -> SandboxResult:
        if "boom" in code:
            raise SandboxUnavailable("the bwrap sandbox did not start (exit status 1): bwrap: out of memory")
        return SandboxResult("7", stdout="7\n", error=None, timed_out=False, status="ok", answer_source="stdout")

    monkeypatch.setattr(programs, "execute", execute)
    gens = [Generation("sample", f"{FENCE}python\nprint({x})\n{FENCE}", 1, 1, "stop", None, None) for x in ("7", "boom", "7")]
    run_programs(gens, create_method("pal").config)  # type: ignore[arg-type]
    assert [g.extra["program_status"] for g in gens] == ["ok", "died", "ok"] and [g.answer for g in gens] == ["7", None, "7"]
    assert gens[1].extra["program_error"].startswith("died: the sandbox failed: the bwrap sandbox did not start")


def test_program_options_are_validated() -> None:
    with pytest.raises(ValueError, match="isolation"):
        create_method("pal", isolation="none")
    with pytest.raises(ValueError, match="memory_mb"):
        create_method("pal-sc", memory_mb=1)
    assert create_method("hybrid-sc", m=4, n=1).samples_per_question == 5
