"""Analysis on runs produced by the real pipeline: the tiny random Qwen2 through `tinyreason eval`, then
compare / leaderboard / mirage / regressions / show on its run directories."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app

runner = CliRunner()


def _invoke(*args: object):
    res = runner.invoke(app, [str(a) for a in args], catch_exceptions=False, terminal_width=200)
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def tiny_runs(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny import write_gsm8k_jsonl

    root = tmp_path_factory.mktemp("tiny-runs")
    data = write_gsm8k_jsonl(root / "gsm8k.jsonl")
    common = ["eval", "--model", tiny_model, "--data", data, "--dtype", "float32", "--max-new-tokens", "24", "--limit", "8"]
    _invoke(*common, "--out", root / "greedy")
    _invoke(*common, "--method", "sc", "--n", "3", "--temperature", "1.0", "--out", root / "sc")
    return {"greedy": root / "greedy", "sc": root / "sc"}


def test_leaderboard_from_tiny_model_runs(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "results"
    _invoke("leaderboard", tiny_runs["greedy"], tiny_runs["sc"], "--out", out)
    rows = {r["run"]: r for r in csv.DictReader((out / "leaderboard.csv").open())}
    for name, path in tiny_runs.items():
        m = json.loads((path / "metrics.json").read_text())  # written by eval; the leaderboard recomputes
        assert float(rows[name]["accuracy"]) == pytest.approx(m["accuracy"])
        assert float(rows[name]["ci_low"]) == pytest.approx(m["ci95"][0], abs=1e-6)
        assert float(rows[name]["gen_tokens_per_q"]) == pytest.approx(m["generated_tokens_per_question"], abs=0.01)
        assert int(rows[name]["questions"]) == 8
    assert rows["greedy"]["verdict"] == "baseline" and rows["sc"]["label"] == "sc max_tok=24 n=3 T=1.0"
    assert rows["sc"]["verdict"] in ("n.s.", "better", "worse") and "tiny-qwen2" in rows["sc"]["model"]
    md = (out / "LEADERBOARD.md").read_text()
    assert "| greedy | greedy max_tok=24 |" in md and "only 8 questions" in md
    for png in ("leaderboard.png", "pareto.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000


def test_compare_mirage_regressions_show_on_tiny_runs(tiny_runs: dict[str, Path], tmp_path: Path) -> None:
    res = _invoke("compare", tiny_runs["greedy"], tiny_runs["sc"])
    assert "both right" in res.output and "McNemar" in res.output and "DIFFERENT" not in res.output
    res = _invoke("mirage", tiny_runs["greedy"], tiny_runs["sc"])
    assert "paired MDE" in res.output
    out = tmp_path / "r"
    _invoke("regressions", tiny_runs["greedy"], tiny_runs["sc"], "--sample", "5", "--out", out)
    md = (out / "INFERENCE_ANALYSIS.md").read_text()
    assert "## greedy → sc" in md and "| **greedy right** |" in md and (out / "transitions_greedy__sc.png").stat().st_size > 1000
    samples = [json.loads(x) for x in (tiny_runs["sc"] / "samples.jsonl").read_text().splitlines()]
    qid = samples[0]["id"]
    res = _invoke("show", tiny_runs["sc"], "--id", qid)
    assert f"id {qid}" in res.output and res.output.count("sample") >= 3 and "final decision" in res.output
