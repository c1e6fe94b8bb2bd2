"""Growing a run: a rerun into the same --out with a larger --limit (same seed, all else equal) adds the
missing questions; shrinking or changing anything else is refused, and refused before the model loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.backends.hf import HFBackend
from tinyreason.cli import app
from tinyreason.runs import RunDir, RunMismatch

runner = CliRunner()


def _config(limit: int, ids: list[int], seed: int = 42, max_new_tokens: int = 512) -> dict:
    return {"kind": "eval", "method": {"name": "greedy", "max_new_tokens": max_new_tokens},
            "subset": {"limit": limit, "seed": seed, "ids": ids}, "created": "t0"}


def test_a_larger_limit_grows_the_stored_subset(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, _config(3, [5, 1, 7]))
    run.append([{"id": 5, "correct": True}])
    run.write_metrics({"total": 3})
    RunDir.open(tmp_path, {**_config(5, [5, 1, 7, 0, 2]), "created": "t1"})
    cfg = run.config()
    assert cfg["subset"] == {"limit": 5, "seed": 42, "ids": [5, 1, 7, 0, 2]} and cfg["created"] == "t0"
    assert [(e["from_limit"], e["to_limit"]) for e in cfg["extended"]] == [(3, 5)]
    assert not run.metrics_path.exists()  # the run is unfinished again: no stale 3-question metrics
    assert [s["id"] for s in run.samples()] == [5]  # finished questions are kept
    RunDir.open(tmp_path, _config(5, [5, 1, 7, 0, 2]))  # the grown run reopens as itself


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_config(2, [5, 1]), "--limit 2 is smaller than this run's 3"),
        (_config(5, [9, 8, 7, 6, 5], seed=1), "subset.seed"),
        (_config(5, [5, 1, 7, 0, 2], max_new_tokens=256), "method.max_new_tokens"),
        (_config(5, [5, 0, 1, 7, 2]), "subset.ids"),  # not an extension of the stored order
    ],
)
def test_shrinking_or_changing_anything_else_is_refused(config: dict, message: str, tmp_path: Path) -> None:
    RunDir.open(tmp_path, _config(3, [5, 1, 7]))
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(RunMismatch, match=message):
        RunDir.open(tmp_path, config)
    assert (tmp_path / "config.json").read_text() == before


def _eval(model: Path, data: Path, out: Path, *flags: str) -> object:
    defaults = {"--dtype": "float32", "--max-new-tokens": "8", "--limit": "2"}
    for flag, value in zip(flags[::2], flags[1::2]):
        defaults[flag] = value
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out), *[x for kv in defaults.items() for x in kv]]
    return runner.invoke(app, args, catch_exceptions=False)


def test_rerun_with_a_larger_limit_adds_the_missing_questions(tiny_model: Path, gsm8k_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _eval(tiny_model, gsm8k_file, out, "--limit", "2").exit_code == 0
    first = (out / "samples.jsonl").read_text()
    res = _eval(tiny_model, gsm8k_file, out, "--limit", "5")
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    ids = [json.loads(line)["id"] for line in (out / "samples.jsonl").read_text().splitlines()]
    assert cfg["subset"]["limit"] == 5 and len(cfg["subset"]["ids"]) == 5 and sorted(ids) == sorted(cfg["subset"]["ids"])
    assert (out / "samples.jsonl").read_text().startswith(first)  # the first two were not asked again
    assert json.loads((out / "metrics.json").read_text())["total"] == 5
    res = _eval(tiny_model, gsm8k_file, out, "--limit", "3")
    assert res.exit_code == 2 and "--limit 3 is smaller than this run's 5" in " ".join(res.output.split())


@pytest.mark.parametrize(
    ("flags", "field"),
    [
        (["--max-new-tokens", "9"], "method.max_new_tokens"),
        (["--dtype", "bfloat16"], "backend.dtype"),
        (["--seed", "7"], "subset.seed"),
        (["--limit", "1"], "smaller"),
    ],
)
def test_a_mismatching_rerun_is_refused_before_the_model_loads(flags: list[str], field: str, tiny_model: Path, gsm8k_file: Path,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    assert _eval(tiny_model, gsm8k_file, out).exit_code == 0

    def load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the rerun was refused")

    monkeypatch.setattr(HFBackend, "__init__", load)
    res = _eval(tiny_model, gsm8k_file, out, *flags)
    assert res.exit_code == 2 and "belongs to a different run" in res.output and field in res.output, res.output
