"""The memorization audit on the tiny random Qwen2: k=2 short examples trained long enough come back token
for token (and the audit says so); one epoch does not (and the audit says that, with where it diverges).
Then `inspect-memorization` and `report overfit` render both runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def audits(tiny_model_wide_init: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny import write_gsm8k_jsonl

    root = tmp_path_factory.mktemp("mem")
    data = write_gsm8k_jsonl(root / "train.jsonl")
    runs = root / "runs"
    common = ["memorize", "--model", str(tiny_model_wide_init), "--data", str(data), "--k", "2", "--lr", "2e-2", "--batch-size", "2",
              "--lora-r", "8", "--lora-alpha", "16", "--dtype", "float32", "--max-new-tokens", "24"]
    for epochs in ("20", "1"):  # 20 optimizer steps at LR 2e-2 fit both examples; 1 step fits nothing
        res = runner.invoke(app, [*common, "--epochs", epochs, "--out", str(runs / f"2_{epochs}ep")])
        assert res.exit_code == 0, res.output
    return runs


def _record(runs: Path, name: str) -> dict:
    return json.loads((runs / name / "memorization.json").read_text())


def test_trained_long_enough_the_chains_come_back_exactly(audits: Path) -> None:
    r = _record(audits, "2_20ep")
    s = r["summary"]
    assert s["verdict"] == "memorized" and s["exact"] == s["passed"] == s["k"] == 2
    assert r["optimizer_steps"] == 20 and r["final_train_loss"] < 0.2 and s["mean_nll"] < 0.2
    for e in r["examples"]:
        assert e["generated"] == e["target"] and e["divergence"] is None and e["pass"] and e["finish_reason"] == "stop"
        assert e["target"].endswith(f"#### {e['gold']}")
    report = json.loads((audits / "2_20ep" / "train_report.json").read_text())
    assert report["ok"] and r["backend"]["adapter"] == str((audits / "2_20ep").resolve())


def test_under_trained_the_audit_reports_no_memorization_and_where_it_diverges(audits: Path) -> None:
    r = _record(audits, "2_1ep")
    s = r["summary"]
    assert s["verdict"] == "not memorized" and s["exact"] == 0 and r["optimizer_steps"] == 1
    assert s["mean_nll"] > 1.0 and r["final_train_loss"] > 1.0
    for e in r["examples"]:
        d = e["divergence"]
        assert e["generated"] != e["target"] and d is not None and d["index"] >= 0 and d["expected"] != d["generated"]


def test_inspect_memorization_prints_the_table_and_raw_generations(audits: Path) -> None:
    res = runner.invoke(app, ["inspect-memorization", "--experiment-id", "2_1ep", "--runs-dir", str(audits), "--print-raw"])
    assert res.exit_code == 0, res.output
    for word in ("Example", "Expected", "Generated", "Match", "not memorized", "expected (training target)", "generated ("):
        assert word in res.output
    target = _record(audits, "2_1ep")["examples"][0]["target"].splitlines()[0]
    assert target in res.output
    res = runner.invoke(app, ["inspect-memorization", "--experiment-id", "nope", "--runs-dir", str(audits)])
    assert res.exit_code == 2 and "no memorization audit" in " ".join(res.output.split())


def test_report_overfit_renders_every_run(audits: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["report", "overfit", str(audits), "--out", str(tmp_path / "results")])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "results" / "OVERFIT_REPORT.md").read_text()
    assert "| 2_20ep |" in md and "| 2_1ep |" in md and "memorized" in md and "not memorized" in md
    assert "| 2/2 | 2/2 | memorized | prompt_parity ok, adapter_active ok, loss_curve ok |" in md
    assert "## 2_1ep" in md and "token " in md  # per-example divergence of the under-trained run
    losses = json.loads((audits / "2_20ep" / "loss.json").read_text())
    last_epoch = [p["loss"] for p in losses if p["epoch"] > 19]  # 2 examples, batch 2: one step per epoch
    assert len(last_epoch) == 1 and f"| 0.02 | {last_epoch[0]:.4f} ({_record(audits, '2_20ep')['final_train_loss']:.4f}) |" in md
    assert "- 2_20ep: 2 exact chain(s) at NLL ≤" in md and "missed" not in md.split("- 2_20ep:")[1].splitlines()[0]
    assert "- 2_1ep: no exact chain; 2 missed at NLL" in md  # where the misses sit tells under-fit from exposure bias
    res = runner.invoke(app, ["report", "overfit", str(tmp_path / "empty"), "--out", str(tmp_path)])
    assert res.exit_code == 2
