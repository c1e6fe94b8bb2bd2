"""Every inference-time method end to end through `tinyreason eval` on the tiny random Qwen2 (CPU), and the
verifier audit -> gate -> sc-verifier path through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.answers import parse_gold
from tinyreason.cli import app

runner = CliRunner()


def _eval(model: Path, data: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out), "--dtype", "float32", "--max-new-tokens", "24", *extra]
    return runner.invoke(app, args, catch_exceptions=False)


def _samples(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("method", "extra", "stages", "calls"),
    [
        ("reflect", [], {"answer", "reflect"}, {2}),
        ("sc-reflect", ["--n", "3", "--temperature", "1.0"], {"sample", "reflect"}, {1, 2}),
        ("structured-sc", ["--n", "3", "--temperature", "1.0"], {"sample"}, {1}),
        ("adaptive-sc", ["--option", "max_n=4", "--option", "min_n=2", "--option", "temperature=1.0"], {"sample"}, {1, 2, 3}),
    ],
)
def test_every_method_runs_end_to_end_on_the_tiny_model(tiny_model: Path, gsm8k_file: Path, tmp_path: Path, method: str, extra: list[str], stages: set[str], calls: set[int]) -> None:
    out = tmp_path / method
    res = _eval(tiny_model, gsm8k_file, out, "--method", method, "--limit", "3", *extra)
    assert res.exit_code == 0, res.output
    assert "accuracy" in res.output and "cost" in res.output and "gen tok/q" in res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["method"]["name"] == method and set(cfg["prompts"]) >= {cfg["method"]["prompt"]}
    rows = _samples(out)
    assert len(rows) == 3
    for r in rows:
        assert {g["stage"] for g in r["generations"]} <= stages and r["calls"] in calls
        assert r["generated_tokens"] == sum(g["n_tokens"] for g in r["generations"]) > 0
        assert r["prompt_tokens"] > 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["total"] == 3 and m["calls_per_question"] == sum(r["calls"] for r in rows) / 3
    if method != "reflect":
        assert "pass_at_k" in m and "samples_per_question" in m
    if method in ("reflect", "sc-reflect"):
        assert "revision" in m
    if method == "structured-sc":
        assert cfg["method"]["prompt"] == "structured" and m["format_ok"]["completions"] == 9
    if method == "adaptive-sc":
        assert sum(m["stop_reasons"].values()) == 3 and 2 <= m["samples_per_question"] <= 4


def _scripted_run(tmp_path: Path, data: Path) -> Path:
    """An sc run whose chains are half right, half wrong (scripted backend: each question's gold, then 999)."""
    rules = [{"match": json.loads(line)["question"], "responses": [f"So #### {parse_gold(json.loads(line)['answer'])}", "So #### 999"]}
             for line in data.read_text().splitlines()]
    (tmp_path / "rules.json").write_text(json.dumps(rules))
    out = tmp_path / "source"
    res = runner.invoke(app, ["eval", "--backend", "scripted", "--model", str(tmp_path / "rules.json"), "--data", str(data), "--out", str(out),
                              "--method", "sc", "--n", "2", "--limit", "12"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def test_audit_then_gate_then_sc_verifier_through_the_cli(tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    source = _scripted_run(tmp_path, gsm8k_file)
    audits = tmp_path / "audits"
    common = ["--model", str(tiny_model), "--backend", "hf", "--dtype", "float32", "--audit-dir", str(audits)]
    res = runner.invoke(app, ["audit-verifier", "--run", str(source), "--size", "16", "--max-new-tokens", "8", *common], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    (path,) = audits.glob("*.json")
    audit = json.loads(path.read_text())
    assert audit["total"] == 16 and sum(it["label"] for it in audit["items"]) == 8  # balanced
    assert audit["prompt"]["name"] == "verify" and audit["backend"]["model"] == str(tiny_model)
    assert sum(sum(row.values()) for row in audit["confusion"].values()) == 16
    assert 0 <= audit["unparseable_rate"] <= 1 and "verifier accuracy" in res.output and path.name in res.output.replace("\n", "")
    # a random model is no verifier: the default gate refuses (unless it got lucky), a zero gate lets it run
    sc = ["--method", "sc-verifier", "--n", "2", "--temperature", "1.0", "--limit", "2", "--option", f"audit_dir={audits}"]
    if not audit["passed"]:
        res = _eval(tiny_model, gsm8k_file, tmp_path / "refused", *sc)
        assert res.exit_code == 2 and "refuses to run" in res.output and not (tmp_path / "refused").exists()
    res = _eval(tiny_model, gsm8k_file, tmp_path / "gated", *sc, "--option", "gate=0.0")
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "gated" / "config.json").read_text())["preflight"]["audit_file"] == str(path)
    res = _eval(tiny_model, gsm8k_file, tmp_path / "forced", *sc, "--option", "gate=1.0", "--force")
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "forced" / "config.json").read_text())
    assert cfg["method"]["force"] is True and cfg["preflight"]["forced"] is True
    m = json.loads((tmp_path / "forced" / "metrics.json").read_text())
    assert sum(m.get("verdicts", {}).values()) == sum(g["stage"] == "verify" for r in _samples(tmp_path / "forced") for g in r["generations"])


def test_force_is_refused_by_methods_without_a_gate(tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    res = _eval(tiny_model, gsm8k_file, tmp_path / "g", "--force")
    assert res.exit_code == 2 and "force" in res.output


def test_methods_command_lists_every_method() -> None:
    res = runner.invoke(app, ["methods"])
    assert res.exit_code == 0
    for name in ("greedy", "sc", "reflect", "sc-reflect", "structured-sc", "sc-verifier", "adaptive-sc"):
        assert f"{name} —" in res.output
