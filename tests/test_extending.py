"""docs/extending.md, run as written: a task file with other field names, a plug-in method and prompt loaded
by --include, listed with their source, recorded in the run config; a plug-in GRPO reward named by a recipe
and trained with; bad task files and plug-ins named."""

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


def test_a_row_whose_text_holds_a_unicode_line_separator_stays_one_row(tmp_path: Path) -> None:
    """JSON writes U+2028 raw inside a string (ensure_ascii=False): it is not a line break of JSONL, so the row
    stays one row and the line numbers of later rows stay the editor's."""
    rows = [{"q": "one\u2028more?", "a": "1"}, {"q": "two\x85?", "a": "2"}, {"q": "three?"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "t.yaml").write_text("name: t\ndata: d.jsonl\nquestion: '{q}'\nanswer_field: a\n")
    task = get_task(str(tmp_path / "t.yaml"))
    with pytest.raises(DataError, match=r"d.jsonl:3: missing field 'a'"):
        load_task(task)
    ds = load_task(task, skip_bad_rows=True)
    assert [p.gold for p in ds.problems] == ["1", "2"] and "one\u2028more?" in ds.problems[0].question and len(ds.skipped) == 1


def test_a_plugin_that_fails_to_load_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\n")
    res = runner.invoke(app, ["methods", "--include", str(bad)], env=ENV)
    assert res.exit_code != 0 and f"--include {bad}: the plug-in failed to load: RuntimeError: boom" in res.output


REWARD_RECIPE = """\
dev_n: 2
num_generations: 4
generation_batch_size: 8
batch_size: 8
max_completion_length: 8
temperature: 1.0
learning_rate: 2.0e-2
lora_r: 4
lora_alpha: 8
lora_dropout: 0.0
gradient_checkpointing: false
dtype: float32
eval_every: 10
dev_max_new_tokens: 4
watch_questions: 0
rewards:
  - {name: correctness}
  - {name: checked-steps, weight: 0.5, options: {min_steps: 1}}
  - {name: reflection, weight: 1.0, options: {phrases: [les, man]}}   # fragments the tiny tokenizer writes: groups differ
"""


def test_a_plugin_reward_is_named_by_a_recipe_and_trains(tiny_model_wide_init: Path, tmp_path: Path) -> None:
    """docs/extending.md's reward: loaded by --include, listed in `rewards:`, called as TRL calls it, and a
    two-step GRPO run on the tiny model that records the plug-in in its train_config.json."""
    from tinyreason import plugins
    from tinyreason.train.grpo_config import load_grpo_config
    from tinyreason.train.rewards import RewardSpec, reward_funcs

    plugin = EXAMPLES / "checked_steps.py"
    plugins.load([str(plugin)])
    (tmp_path / "r.yaml").write_text(REWARD_RECIPE)
    rows = [json.dumps({"question": f"{n} has 8 pens and gives away 3. How many are left?", "answer": "8 - 3 = 5\n#### 5"}) + "\n"
            for n in ("Ben", "Tom", "Sam", "Max", "Leo", "Eva")]
    (tmp_path / "train.jsonl").write_text("".join(rows))
    cfg, _ = load_grpo_config(tmp_path / "r.yaml", {"model": str(tiny_model_wide_init), "data": str(tmp_path / "train.jsonl")})
    funcs, weights = reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness", "checked-steps", "reflection"] and weights == [1.0, 0.5, 1.0]
    texts = ["8 - 3 = 5\n#### 5", "8 - 3 = 4\n#### 4", "#### 5"]
    assert funcs[1](texts, gold=["5"] * 3, completion_ids=[[1]] * 3, id=[0, 1, 2]) == [1.0, 0.0, 0.0]  # right work, wrong work, none
    with pytest.raises(ValueError, match="reward 'checked-steps': unknown option min_step; it takes: min_steps"):
        RewardSpec(name="checked-steps", options={"min_step": 2})

    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "grpo", "--include", str(plugin), "--recipe", str(tmp_path / "r.yaml"), "--model", str(tiny_model_wide_init),
                              "--data", str(tmp_path / "train.jsonl"), "--max-steps", "2", "--out", str(out)], env=ENV)
    assert res.exit_code == 0, res.output
    record = json.loads((out / "train_config.json").read_text())
    assert record["plugins"] == [{"source": str(plugin.resolve()), "sha256": plugins.LOADED[str(plugin.resolve())]["sha256"]}]
    assert record["config"]["rewards"][1] == {"name": "checked-steps", "weight": 0.5, "options": {"min_steps": 1}}
    train = [r for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    assert len(train) == 2 and all(set(r["rewards"]) == {"correctness", "checked-steps"} for r in train)  # TRL logs it by its name
