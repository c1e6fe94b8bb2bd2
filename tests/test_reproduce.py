"""`tinyreason reproduce` end to end: recipes/smoke.yaml (every experiment kind) on the tiny random Qwen2.

One story, in order, on one run root:
1. greedy alone (--only), then cut back to 2 of its 6 questions plus a torn line: an interrupted run;
2. the dry run sees it as "partial 2 of 6" and prices the rest from its own samples;
3. the whole recipe with a train file that does not exist: the training experiments fail, what needs them is
   blocked, everything else runs (greedy resumes, keeping its 2 questions), the pages render, exit code 1;
4. the same command with the right file: what failed runs, what is done is left alone, every page renders;
5. --pages-only regenerates the leaderboard from the run directories alone, identically.

And, on the scripted backend (seconds): an optional row whose method is not registered is skipped with what
needs it, a failing row blocks only what needs it, and the exit code says something failed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.answers import parse_gold
from tinyreason.cli import app
from tiny import PROBLEMS

SMOKE = Path(__file__).resolve().parent.parent / "recipes" / "smoke.yaml"
runner = CliRunner()
INFERENCE = ["greedy", "sc", "reflect", "sc-reflect", "structured-sc", "adaptive-sc", "sc-scripted", "sc-verifier"]
TRAINING = ["sft", "distill", "memorize-2x2"]
NEEDS_TRAINING = ["sft-eval", "sft-distill", "distill-eval"]


def trace(answer: str) -> str:
    return f"Facts:\n- the numbers\nRelationships: combine them.\nCalculations:\n1. it gives {answer}\nVerification: checked.\nAnswer: #### {answer}"


@pytest.fixture()
def smoke(tiny_model: Path, gsm8k_file: Path, tmp_path: Path):
    """A function running the smoke recipe with extra arguments; (exit code, output)."""
    rules = tmp_path / "rules.json"  # per question: a right structured trace, then a wrong one
    rules.write_text(json.dumps([{"match": q, "responses": [trace(parse_gold(a)), trace("999")]} for q, a in PROBLEMS]))
    base = ["reproduce", "--recipe", str(SMOKE), "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"), "--no-progress",
            "--var", f"model={tiny_model}", "--var", f"test_data={gsm8k_file}", "--var", f"scripted_rules={rules}"]

    def run(*extra: str, train_data: Path = gsm8k_file) -> tuple[int, str]:
        res = runner.invoke(app, [*base, "--var", f"train_data={train_data}", *extra], catch_exceptions=False, env={"COLUMNS": "300"})
        return res.exit_code, res.output

    return run


def cells(output: str, name: str) -> list[str]:
    """The cells of the first table row whose first cell is `name`."""
    for line in output.splitlines():
        row = [c.strip() for c in line.split("│")][1:-1]
        if row and row[0] == name:
            return row
    raise AssertionError(f"no row {name} in:\n{output}")


def results_of(output: str, table: str = "experiments") -> dict[str, str]:
    """experiment -> result, from the summary table."""
    rows = {}
    for line in output.split(f"\n{table}\n", 1)[1].split("\npages\n", 1)[0].splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1] and cells[1] not in ("experiment", "page"):
            rows[cells[1]] = cells[3] if table == "experiments" else cells[2]
    return rows


def test_the_smoke_recipe_end_to_end_with_a_resume_and_a_failure(smoke, tmp_path: Path) -> None:
    runs, pages = tmp_path / "runs", tmp_path / "results"
    code, out = smoke("--only", "greedy")
    assert code == 0, out
    samples = (runs / "greedy" / "samples.jsonl").read_text().splitlines()
    assert len(samples) == 6 and results_of(out) == {"protocol": "ran", "greedy": "ran"}  # greedy waited for the protocol's choice
    choice = json.loads((runs / "protocol" / "choice.json").read_text())
    assert choice["chosen"] == "cot" and json.loads((runs / "greedy" / "config.json").read_text())["method"]["prompt"] == "cot"
    assert sorted(p.name for p in (runs / "protocol").iterdir()) == ["choice.json", "cot", "qwen-boxed"]
    kept = samples[:2]
    interrupted = "\n".join(kept) + "\n" + samples[2][:40]  # killed mid-write
    (runs / "greedy" / "samples.jsonl").write_text(interrupted)
    (runs / "greedy" / "metrics.json").unlink()
    with (runs / "reproduce.log").open("a") as fh:  # the log of the sitting that was killed (100 s)
        fh.write("2020-01-01T00:00:00+00:00 start greedy (eval): missing\n2020-01-01T00:01:40+00:00 interrupted greedy; the same command resumes it\n")

    code, out = smoke("--dry-run")
    assert code == 0, out
    mean = sum(json.loads(s)["generated_tokens"] for s in kept) / 2
    assert cells(out, "greedy")[3] == "partial 2 of 6"
    assert re.fullmatch(rf"≈ {4 * mean:.0f} tok: 4 q × 1 completions × {mean:.0f} tok; \d+ s at \d+ tok/s \(its own so far\)", cells(out, "greedy")[4])
    assert cells(out, "sc-verifier")[1:4] == ["eval", "verifier-audit", "missing"]
    assert not (runs / "sc").exists() and (runs / "greedy" / "samples.jsonl").read_text() == interrupted  # a dry run touches nothing

    code, out = smoke(train_data=tmp_path / "no-such-train.jsonl")
    assert code == 1, out
    got = results_of(out)
    assert got["greedy"] == "resumed" and all(got[n] == "ran" for n in INFERENCE[1:] + ["verifier-audit"]), got
    assert all(got[n] == "failed" for n in TRAINING) and all(got[n] == "blocked" for n in NEEDS_TRAINING), got
    assert "no-such-train.jsonl" in out and "Traceback" in (runs / "reproduce.log").read_text()
    resumed = (runs / "greedy" / "samples.jsonl").read_text().splitlines()
    whole = re.search(r"finished greedy in (\d+) s \((\d+) s over 2 sittings\)", (runs / "reproduce.log").read_text())
    assert whole and int(whole[2]) >= 100 + int(whole[1]) - 1  # the killed sitting's 100 s and this one's
    assert resumed[:2] == kept and len(resumed) == 6 and len({json.loads(s)["id"] for s in resumed}) == 6
    assert results_of(out, "pages") == {"LEADERBOARD.md": "written", "INFERENCE_ANALYSIS.md": "written", "PROTOCOL.md": "written",
                                        "site/index.html": "written", "OVERFIT_REPORT.md": "skipped"}

    before = {n: (runs / n / "samples.jsonl").read_bytes() for n in INFERENCE}
    code, out = smoke()
    assert code == 0, out
    got = results_of(out)
    assert all(got[n] == "done" for n in INFERENCE + ["verifier-audit", "protocol"]), got
    assert all(got[n] == "ran" for n in TRAINING + NEEDS_TRAINING), got
    assert before == {n: (runs / n / "samples.jsonl").read_bytes() for n in INFERENCE}  # done runs are left alone
    assert results_of(out, "pages") == {"LEADERBOARD.md": "written", "INFERENCE_ANALYSIS.md": "written", "PROTOCOL.md": "written",
                                        "site/index.html": "written", "OVERFIT_REPORT.md": "written"}
    assert (pages / "site" / "run-greedy.html").is_file() and (pages / "site" / "training.html").is_file()
    protocol_page = (pages / "PROTOCOL.md").read_text()
    assert "**Chosen: `cot`**" in protocol_page and "| `qwen-boxed` |" in protocol_page and "Please reason step by step" in protocol_page
    checked = next(line for line in protocol_page.splitlines() if line.startswith("Checked against the training runs"))
    assert "`sft` (examples: 4)" in checked and "`distill` (asked: 4)" in checked and "**none holds a dev question**" in checked
    board = (pages / "LEADERBOARD.md").read_text()
    for name in INFERENCE + ["sft-eval", "distill-eval"]:
        assert f"| {name} |" in board
    assert "Baseline: **greedy**" in board and (pages / "leaderboard.csv").is_file() and (pages / "pareto.png").is_file()
    assert "## greedy → sft-eval" in (pages / "INFERENCE_ANALYSIS.md").read_text()
    assert "| memorize-2x2 |" in (pages / "OVERFIT_REPORT.md").read_text()
    assert json.loads((runs / "sft-eval" / "config.json").read_text())["backend"]["adapter"] == str((runs / "sft").resolve())
    assert len((runs / "distill" / "traces.jsonl").read_text().splitlines()) == 4

    (pages / "LEADERBOARD.md").unlink()
    code, out = smoke("--pages-only")
    assert code == 0, out
    assert (pages / "LEADERBOARD.md").read_text() == board


LOOP = """\
vars: {rules: null, data: null}
runs: RUNS
results: PAGES
baseline: greedy
defaults:
  eval: {model: "${rules}", backend: scripted, data: "${data}", limit: 4}
