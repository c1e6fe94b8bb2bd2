"""What a new user tripped over, each pinned: a null recipe variable, the plug-in listings, flags shown as flags,
compare naming runs, the leaderboard skipping what is not an eval run, the interruption note, the progress
before any question, the OpenVINO export saying what it does."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from runfab import make_run, simple_samples
from tinyreason.cli import app
from tinyreason.cli.evaluate import saved_note
from tinyreason.evaluate import _accuracy

SMOKE = Path(__file__).resolve().parent.parent / "recipes" / "smoke.yaml"
runner = CliRunner()
ENV = {"COLUMNS": "300"}


def test_a_null_recipe_variable_is_one_line_naming_it_and_how_to_set_it(tmp_path: Path) -> None:
    res = runner.invoke(app, ["reproduce", "--recipe", str(SMOKE), "--dry-run", "--runs", str(tmp_path)], env=ENV)
    assert res.exit_code != 0
    model_lines = [line for line in res.output.splitlines() if "model" in line]
    assert len(model_lines) == 1 and "variable ${model} is not set" in model_lines[0] and "--var model=VALUE (or --model PATH)" in model_lines[0]
    assert "(got None)" not in res.output and "${test_data}" not in res.output  # test_data may be null (the Hub): not blamed


def test_methods_and_backends_list_whole_descriptions_and_real_defaults() -> None:
    methods = runner.invoke(app, ["methods"], env=ENV).output
    pal, pal_sc = (next(line for line in methods.splitlines() if line.startswith(f"{n} — ")) for n in ("pal", "pal-sc"))
    assert pal.split(" — ", 1)[1] != pal_sc.split(" — ", 1)[1]
    assert "Facts -> Relationships -> Calculations -> Answer." in methods  # structured-sc's sentence, whole
    backends = runner.invoke(app, ["backends"], env=ENV).output
    assert "PydanticUndefined" not in backends and "server_args = []" in backends
    assert all(any(line.startswith(f"{n} (") and "installed" in line for line in backends.splitlines()) for n in ("hf", "openvino", "vllm", "llamacpp"))


def test_flags_are_shown_as_flags_in_help() -> None:
    for args in (["--help"], ["eval", "--help"], ["reproduce", "--help"]):
        out = runner.invoke(app, args, env=ENV).output
        assert "<bool>" not in out and "--help" in out


def test_compare_names_its_sides_by_run(tmp_path: Path) -> None:
    a = make_run(tmp_path / "x" / "greedy", simple_samples([0, 1, 2], {0}))
    b = make_run(tmp_path / "y" / "greedy", simple_samples([0, 1, 2], {0, 1}))
    out = runner.invoke(app, ["compare", str(a), str(b)], env=ENV).output
    assert f"B = {b} (greedy) vs A = {a} (greedy)" in out


def test_the_leaderboard_skips_what_is_not_an_eval_run_saying_which(tmp_path: Path) -> None:
    base = make_run(tmp_path / "greedy", simple_samples([0, 1, 2], {0}))
    training = tmp_path / "grpo"
    training.mkdir()
    (training / "train_config.json").write_text("{}")
    protocol = tmp_path / "protocol"
    (protocol / "cot").mkdir(parents=True)
    (tmp_path / "reproduce.log").write_text("log\n")
    res = runner.invoke(app, ["leaderboard", str(base), str(training), str(protocol), str(tmp_path / "reproduce.log"), "--out", str(tmp_path / "o")], env=ENV)
    assert res.exit_code == 0, res.output
    assert f"skipping {training}: not a run directory" in res.output and f"skipping {protocol}" in res.output
    assert (tmp_path / "o" / "LEADERBOARD.md").is_file()


def test_the_interruption_note_says_what_was_kept(tmp_path: Path) -> None:
    assert saved_note(tmp_path / "none").startswith("nothing was saved yet")
    run = make_run(tmp_path / "r", simple_samples([0, 1], {0}), order=[0, 1, 2, 3])
    assert saved_note(run).startswith("2 of 4 questions are saved in")
    cfg = json.loads((run / "config.json").read_text())
    (run / "samples.jsonl").write_text("")
    assert saved_note(run).startswith(f"0 of {len(cfg['subset']['ids'])} questions")


def test_progress_shows_no_accuracy_before_any_question_is_graded() -> None:
    assert _accuracy({}) == "—" and _accuracy({1: {"correct": True}, 2: {"correct": False}}) == "50.0%"


def test_the_openvino_export_says_one_line_of_what_and_where(tiny_model: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from tinyreason.backends.ov_export import ensure_exported

    out, record = ensure_exported(str(tiny_model), "int8", cache_dir=tmp_path / "cache")
    err = capsys.readouterr().err
    assert f"openvino: exporting {tiny_model} to OpenVINO (int8 weights) once, into {out}" in err and not record["cached"]
    assert "FutureWarning" not in err and "bitwidth" not in err
    ensure_exported(str(tiny_model), "int8", cache_dir=tmp_path / "cache")
    assert "exporting" not in capsys.readouterr().err  # cached: nothing to say
