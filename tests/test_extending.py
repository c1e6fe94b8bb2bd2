"""docs/extending.md, run as written: a task file with other field names, a plug-in method and prompt loaded
by --include, listed with their source, recorded in the run config; bad task files and plug-ins named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app
from tinyreason.data import DataError
from tinyreason.tasks import get_task, load_task

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
runner = CliRunner()
ENV = {"COLUMNS": "300"}


def test_a_task_with_other_field_names_runs_end_to_end_with_a_plugin_method(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"  # per question: two short samples and one that shows its work
    rules.write_text(json.dumps([{"match": "Jack had 8 pens", "responses": ["#### 12", "#### 12", "Jack has 8 pens. Mary has 5 pens. Together they have 8 + 5 pens. " * 4 + "8 + 5 = 13.\n#### 13"]},
                                 {"match": "A baker made 24", "responses": ["#### 15", "#### 14", "#### 15"]},
                                 {"match": "Each box holds 6", "responses": ["#### 42", "#### 42", "#### 40"]}]))
    plugin, task = EXAMPLES / "weighted_vote.py", EXAMPLES / "svamp.yaml"
    listed = runner.invoke(app, ["methods", "--include", str(plugin)], env=ENV)
    assert listed.exit_code == 0 and any(line.startswith("weighted-vote") and str(plugin) in line for line in listed.output.splitlines())
    res = runner.invoke(app, ["eval", "--include", str(plugin), "--task", str(task), "--method", "weighted-vote", "--n", "3",
                              "--backend", "scripted", "--model", str(rules), "--limit", "3", "--out", str(tmp_path / "run")], env=ENV)
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["method"]["name"] == "weighted-vote" and cfg["method"]["prompt"] == "show-work"  # the task's prompt, from the plug-in
    assert cfg["task"]["question"] == "{Body} {Question}" and cfg["subset"]["ids"] and set(cfg["subset"]["ids"]) == {10, 11, 12}
    assert cfg["plugins"][0]["source"] == str(plugin.resolve()) and len(cfg["plugins"][0]["sha256"]) == 64
    samples = {s["id"]: s for s in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    assert samples[10]["prediction"] == "13" and samples[10]["correct"]  # the long sample outweighs two bare guesses
    assert samples[10]["question"] == "Jack had 8 pens and Mary had 5 pens. How many pens do they have in all?"
    assert all(s["correct"] for s in samples.values())
    plain = runner.invoke(app, ["eval", "--include", str(plugin), "--task", str(task), "--prompt", "cot", "--backend", "scripted",
                                "--model", str(rules), "--limit", "3", "--out", str(tmp_path / "plain")], env=ENV)
    assert plain.exit_code == 0, plain.output
    assert "plugins" not in json.loads((tmp_path / "plain" / "config.json").read_text())  # loaded but unused: not part of that run
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["overruled"] == 1 and "the weights overruled the plain count on 1 questions" in res.output  # the method's own section


def test_metrics_py_names_no_method() -> None:
    from tinyreason.methods import method_names

    source = (Path(__file__).resolve().parents[1] / "src" / "tinyreason" / "metrics.py").read_text()
    private = ("verdict", "program_status", "decided_by", "format_ok", "stop_reason", "initial_answer", "reflected")
    assert not [w for w in (*private, *(f'"{m}"' for m in method_names())) if w in source]


@pytest.mark.parametrize("text, says", [
    ("name: t\ndata: d.jsonl\nhub: x\n", "exactly one of data"),
    ("name: t\ndata: d.jsonl\nquestion: 'no fields'\n", "names no field"),
    ("name: t\ndata: d.jsonl\nanswer_pares: number\n", "answer_pares: unknown key"),
])
def test_a_bad_task_file_is_named_with_its_file(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(DataError, match=says) as e:
        get_task(str(tmp_path / "t.yaml"))
    assert str(tmp_path / "t.yaml") in str(e.value)


def test_bad_rows_of_a_task_name_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "d.jsonl").write_text('{"q": "one?", "a": "1"}\n{"q": "two?"}\n{"q": "three?", "a": "many"}\n')
    (tmp_path / "t.yaml").write_text("name: t\ndata: d.jsonl\nquestion: '{q}'\nanswer_field: a\n")
    task = get_task(str(tmp_path / "t.yaml"))
    with pytest.raises(DataError, match=r"d.jsonl:2: missing field 'a'"):
        load_task(task)
    ds = load_task(task, skip_bad_rows=True)
    assert [p.gold for p in ds.problems] == ["1"] and len(ds.skipped) == 2 and "d.jsonl:3: field 'a' holds no number" in ds.skipped[1]


def test_a_plugin_that_fails_to_load_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    res = runner.invoke(app, ["methods", "--include", str(bad)], env=ENV)
    assert res.exit_code != 0 and f"--include {bad}: the plug-in failed to load: RuntimeError: boom" in res.output