experiments:
  - {name: greedy, kind: eval, config: {method: greedy}}
  - {name: broken, kind: eval, config: {method: greedy, data: "${data}.missing"}}
  - {name: after-broken, kind: eval, needs: [broken], config: {method: sc, method_options: {n: 2}}}
  - {name: someday, kind: eval, optional: true, config: {method: not-yet-a-method}}
  - {name: after-someday, kind: eval, needs: [someday], config: {method: reflect}}
  - {name: sc, kind: eval, config: {method: sc, method_options: {n: 2}}}
"""


def test_the_loop_skips_what_is_unavailable_and_runs_past_a_failure(gsm8k_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": q, "responses": [f"So #### {parse_gold(a)}", "So #### 999"]} for q, a in PROBLEMS]))
    recipe = tmp_path / "loop.yaml"
    recipe.write_text(LOOP.replace("RUNS", str(tmp_path / "runs")).replace("PAGES", str(tmp_path / "pages")))
    args = ["reproduce", "--recipe", str(recipe), "--var", f"rules={rules}", "--var", f"data={gsm8k_file}", "--no-progress"]
    res = runner.invoke(app, args, catch_exceptions=False, env={"COLUMNS": "300"})
    assert res.exit_code == 1, res.output
    assert results_of(res.output) == {"greedy": "ran", "broken": "failed", "after-broken": "blocked", "someday": "skipped",
                                      "after-someday": "skipped", "sc": "ran"}
    assert "DataError" in cells(res.output, "broken")[3] and "gsm8k.jsonl.missing" in cells(res.output, "broken")[3]
    assert cells(res.output, "someday")[3].startswith("not available: method 'not-yet-a-method' is not registered")
    assert results_of(res.output, "pages") == {"LEADERBOARD.md": "written", "INFERENCE_ANALYSIS.md": "written", "site/index.html": "written",
                                               "OVERFIT_REPORT.md": "skipped"}
    assert "| sc |" in (tmp_path / "pages" / "LEADERBOARD.md").read_text()
    res = runner.invoke(app, [*args, "--only", "sc,greedy"], catch_exceptions=False, env={"COLUMNS": "300"})
    assert res.exit_code == 0 and results_of(res.output) == {"greedy": "done", "sc": "done"}, res.output


def test_sittings_time_a_resumed_run_from_the_log() -> None:
    from tinyreason.reproduce import sittings

    log = "\n".join([
        "2026-01-01T00:00:00+00:00 start a (eval): missing",
        "2026-01-01T00:10:00+00:00 finished a in 600 s: done",             # an earlier, finished run of a: not this one
        "2026-01-01T01:00:00+00:00 start a (eval): missing",
        "2026-01-01T01:00:05+00:00 start a-eval (eval): missing",           # another experiment whose name starts the same
        "2026-01-01T01:01:40+00:00 interrupted a; the same command resumes it",
        "2026-01-01T02:00:00+00:00 start a (eval): partial 3 of 10",
        "2026-01-01T02:00:50+00:00 FAILED a:\nTraceback (most recent call last):\n  boom",
        "2026-01-01T03:00:00+00:00 start a (eval): partial 5 of 10",
    ])
    assert sittings(log, "a", "2026-01-01T03:05:00+00:00") == (100 + 50 + 300, 3, True)
    assert sittings(log, "a-eval", "2026-01-01T01:02:05+00:00") == (120, 1, True)
    killed = log + "\n2026-01-01T04:00:00+00:00 start a (eval): partial 6 of 10"  # the 03:00 sitting ended by kill -9: no end line
    assert sittings(killed, "a", "2026-01-01T04:00:30+00:00") == (30 + 100 + 50, 4, False)


def test_a_protocol_grown_by_prefix_records_its_earlier_look(smoke, tmp_path: Path) -> None:
    runs, pages = tmp_path / "runs", tmp_path / "results"
    code, out = smoke("--only", "protocol")
    assert code == 0, out
    first = json.loads((runs / "protocol" / "choice.json").read_text())
    assert first["dev_n"] == 2 and first["earlier_looks"] == []
    code, out = smoke("--only", "protocol", "--set", "protocol.dev_n=3", "--dry-run")
    assert code == 0 and cells(out, "protocol")[3].startswith("partial"), out  # the choice at 2 is not a choice at 3
    code, out = smoke("--only", "protocol", "--set", "protocol.dev_n=3")
    assert code == 0, out
    grown = json.loads((runs / "protocol" / "choice.json").read_text())
    assert grown["dev_n"] == 3 and [lk["dev_n"] for lk in grown["earlier_looks"]] == [2]
    assert grown["earlier_looks"][0]["best"] == first["best"] and grown["earlier_looks"][0]["chosen"] == first["chosen"]
    assert all(len((runs / "protocol" / c / "samples.jsonl").read_text().splitlines()) == 3 for c in ("cot", "qwen-boxed"))
    page = (pages / "PROTOCOL.md").read_text()
    assert "**Look 2 at this comparison**" in page and "n = 2, 3" in page
