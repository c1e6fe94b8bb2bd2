"""Analysis commands on hand-made run directories: compare, leaderboard, mirage, regressions, show."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from runfab import generation, make_run, sample, simple_samples
from typer.testing import CliRunner

from tinyreason.analysis.loading import AnalysisError, align, load_run
from tinyreason.analysis.mirage import pair_mirage, run_mirage
from tinyreason.analysis.paired import transitions
from tinyreason.cli import app
from tinyreason.stats import mcnemar_exact, wilson_interval

runner = CliRunner()
IDS = list(range(300))


def _cli(*args: str):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def flat(text: str) -> str:
    return " ".join(text.split())


def is_png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


@pytest.fixture()
def runs(tmp_path: Path) -> dict[str, Path]:
    """greedy 40%; sc +10 pp (30 fixed, 0 regressed); mirage: +6 pp on the first 100, -4 pp on all 300;
    noisy: +2 pp overall, not significant."""
    base = {i for i in IDS if i % 5 < 2}
    # mirage: on the first 100, 8 fixed and 2 regressed (+6 pp); on the rest 4 fixed and 22 regressed
    fixed = [i for i in IDS if i % 5 == 2][:8] + [i for i in IDS[100:] if i % 5 == 2][:4]
    regressed = [i for i in IDS if i % 5 == 0][:2] + [i for i in IDS[100:] if i % 5 == 0][:22]
    mirage = (base | set(fixed)) - set(regressed)
    noisy = (base | {i for i in IDS if i % 20 == 3}) - set([i for i in IDS if i % 20 == 0][:9])  # 15 fixed, 9 regressed
    return {
        "greedy": make_run(tmp_path / "greedy", simple_samples(IDS, base, tokens=200)),
        "sc": make_run(tmp_path / "sc", simple_samples(IDS, base | {i for i in IDS if i % 10 == 2}, tokens=1000, stage="sample"),
                       method="sc", options={"n": 5, "temperature": 0.7}),  # fmt: skip
        "mirage": make_run(tmp_path / "mirage", simple_samples(IDS, mirage, tokens=900), method="structured-sc", options={"n": 5, "temperature": 0.7}),
        "noisy": make_run(tmp_path / "noisy", simple_samples(IDS, noisy, tokens=250), method="reflect"),
    }


def test_transitions_and_compare_cli(runs: dict[str, Path]) -> None:
    pair = align(load_run(runs["greedy"]), load_run(runs["mirage"]))
    t = transitions(pair)
    assert (t.both_right, t.fixed, t.regressed, t.both_wrong) == (96, 12, 24, 168) and t.n == 300
    assert t.p_value == pytest.approx(mcnemar_exact(12, 24)) and t.delta == pytest.approx(-0.04)
    res = _cli("compare", runs["greedy"], runs["mirage"])
    assert res.exit_code == 0, res.output
    assert "12 fixed" in res.output and "24 regressed" in res.output and "96 both right" in res.output
    assert f"p = {mcnemar_exact(12, 24):.4g}" in res.output and "n.s." in res.output
    assert "fixed ids: " + ", ".join(map(str, t.fixed_ids[:3])) in res.output.replace("\n", " ")


def test_compare_different_question_sets_uses_the_intersection_loudly(tmp_path: Path, runs: dict[str, Path]) -> None:
    part = make_run(tmp_path / "part", simple_samples(IDS[50:350], set(IDS[50:350])))
    res = _cli("compare", runs["greedy"], part)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "DIFFERENT QUESTION SETS" in out and "only the 250 shared questions" in out and "250 questions" in out


def test_compare_different_gold_is_an_error(tmp_path: Path, runs: dict[str, Path]) -> None:
    rows = simple_samples(IDS, set())
    rows[7]["gold"] = "999"
    other = make_run(tmp_path / "other-data", rows, fingerprint="fp1")
    res = _cli("compare", runs["greedy"], other)
    assert res.exit_code == 2 and "disagree on the gold answer" in res.output and "id 7" in res.output
    with pytest.raises(AnalysisError):
        align(load_run(runs["greedy"]), load_run(other))


def test_mirage_uses_subset_order_not_file_order(tmp_path: Path) -> None:
    order = list(reversed(IDS))  # the first 100 in subset order are ids 299..200, all right
    run = load_run(make_run(tmp_path / "r", simple_samples(IDS, set(IDS[200:])), order=order, shuffle_seed=3))
    m = run_mirage(run)
    assert (m.k, m.correct_first, m.correct_all, m.n) == (100, 100, 100, 300)
    assert "first 100 questions 100.0% (100/100) vs all 300 33.3% (100/300)" in m.lines()[0]


def test_mirage_pair_flags_a_100_question_gain(runs: dict[str, Path]) -> None:
    pm = pair_mirage(align(load_run(runs["greedy"]), load_run(runs["mirage"])))
    assert pm.first.delta == pytest.approx(0.06) and pm.all.delta == pytest.approx(-0.04)
    text = "\n".join(pm.lines())
    assert "at n=100 a +6 pp gain is indistinguishable from noise" in text
    assert "the sign flips" in text
    res = _cli("mirage", runs["greedy"], runs["mirage"])
    assert res.exit_code == 0 and "indistinguishable from noise" in " ".join(res.output.split())


def test_leaderboard_content(tmp_path: Path, runs: dict[str, Path]) -> None:
    out = tmp_path / "results"
    res = _cli("leaderboard", runs["noisy"], runs["mirage"], runs["sc"], "--baseline", runs["greedy"], "--out", out)
    assert res.exit_code == 0, res.output
    md = (out / "LEADERBOARD.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| run")]
    assert [line.split("|")[1].strip() for line in table] == ["sc", "greedy", "noisy", "mirage"]  # better, baseline, n.s., n.s.
    noisy = next(line for line in table if line.startswith("| noisy"))
    assert "n.s. (not a win)" in noisy and "reflect" in noisy
    assert "| sc n=5 T=0.7 |" in md and "**better**" in md and "fake-0.5b" in md
    assert "at n=100 a +6 pp gain is indistinguishable from noise" in md and "![accuracy](leaderboard.png)" in md
    rows = {r["run"]: r for r in csv.DictReader((out / "leaderboard.csv").open())}
    assert set(rows) == {"greedy", "sc", "mirage", "noisy"}
    lo, hi = wilson_interval(120, 300)
    assert float(rows["greedy"]["accuracy"]) == pytest.approx(0.4) and float(rows["greedy"]["ci_low"]) == pytest.approx(lo, abs=1e-6)
    assert float(rows["greedy"]["ci_high"]) == pytest.approx(hi, abs=1e-6) and rows["greedy"]["verdict"] == "baseline"
    assert float(rows["sc"]["mcnemar_p"]) == pytest.approx(mcnemar_exact(30, 0), rel=1e-5) and rows["sc"]["verdict"] == "better"
    assert float(rows["sc"]["delta_vs_baseline"]) == pytest.approx(0.1) and float(rows["sc"]["gen_tokens_per_q"]) == 1000
    assert rows["mirage"]["verdict"] == "n.s." and float(rows["mirage"]["mcnemar_p"]) == pytest.approx(mcnemar_exact(12, 24), rel=1e-5)
    for png in ("leaderboard.png", "pareto.png"):
        assert is_png(out / png)


def test_regressions_report(tmp_path: Path) -> None:
    q_hours = "Tom walks 45 minutes there and 45 minutes back. How many hours does he walk?"
    base_rows = [
        sample(1, "27", [generation("12 + 15 = 27\n#### 27")]),
        sample(2, "1.5", [generation("90 minutes is 1.5 hours\n#### 1.5")], question=q_hours),
        sample(3, "80", [generation("#### 80")]),
        sample(4, "5", [generation("#### 5")]),
        sample(5, "10", [generation("#### 9")]),  # both wrong
        sample(6, "11", [generation("#### 3")]),  # fixed
    ]
    other_rows = [
        sample(1, "27", [generation("12 + 15 = 28\n#### 28", "sample")] * 2),
        sample(2, "1.5", [generation("45 + 45 = 90 minutes\n#### 90", "sample")], question=q_hours),
        sample(3, "80", [generation("420 - 300 = 120\n#### 120", "sample")]),
        sample(4, "5", [generation("I do not know", "sample")], prediction=None),
        sample(5, "10", [generation("#### 8", "sample")]),
        sample(6, "11", [generation("#### 11", "sample")]),
    ]
    base = make_run(tmp_path / "greedy", base_rows)
    other = make_run(tmp_path / "sc", other_rows, method="sc", options={"n": 2, "temperature": 0.7})
    out = tmp_path / "results"
    res = _cli("regressions", base, other, "--sample", "50", "--seed", "1", "--out", out)
    assert res.exit_code == 0, res.output
    md = (out / "INFERENCE_ANALYSIS.md").read_text()
    for cls in ("arithmetic error", "unit confusion", "relationship misunderstanding", "other"):
        assert f"| {cls} | 1 | 25.0% |" in md
    assert "### id 1 — arithmetic error" in md and "### id 2 — unit confusion" in md and "### id 4 — other" in md
    assert "| **greedy right** | 0 (both right) | 4 (regressed) |" in md and "| **greedy wrong** | 1 (fixed) | 1 (both wrong) |" in md
    assert "<table><tr><th>greedy (answer, right)</th><th>sc (sample, judged)</th>" in md
    assert "12 + 15 = 28" in md and "Regressed (4): 1, 2, 3, 4" in md and "Fixed (1): 6" in md
    assert md.count(" | 5 → 2 |") == 1  # answers from short chains without a computation: base 2-6, sc 5-6 (not id 4's "I do not know")
    assert is_png(out / "transitions_greedy__sc.png")
    # sampling k is seeded and a subset, reported in base order
    res = _cli("regressions", base, other, "--sample", "2", "--seed", "1", "--out", tmp_path / "r2")
    first = (tmp_path / "r2" / "INFERENCE_ANALYSIS.md").read_text()
    _cli("regressions", base, other, "--sample", "2", "--seed", "1", "--out", tmp_path / "r3")
    assert first == (tmp_path / "r3" / "INFERENCE_ANALYSIS.md").read_text() and first.count("### id ") == 2
    # optional LLM judge through any backend (scripted here): shown next to the rules' class
    rules = tmp_path / "judge.json"
    rules.write_text('[{"match": "Student", "responses": ["UNIT"]}]')
    res = _cli("regressions", base, other, "--out", tmp_path / "j", "--judge-backend", "scripted", "--judge-model", rules)
    assert res.exit_code == 0, res.output
    md = (tmp_path / "j" / "INFERENCE_ANALYSIS.md").read_text()
    assert "### id 2 — unit confusion (LLM judge: unit)" in md and "### id 3 — relationship misunderstanding (LLM judge: unit)" in md
    assert "on the 2 relationship/unit cases: agrees with the rules on 1, unparseable 0" in md


def test_show_prints_every_completion_and_the_decision(tmp_path: Path) -> None:
    gens = [generation("2 * 9 = 18\n#### 18", "sample"), generation("#### 20", "sample"), generation("Step\n#### 18", "sample", finish="length")]
    run = make_run(tmp_path / "sc", [sample(42, "18", gens, prediction="18", votes=[["18", 2], ["20", 1]])], method="sc")
    res = runner.invoke(app, ["show", str(run), "--id", "42"], terminal_width=200)
    assert res.exit_code == 0, res.output
    out = res.output
    assert "Question number 42" in out and "gold: 18" in out and out.count("sample") >= 6
    assert "length" in out and "final decision: 18" in out and "RIGHT" in out and '"votes"' in out and "2 * 9 = 18" in out
    res = _cli("show", run, "--id", "7")
    assert res.exit_code == 2 and "no question with id 7" in flat(res.output)


def test_not_a_run_directory_is_an_actionable_error(tmp_path: Path) -> None:
    res = _cli("leaderboard", tmp_path, "--out", tmp_path / "o")
    assert res.exit_code == 2 and "not a run directory" in flat(res.output)
