"""pal, pal-sc and hybrid-sc end to end through `python -m tinyreason eval` on the scripted backend, whose
rules return real programs (run for real in the sandbox); then show, compare, regressions and leaderboard
on the runs, and the refusal when bubblewrap is missing. Runs the CLI as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sandboxed import needs_sandbox
from tiny import PROBLEMS

from tinyreason.answers import parse_gold

pytestmark = needs_sandbox

SRC = Path(__file__).resolve().parents[1] / "src"
F = "```"
PROGRAM_CUE = "Use only the Python standard library.\n\nQuestion: "

def program(body: str) -> str:
    return f"Here is my program.\n{F}python\n{body}\n{F}"

# one completion per tiny GSM8K question (tests/tiny.py PROBLEMS, in order): every program outcome
PAL_RESPONSES = [
    program("def solution():\n    apples = 3\n    bought = 4\n    return apples + bought"),  # 7 ok
    program("def solution():\n    return 12 * 5"),  # 60 ok
    program("print(20 - 8)"),  # 12 from stdout
    program("def solution():\n    return 60 * 3 / 0"),  # exception
    program("def solution(:\n    return 15 * 7"),  # syntax error
    "Each kid gets 8 cookies.",  # no program
    program("import time\ndef solution():\n    time.sleep(30)\n    return 20"),  # timeout (timeout_s=1)
    program("def solution():\n    return 'eight'"),  # no number
    program("def solution():\n    return 9 * 4 + 14 * 2 + 1"),  # 65: a wrong program
    program("def solution():\n    return 1200 * 3"),  # 3600 ok
    "def solution():\n    return 5 - 9",  # a bare program: -4
    program("from fractions import Fraction\ndef solution():\n    return Fraction(8 - 3 - 2)"),  # 3 ok
]

def rules(program_responses: list[list[str]], chain_responses: list[list[str]]) -> list[dict[str, Any]]:
    """Program rules first (their match is longer), then chain rules, per tiny question."""
    out = [{"match": PROGRAM_CUE + q, "responses": r} for (q, _), r in zip(PROBLEMS, program_responses, strict=True)]
    return out + [{"match": "Question: " + q, "responses": r} for (q, _), r in zip(PROBLEMS, chain_responses, strict=True)]

def cli(*args: Any, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}
    if path is not None:
        env["PATH"] = path
    cmd = [sys.executable, "-m", "tinyreason", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)

def evaluate(tmp_path: Path, gsm8k_file: Path, name: str, spec: list[dict[str, Any]], *args: Any, path: str | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / f"{name}.json").write_text(json.dumps(spec))
    return cli("eval", "--backend", "scripted", "--model", tmp_path / f"{name}.json", "--data", gsm8k_file, "--out", tmp_path / name, *args, path=path)

def flat(text: str) -> str:
    """Rich wraps long lines at the terminal width: compare with whitespace collapsed."""
    return " ".join(text.split())

def samples(out: Path) -> dict[int, dict[str, Any]]:
    return {s["id"]: s for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}

GOLD_CHAINS = [[f"The steps check out. #### {parse_gold(a)}"] for _, a in PROBLEMS]

def test_pal_end_to_end_then_show_compare_regressions(tmp_path: Path, gsm8k_file: Path) -> None:
    res = evaluate(tmp_path, gsm8k_file, "pal", rules([[r] for r in PAL_RESPONSES], GOLD_CHAINS), "--method", "pal", "--limit", 12, "--option", "timeout_s=1")
    assert res.returncode == 0, res.stderr + res.stdout
    assert "accuracy 50.0% (6/12" in res.stdout
    assert "programs: 7/12 gave a number · 2 failed to parse · 1 raised (or hit a limit) · 1 timed out · 1 returned no number" in flat(res.stdout)
    cfg = json.loads((tmp_path / "pal" / "config.json").read_text())
    assert cfg["method"] | {"seed": 0} == {"name": "pal", "prompt": "pal", "max_new_tokens": 512, "seed": 0, "isolation": "bwrap", "timeout_s": 1.0, "memory_mb": 512, "workers": 4}
    assert cfg["preflight"]["sandbox"]["isolation"] == "bwrap" and cfg["preflight"]["sandbox"]["seccomp"] == "on"
    assert "solution()" in cfg["prompts"]["pal"]["user"]
    by_q = {s["question"]: s for s in samples(tmp_path / "pal").values()}
    raised = by_q[PROBLEMS[3][0]]
    g = raised["generations"][0]
    assert g["extra"]["program_status"] == "exception" and g["extra"]["program"] == "def solution():\n    return 60 * 3 / 0"
    assert raised["extra"] == {"program_status": "exception"} and raised["prediction"] is None
    m = json.loads((tmp_path / "pal" / "metrics.json").read_text())
    assert m["programs"]["timed_out"] == 1 and m["programs"]["total"] == 12

    show = cli("show", tmp_path / "pal", "--id", raised["id"])
    assert show.returncode == 0, show.stderr
    assert "return 60 * 3 / 0" in show.stdout and "ZeroDivisionError: division by zero (line 2)" in flat(show.stdout) and "program · exception" in show.stdout

    base = evaluate(tmp_path, gsm8k_file, "greedy", rules([["unused"]] * 12, GOLD_CHAINS), "--method", "greedy", "--limit", 12)
    assert base.returncode == 0, base.stderr
    cmp = cli("compare", tmp_path / "greedy", tmp_path / "pal")
    assert cmp.returncode == 0 and "McNemar" in cmp.stdout and "regressed" in cmp.stdout.lower()
    reg = cli("regressions", tmp_path / "greedy", tmp_path / "pal", "--out", tmp_path / "report")
    assert reg.returncode == 0, reg.stderr
    report = (tmp_path / "report" / "INFERENCE_ANALYSIS.md").read_text()
    assert "| program error | 5 |" in report and "| wrong program | 1 |" in report  # 6 regressions: 5 failed, 1 ran wrong
    assert "the program ran and returned 65 ≠ gold 64" in report and "[error] ZeroDivisionError" in report
    lb = cli("leaderboard", tmp_path / "greedy", tmp_path / "pal", "--baseline", tmp_path / "greedy", "--out", tmp_path / "lb")
    assert lb.returncode == 0, lb.stderr
    assert "| pal | pal " in (tmp_path / "lb" / "LEADERBOARD.md").read_text()

def test_pal_sc_end_to_end(tmp_path: Path, gsm8k_file: Path) -> None:
    wrong = program("def solution():\n    return -1")
    spec = rules([[r, wrong, r] for r in PAL_RESPONSES], GOLD_CHAINS)
    res = evaluate(tmp_path, gsm8k_file, "pal-sc", spec, "--method", "pal-sc", "--n", 3, "--limit", 4, "--option", "timeout_s=1")
    assert res.returncode == 0, res.stderr + res.stdout
    rows = list(samples(tmp_path / "pal-sc").values())
    assert len(rows) == 4 and all(len(r["generations"]) == 3 and r["calls"] == 1 for r in rows)
    for r in rows:
        assert r["extra"]["votes"][0][1] >= 1 and r["extra"]["programs_ok"] >= 1  # the wrong program always runs
    m = json.loads((tmp_path / "pal-sc" / "metrics.json").read_text())
    assert m["programs"]["total"] == 12 and m["samples_per_question"] == 3 and "pass_at_k" in m

def test_hybrid_sc_end_to_end(tmp_path: Path, gsm8k_file: Path) -> None:
    chains = [[f"#### {parse_gold(a)}", "#### 999", f"So #### {parse_gold(a)}"] for _, a in PROBLEMS]
    res = evaluate(tmp_path, gsm8k_file, "hybrid", rules([[r, r] for r in PAL_RESPONSES], chains), "--method", "hybrid-sc", "--limit", 12, "--option", "timeout_s=1")
    assert res.returncode == 0, res.stderr + res.stdout
    # 11/12: on the farm question the two wrong programs (65) tie the two right chains (64), and a tie goes to the program
    assert "accuracy 91.7% (11/12" in res.stdout and "decided by: both 7 · chains 5" in flat(res.stdout)
    cfg = json.loads((tmp_path / "hybrid" / "config.json").read_text())
    assert set(cfg["prompts"]) == {"cot", "pal"} and cfg["method"]["n"] == 3 and cfg["method"]["m"] == 2
    rows = samples(tmp_path / "hybrid").values()
    farm = next(r for r in rows if r["question"] == PROBLEMS[8][0])
    assert farm["prediction"] == "65" and farm["extra"]["votes"] == [["65", 2], ["64", 2], ["999", 1]]
    for r in rows:
        assert r["calls"] == 2 and len(r["generations"]) == 5
        assert set(r["extra"]["votes_by_source"]) == {"program", "chain"}

def test_pal_refuses_without_bubblewrap_unless_weaker_isolation_is_asked_for(tmp_path: Path, gsm8k_file: Path) -> None:
    spec = rules([[r] for r in PAL_RESPONSES], GOLD_CHAINS)
    res = evaluate(tmp_path, gsm8k_file, "refused", spec, "--method", "pal", "--limit", 2, path=str(tmp_path / "empty-bin"))
    assert res.returncode == 2
    message = flat(res.stdout)
    assert "pal refuses to run: bubblewrap (bwrap) is not installed" in message and "apt-get install bubblewrap" in message
    assert "isolation=unsafe-subprocess" in message and not (tmp_path / "refused").exists()
    res = evaluate(tmp_path, gsm8k_file, "unsafe", spec, "--method", "pal", "--limit", 2, "--option", "isolation=unsafe-subprocess", path=str(tmp_path / "empty-bin"))
    assert res.returncode == 0, res.stderr + res.stdout
    cfg = json.loads((tmp_path / "unsafe" / "config.json").read_text())
    assert cfg["method"]["isolation"] == "unsafe-subprocess" and "warning" in cfg["preflight"]["sandbox"]
