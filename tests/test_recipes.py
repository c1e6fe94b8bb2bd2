"""Recipes: the study's recipe validates as a whole; a bad recipe is refused naming file and line; a spec or a
training config from a recipe equals the one the command builds from the same settings as flags; the dry
run's states and cost estimates come from the run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runfab import generation, make_planned_run, sample, simple_samples
from tinyreason.cli import app
from tinyreason.config_io import ConfigFileError
from tinyreason.methods import method_names
from tinyreason.recipes import load_recipe
from tinyreason.reproduce import survey
from tinyreason.runs import RunMismatch
from tinyreason.spec import run_eval

STUDY = Path(__file__).resolve().parent.parent / "recipes" / "tinyreason.yaml"
runner = CliRunner()

INDEX = """\
vars: {model: /models/fake-0.5b, limit: 4, seed: 42}
runs: RUNS
baseline: greedy
defaults:
  eval: {model: "${model}", backend: scripted, limit: "${limit}", seed: "${seed}"}
experiments:
  - greedy.yaml
  - {name: sc, kind: eval, config: {method: sc, method_options: {n: 3}}}
  - {name: reflect, kind: eval, needs: [sc], config: {method: reflect}}
"""


def write_recipe(tmp_path: Path, greedy: str = "kind: eval\nconfig:\n  method: greedy\n", index: str = INDEX) -> Path:
    (tmp_path / "greedy.yaml").write_text(greedy)
    path = tmp_path / "study.yaml"
    path.write_text(index.replace("RUNS", str(tmp_path / "runs")))
    return path


def refused(path: Path, **kw: object) -> str:
    with pytest.raises(ConfigFileError) as e:
        load_recipe(path, **kw)  # type: ignore[arg-type]
    return str(e.value)


def test_the_study_recipe_validates_every_experiment_and_orders_them_by_need() -> None:
    waiting = load_recipe(STUDY, {"model": "./qwen", "limit": 50}, runs=Path("/nonexistent"))  # no protocol choice yet
    assert waiting.get("greedy").waiting == "${prompt} is chosen by protocol, which has not run yet" and waiting.get("greedy").config is None
    assert [e.name for e in waiting.plan(["greedy"])[0]] == ["protocol", "greedy"] and waiting.get("hybrid-sc").needs == ["protocol", "protocol-pal"]
    assert waiting.get("structured-sc").waiting is None and waiting.get("sft-2000").config.prompt == "cot"  # own format; training keeps its prompt
    recipe = load_recipe(STUDY, {"model": "./qwen", "limit": 50, "prompt": "qwen-boxed", "pal_prompt": "pal"})  # --var fixes the choice
    names = [e.name for e in recipe.experiments]
    for row in ("protocol", "protocol-pal", "greedy", "sc", "reflect", "sc-reflect", "structured-sc", "verifier-audit", "sc-verifier", "adaptive-sc", "sft-1000", "sft-1000-eval", "sft-2000", "sft-2000-eval",
                "distill", "sft-distill", "distill-eval", "memorize-20x10", "memorize-5x20", "pal", "pal-sc", "hybrid-sc", "grpo", "grpo-eval",
                "grpo-gpu", "grpo-gpu-eval"):
        assert row in names
    sc = recipe.get("sc").config
    assert (sc.model, sc.limit, sc.seed, sc.method_options) == ("./qwen", 50, 42, {"max_new_tokens": 512, "n": 5, "temperature": 0.7,
                                                                                   "prompt": "qwen-boxed"})
    protocol = recipe.get("protocol").config
    assert (protocol.split, protocol.dev_n, protocol.reserve_start, protocol.default) == ("train", 600, 2000, "cot")
    assert sc.out == Path("results/runs/sc") and recipe.get("sft-2000").config.train_n == 2000
    assert recipe.get("sft-1000-eval").config.backend_options == {"adapter": "results/runs/sft-1000"}
    assert (recipe.get("sft-1000").config.train_n, recipe.get("sft-2000").config.train_n) == (1000, 2000)  # a size axis
    assert recipe.get("verifier-audit").config.run == Path("results/runs/sc")
    for method in ("pal", "pal-sc", "hybrid-sc"):  # guarded: skipped, saying why, until the method is registered
        assert (recipe.get(method).unavailable is None) == (method in method_names())
    order, added = recipe.plan(["sc-verifier", "distill-eval"])
    assert [e.name for e in order] == ["sc", "verifier-audit", "sc-verifier", "distill", "sft-distill", "distill-eval"]
    assert added == ["sc", "verifier-audit", "distill", "sft-distill"]
    grpo = load_recipe(STUDY, {"model": "./qwen"}, runs=Path("/nonexistent"), settings={"grpo": {"max_steps": 30, "num_generations": 8,
                                                                                               "generation_batch_size": 16}})
    rows, _ = survey(grpo, ["grpo"])
    assert (rows[0].state, rows[0].cost) == ("missing", "training: 30 steps × 16 completions ≤ 320 tok (+ dev evals of 20 q every 10 steps)")
    assert recipe.get("grpo-gpu").gpu and not recipe.get("grpo").gpu and recipe.get("grpo-gpu-eval").needs == ["grpo-gpu"]


def test_a_spec_built_from_flags_equals_the_spec_from_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyreason.spec

    captured = []

    def run_eval(spec: object, **kw: object) -> None:
        captured.append(spec)
        raise OSError("captured: not run")

    monkeypatch.setattr(tinyreason.spec, "run_eval", run_eval)
    flags = ["eval", "--model", "./qwen", "--method", "sc", "--n", "5", "--temperature", "0.7", "--max-new-tokens", "512", "--data", "test.jsonl",
             "--limit", "600", "--seed", "42", "--out", "results/runs/sc", "--prompt", "cot", "--options-by-backend", '{"openvino": {"weight_format": "int8"}}']
    assert runner.invoke(app, flags).exit_code == 2 and captured
    from_recipe = load_recipe(STUDY, {"model": "./qwen", "test_data": "test.jsonl", "prompt": "cot"}).get("sc").config
    assert captured[0] == from_recipe


def test_one_variable_moves_every_openvino_row_of_the_study_and_leaves_the_others() -> None:
    recipe = load_recipe(STUDY, {"model": "./qwen", "prompt": "cot", "pal_prompt": "pal", "best_prompt": "cot", "openvino_weights": "bf16", "backend": "openvino",
                                 "adapter_backend": "openvino"})
    for row in ("greedy", "sc", "pal-sc", "sft-1000-eval", "grpo-cpu-eval-s1"):
        assert recipe.get(row).config.backend_config_options()["weight_format"] == "bf16", row
    assert recipe.get("protocol").config.spec("cot").backend_config_options()["weight_format"] == "bf16"
    assert "weight_format" not in recipe.get("greedy-hf-bf16").config.backend_config_options()  # hf: no such option, none given
    default = load_recipe(STUDY, {"model": "./qwen", "prompt": "cot", "pal_prompt": "pal", "best_prompt": "cot", "backend": "openvino"})
    assert default.get("greedy").config.backend_config_options()["weight_format"] == "int8"  # the committed study's weights
    assert default.get("greedy-ov-bf16").config.backend_config_options()["weight_format"] == "bf16"  # its own backend_options win


def test_a_training_config_from_flags_equals_the_one_from_the_recipe(monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyreason.train.sft

    captured = []

    def train_sft(cfg: object, out: Path, force: bool) -> None:
        captured.append((cfg, out))
        raise ValueError("captured: not trained")

    monkeypatch.setattr(tinyreason.train.sft, "train_sft", train_sft)
    flags = ["train", "sft", "--model", "./qwen", "--data", "train.jsonl", "--seed", "42", "--train-n", "2000", "--epochs", "1", "--prompt", "cot",
             "--out", "results/runs/sft-2000"]
    assert runner.invoke(app, flags).exit_code == 2 and captured
    recipe = load_recipe(STUDY, {"model": "./qwen", "train_data": "train.jsonl"})
    assert captured[0] == (recipe.get("sft-2000").config, recipe.get("sft-2000").out)


@pytest.mark.parametrize(
    ("greedy", "message"),
    [
        ("kind: eval\nconfig:\n  method: greddy\n", "greedy.yaml:3: method 'greddy' is not registered (registered: adaptive-sc, greedy,"),
        ("kind: eval\nconfig:\n  method: greedy\n  limit: many\n", "greedy.yaml:4: limit: Input should be a valid integer"),
        ("kind: eval\nconfig:\n  method: greedy\n  temprature: 0.7\n", "greedy.yaml:4: temprature: unknown key (valid: model, method,"),
        ("kind: eval\nconfig:\n  method: greedy\n  out: elsewhere\n", "greedy.yaml:4: out is set by reproduce"),
        ("kind: evaluate\n", "greedy.yaml:1: kind: Input should be 'eval', 'protocol', 'audit-verifier', 'distill', 'sft', 'memorize' or 'grpo'"),
        ("kind: eval\nneeds: [nope]\nconfig: {method: greedy}\n", "greedy.yaml:1: needs 'nope', which is not an experiment of this recipe"),
        ("kind: eval\nconfig:\n  method: greedy\n  data: ${test_data}\n", "greedy.yaml:4: unknown variable ${test_data} (defined: limit, model,"),
        ("kind: sft\nconfig:\n  lora_rank: 8\n", "greedy.yaml:3: lora_rank: unknown key (valid: model, "),
        ("kind: eval\nconfig:\n  method: sc\n  method_options: {n: 0}\n", "greedy.yaml:2: method 'sc' options are invalid (n: Input should be greater"),
        ("kind: eval\nname: sc\nconfig: {method: greedy}\n", "experiment name 'sc' is used twice"),
        ("kind: eval\nneeds: [greedy]\nconfig: {method: greedy}\n", "need each other in a cycle: greedy"),
    ],
)
def test_a_bad_experiment_is_refused_with_its_file_and_line(tmp_path: Path, greedy: str, message: str) -> None:
    problems = refused(write_recipe(tmp_path, greedy))
    assert message in problems
    assert str(tmp_path / "greedy.yaml") in problems or "cycle" in message


def test_missing_files_unknown_variables_and_names(tmp_path: Path) -> None:
    assert f"{tmp_path / 'none.yaml'}: no such file" in refused(tmp_path / "none.yaml")
    index = write_recipe(tmp_path)
    (tmp_path / "greedy.yaml").unlink()
    assert f"{index}:7: experiment file {tmp_path / 'greedy.yaml'} does not exist" in refused(index)
    index = write_recipe(tmp_path)
    assert "--var limt: " in refused(index, variables={"limt": 5}) and "(its variables: model, limit, seed)" in refused(index, variables={"limt": 5})
    with pytest.raises(ConfigFileError, match="--only: no experiment named scc"):
        load_recipe(index).plan(["scc"])
    cycle = write_recipe(tmp_path, index=INDEX.replace("kind: eval, config: {method: sc", "kind: eval, needs: [reflect], config: {method: sc"))
    assert "need each other in a cycle: sc, reflect" in refused(cycle)
    bad_base = write_recipe(tmp_path, index=INDEX.replace("baseline: greedy", "baseline: gredy"))
    assert f"{bad_base}:3: baseline 'gredy' is not an eval experiment" in refused(bad_base)


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    index = write_recipe(tmp_path, "kind: eval\nconfig:\n  method: greedy\n  limit: 0\n",
                         INDEX.replace("method: reflect", "method: reflekt"))
    problems = refused(index).splitlines()
    assert any("greedy.yaml:4: limit: Input should be greater than or equal to 1" in p for p in problems)
    assert any(f"{index}:9: method 'reflekt' is not registered" in p for p in problems)


def test_variables_defaults_and_the_command_line(tmp_path: Path) -> None:
    index = write_recipe(tmp_path, "kind: eval\nconfig:\n  method: greedy\n  limit: 2\n  data: ${model}-data/test.jsonl\n")
    recipe = load_recipe(index, {"model": "/m/x", "limit": 9}, runs=tmp_path / "elsewhere")
    greedy, sc = recipe.get("greedy").config, recipe.get("sc").config
    assert (greedy.model, greedy.limit, greedy.data, greedy.backend) == ("/m/x", 2, "/m/x-data/test.jsonl", "scripted")  # the experiment wins
    assert (sc.limit, sc.out) == (9, tmp_path / "elsewhere" / "sc")


def test_the_dry_run_reports_state_and_cost_from_the_runs_so_far(tmp_path: Path) -> None:
    recipe = load_recipe(write_recipe(tmp_path))
    rows, _ = survey(recipe)
    assert [(r.name, r.state, r.cost) for r in rows] == [
        ("greedy", "missing", "unknown (no run yet): 4 q × ≥ 1 completions"),
        ("sc", "missing", "unknown (no run yet): 4 q × ≥ 3 completions"),
        ("reflect", "missing", "unknown (no run yet): 4 q × ≥ 1 completions"),
    ]
    runs = tmp_path / "runs"
    make_planned_run(runs / "greedy", recipe.get("greedy").config, simple_samples([0, 1, 2, 3], {0}, tokens=100))
    partial = [sample(i, str(i + 1), [generation(f"#### {i}", "sample", n_tokens=50)] * 3) for i in (2, 0)]
    make_planned_run(runs / "sc", recipe.get("sc").config, partial, order=[0, 1, 2, 3])
    (runs / "sc" / "metrics.json").unlink()
    other = recipe.get("reflect").config.model_copy(update={"model": "/models/other"})
    make_planned_run(runs / "reflect", other, simple_samples([0, 1, 2, 3], set()))
    rows, _ = survey(load_recipe(write_recipe(tmp_path)))
    assert [(r.name, r.state, r.cost) for r in rows] == [
        ("greedy", "done 4 of 4", "—"),
        ("sc", "partial 2 of 4", "≈ 300 tok: 2 q × 3 completions × 50 tok; 1 s at 300 tok/s (its own so far)"),  # its own samples: 3
        # completions of 50 tokens in 0.5 s per question (runfab): 300 tok/s
        ("reflect", 'stale: the stored run differs (backend.model: stored "/models/other" != now "/models/fake-0.5b"); move it away or use '
                    "another --runs", "—"),
    ]
    # a run the dry run calls stale is one eval refuses, by the same comparison (runs.compare_run)
    with pytest.raises(RunMismatch, match='backend.model: stored "/models/other" != now "/models/fake-0.5b"'):
        run_eval(recipe.get("reflect").config, progress=False)


def test_a_run_made_at_a_smaller_limit_is_partial_and_grows_while_a_larger_one_is_stale(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    recipe = load_recipe(write_recipe(tmp_path))
    make_planned_run(runs / "greedy", recipe.get("greedy").config, simple_samples([0, 1], {0}, tokens=100))  # done at --limit 2; the recipe says 4
    made_at_6 = recipe.get("sc").config.model_copy(update={"limit": 6})
    make_planned_run(runs / "sc", made_at_6, simple_samples(list(range(6)), set()))
    rows, _ = survey(load_recipe(write_recipe(tmp_path)))
    assert rows[0].name == "greedy" and rows[0].state == "partial 2 of 4"  # eval will grow it, keeping the two finished questions
    assert rows[1].name == "sc" and rows[1].state.startswith("stale: the stored run differs (subset.ids: stored [")  # a run never shrinks
    assert "subset.limit: stored 6 != now 4" in rows[1].state


def test_an_option_a_run_predates_counts_at_its_default(tmp_path: Path) -> None:
    from tinyreason.runs import compare_run
    from tinyreason.spec import planned

    config, how = planned(load_recipe(write_recipe(tmp_path)).get("greedy").config)
    stored = json.loads(json.dumps(config))
    del stored["method"]["max_new_tokens"]  # a run made before the option existed ran at its default
    assert compare_run(stored, config, **how) == ([], False)
    stored["method"]["max_new_tokens"] = 7
    assert compare_run(stored, config, **how)[0] == [f"method.max_new_tokens: stored 7 != now {config['method']['max_new_tokens']}"]


def test_a_training_run_made_with_other_settings_is_stale_not_done(tmp_path: Path) -> None:
    import json

    from tinyreason.reproduce import run_experiment

    recipe = load_recipe(STUDY, {"model": "./qwen"}, runs=tmp_path)
    sft = recipe.get("sft-2000")
    (tmp_path / "sft-2000").mkdir()
    (tmp_path / "sft-2000" / "train_config.json").write_text(json.dumps({"config": {**sft.config.model_dump(), "train_n": 200}}))
    (tmp_path / "sft-2000" / "train_report.json").write_text(json.dumps({"ok": True}))
    rows, _ = survey(recipe, ["sft-2000"])
    assert rows[0].state == "stale: the stored run differs (train_n: stored 200 != now 2000); move it away or use another --runs"
    outcome = run_experiment(recipe, sft, {}, log=lambda line: None, progress=False)
    assert outcome.status == "failed" and "train_n: stored 200 != now 2000" in outcome.detail  # refused before any training
    (tmp_path / "sft-2000" / "train_config.json").write_text(json.dumps({"config": sft.config.model_dump()}))
    assert survey(recipe, ["sft-2000"])[0][0].state == "done"
    (tmp_path / "sft-2000" / "train_config.json").write_text(json.dumps({"config": {**sft.config.model_dump(), "save_steps": 3}}))
    assert survey(recipe, ["sft-2000"])[0][0].state == "done"  # checkpointed more often: the same training
    (tmp_path / "sft-2000" / "adapter_config.json").write_text("{}")  # a clean clone: the config committed, the weights not
    assert survey(recipe, ["sft-2000"])[0][0].state == "done (its adapter weights are not in this checkout: an eval of it that must run needs them)"
    ev = {r.name: r.state for r in survey(recipe, ["sft-2000-eval"])[0]}["sft-2000-eval"]  # its eval: refused, saying why, before anything runs
    assert ev.startswith(f"missing (will refuse: {tmp_path / 'sft-2000'}: the adapter's weights are not here"), ev
    (tmp_path / "sft-2000" / "adapter_model.safetensors").write_bytes(b"weights")
    assert survey(recipe, ["sft-2000"])[0][0].state == "done"
    assert {r.name: r.state for r in survey(recipe, ["sft-2000-eval"])[0]}["sft-2000-eval"] == "missing"


def test_an_experiment_config_file_with_the_experiment_keys_over_it(tmp_path: Path) -> None:
    (tmp_path / "sft-base.yaml").write_text("train_n: 100\nepochs: 3\nlora_r: 8\n")
    greedy = "kind: sft\nconfig_file: sft-base.yaml\nconfig:\n  epochs: 1\n  model: ${model}\n"
    sft = load_recipe(write_recipe(tmp_path, greedy, INDEX.replace("baseline: greedy", "baseline: sc"))).get("greedy").config
    assert (sft.train_n, sft.num_train_epochs, sft.lora_r, sft.model) == (100, 1.0, 8, "/models/fake-0.5b")  # old names, per layer
    (tmp_path / "sft-base.yaml").write_text("train_n: 100\nlora_rank: 8\n")
    problems = refused(write_recipe(tmp_path, greedy, INDEX.replace("baseline: greedy", "baseline: sc")))
    assert f"{tmp_path / 'sft-base.yaml'}:2: lora_rank: unknown key" in problems
    (tmp_path / "sft-base.yaml").unlink()
    problems = refused(write_recipe(tmp_path, greedy, INDEX.replace("baseline: greedy", "baseline: sc")))
    assert f"{tmp_path / 'greedy.yaml'}:2: config file {tmp_path / 'sft-base.yaml'} does not exist" in problems


def test_set_changes_one_experiments_field_and_names_itself_in_errors(tmp_path: Path) -> None:
    index = write_recipe(tmp_path)
    recipe = load_recipe(index, settings={"sc": {"limit": 2, "method_options.n": 7}})
    sc, greedy = recipe.get("sc").config, recipe.get("greedy").config
    assert (sc.limit, sc.method_options["n"], greedy.limit) == (2, 7, 4)  # only the named experiment changes
    with pytest.raises(ConfigFileError) as e:
        load_recipe(index, settings={"sc": {"limitt": 2}})
    assert any(p.startswith("--set sc.limitt: unknown key (valid: ") for p in e.value.problems)
    with pytest.raises(ConfigFileError, match="--set scc.…: .* has no experiment 'scc'"):
        load_recipe(index, settings={"scc": {"limit": 2}})
    res = CliRunner().invoke(app, ["reproduce", "--recipe", str(index), "--set", "sc", "--dry-run"])
    assert res.exit_code != 0 and "--set takes EXPERIMENT.FIELD=VALUE" in res.output


def test_a_training_run_made_before_a_field_existed_ran_at_its_default(tmp_path: Path) -> None:
    import json

    recipe = load_recipe(STUDY, {"model": "./qwen"}, runs=tmp_path, settings={"grpo": {"format_when": "always"}})
    grpo = recipe.get("grpo")
    stored = grpo.config.model_dump(mode="json")
    del stored["format_when"]  # written before the field was added; the default ("always") is what it ran with
    (tmp_path / "grpo").mkdir()
    (tmp_path / "grpo" / "train_config.json").write_text(json.dumps({"config": stored}))
    (tmp_path / "grpo" / "train_report.json").write_text(json.dumps({"ok": True}))
    rows, _ = survey(recipe, ["grpo"])
    assert rows[0].state.startswith("done")
    rows, _ = survey(load_recipe(STUDY, {"model": "./qwen"}, runs=tmp_path, settings={"grpo": {"format_when": "correct"}}), ["grpo"])
    assert 'format_when: stored "always" != now "correct"' in rows[0].state


def test_a_grpo_run_is_summed_up_by_reward_and_dev_accuracy_not_a_loss_it_does_not_have(tmp_path: Path) -> None:
    import json

    from tinyreason.experiments import train_summary

    (tmp_path / "train_report.json").write_text(json.dumps({"train": {"optimizer_steps": 20, "wall_s": 1532}, "checks": {}, "warnings": ["w"]}))
    rows = [{"kind": "dev", "step": 0, "accuracy": 0.2}, {"kind": "train", "step": 1, "reward": 0.0375}, {"kind": "train", "step": 20, "reward": 0.1},
            {"kind": "dev", "step": 20, "accuracy": 0.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert train_summary(tmp_path, "train_report.json") == ("20 steps, mean reward 0.037 (step 1) → 0.100 (step 20), dev accuracy 20.0% → 0.0%, "
                                                            "1532 s, 1 warning(s) in train_report.json")
    # 20 steps: each end is the mean over a tenth of them (one step's reward is two prompts' luck); two sittings timed whole
    rows = [{"kind": "train", "step": i, "reward": 0.1 * (i in (1, 2)) + 0.5 * (i in (19, 20))} for i in range(1, 21)]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "train_report.json").write_text(json.dumps({"train": {"optimizer_steps": 20, "wall_s": 300, "wall_s_all_sittings": 900, "sittings": 2}}))
    assert train_summary(tmp_path, "train_report.json") == "20 steps, mean reward 0.100 (steps 1–2) → 0.500 (steps 19–20), 300 s (900 s over 2 sittings)"


@pytest.mark.parametrize(("files", "resumes", "force"), [
    ({}, True, False),                                                         # missing: a fresh start either way
    ({"train_config.json": "{}"}, True, False),                                # interrupted: SFT/GRPO continue from checkpoints
    ({"train_config.json": "{}"}, False, True),                                # interrupted memorize: starts over
    ({"train_config.json": "{}", "train_report.json": '{"ok": false, "failed_checks": ["loss_curve"]}'}, True, True),  # failed checks
])
def test_a_training_experiment_resumes_only_what_can_resume(files: dict[str, str], resumes: bool, force: bool, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    from types import SimpleNamespace

    from pydantic import BaseModel

    from tinyreason.experiments import TrainKind, Trainer

    kind = TrainKind("t", Trainer("m", "C", "train", "train_report.json", "train_config.json", "train t", ("n", "epochs"), resumes=resumes))
    calls: list[bool] = []

    def train(cfg: object, out: Path, force: bool) -> None:
        calls.append(force)
        (out / "train_report.json").write_text(json.dumps({"ok": True, "train": {}, "checks": {}}))

    monkeypatch.setattr(kind, "_module", lambda: SimpleNamespace(train=train))
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    class NoFields(BaseModel):
        pass

    cfg = NoFields()  # the stored config ("config" absent) matches it
    state = kind.state(cfg, tmp_path)
    assert state.status == ("partial" if files else "missing")
    kind.run(cfg, tmp_path, state, print, False)
    assert calls == [force]


def test_the_dry_run_names_the_checkpoint_an_interrupted_training_run_resumes_from(tmp_path: Path) -> None:
    import json

    recipe = load_recipe(STUDY, {"model": "./qwen"}, runs=tmp_path)
    sft = recipe.get("sft-2000")
    (tmp_path / "sft-2000").mkdir()
    (tmp_path / "sft-2000" / "train_config.json").write_text(json.dumps({"config": sft.config.model_dump()}))
    assert survey(recipe, ["sft-2000"])[0][0].state == "partial (interrupted before its first checkpoint; training starts over)"
    for step, state in ((10, {"global_step": 10}), (20, None)):  # checkpoint-20 was cut off before its trainer_state.json
        (tmp_path / "sft-2000" / f"checkpoint-{step}").mkdir()
        if state:
            (tmp_path / "sft-2000" / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps(state))
    assert survey(recipe, ["sft-2000"])[0][0].state == "partial (interrupted; resumes from checkpoint-10)"
    assert (tmp_path / "sft-2000" / "checkpoint-20").is_dir()  # a dry run removes nothing


def test_a_seed_axis_makes_one_experiment_per_seed_and_needs_follow_their_seed(tmp_path: Path) -> None:
    recipe = load_recipe(STUDY, {"model": "./qwen", "prompt": "cot", "pal_prompt": "pal"}, runs=tmp_path)
    names = [e.name for e in recipe.experiments]
    assert [n for n in names if n.startswith("grpo-cpu")] == ([f"grpo-cpu-s{k}" for k in (1, 2, 3)] + [f"grpo-cpu-eval-s{k}" for k in (1, 2, 3)]
                                                             + [f"grpo-cpu-eval-bf16-s{k}" for k in (1, 2, 3)] + ["grpo-cpu-long", "grpo-cpu-long-eval",
                                                                                                         "grpo-cpu-long-eval-bf16"])
    assert recipe.get("grpo-cpu-long-eval-bf16").same_as == ("grpo-cpu-long-eval",)
    assert recipe.get("grpo-cpu-long-eval-bf16").config.backend_config_options()["weight_format"] == "bf16"
    long = recipe.get("grpo-cpu-long").config  # no seed axis: the study's seed, its best dev step kept, stopped on a slide into guesses
    assert (long.seed, long.max_steps, long.keep, long.stop_guessing, long.dev_n) == (42, 60, "best_dev", 0.25, 30)
    s2, e2 = recipe.get("grpo-cpu-s2"), recipe.get("grpo-cpu-eval-s2")
    assert (s2.config.seed, e2.config.seed, e2.needs) == (2, 42, ["grpo-cpu-s2"])  # the training seed varies, the questions do not
    assert e2.config.backend_options == {"adapter": str(tmp_path / "grpo-cpu-s2")}
    twin = recipe.get("grpo-cpu-eval-bf16-s2")  # same_as follows the seed too: each seed's bf16 eval is paired with that seed's int8 one
    assert (twin.same_as, twin.needs, twin.config.backend_options) == (
        ("grpo-cpu-eval-s2",), ["grpo-cpu-s2"], {"adapter": str(tmp_path / "grpo-cpu-s2"), "weight_format": "bf16"})
    order, added = recipe.plan(["grpo-cpu-eval"])  # the base name selects every seed
    assert [e.name for e in order] == [f"grpo-cpu-s{k}" for k in (1, 2, 3)] + [f"grpo-cpu-eval-s{k}" for k in (1, 2, 3)]
    (tmp_path / "bad").mkdir()
    bad = write_recipe(tmp_path / "bad", index=INDEX.replace("vars: {", "vars: {seed_suffix: x, "))
    assert "`seed_suffix` is a built-in variable" in refused(bad)


def test_sft_on_traces_is_the_same_run_wherever_the_traces_file_lies_and_another_when_edited(tmp_path: Path) -> None:
    """The traces path is not identity, their content is (a run trained through an absolute path is done in a
    clone that names the file relatively; before this, reproduce called such a run stale)."""
    from tinyreason.train.sft import data_record

    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    recipe = load_recipe(STUDY, {"model": "./qwen", "prompt": "cot"}, runs=runs)  # a fixed prompt: no protocol step to wait for
    sft = recipe.get("sft-self-structured")
    traces = Path(sft.config.traces)
    traces.parent.mkdir(parents=True)
    rows = [{"id": i, "question": f"q{i}?", "gold": str(i), "completion": f"... #### {i}"} for i in range(5)]
    traces.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elsewhere.mkdir()
    (elsewhere / "traces.jsonl").write_bytes(traces.read_bytes())
    trained = sft.config.model_copy(update={"traces": str(elsewhere / "traces.jsonl")})
    out = runs / "sft-self-structured"
    out.mkdir()
    record = {"config": trained.model_dump(mode="json"), "data": data_record(trained)}
    (out / "train_config.json").write_text(json.dumps(record))
    (out / "train_report.json").write_text(json.dumps({"ok": True}))

    def state() -> str:
        return next(r.state for r in survey(recipe, ["sft-self-structured"])[0] if r.name == "sft-self-structured")

    assert state() == "done"
    traces.write_text(traces.read_text().replace("... #### 3", "... #### 3.0"))  # one chain edited
    assert "data (the examples themselves, questions or chains: fingerprint)" in state()
    del record["data"]["fingerprint"]  # a record from before traces runs kept one: the chosen ids decide
    (out / "train_config.json").write_text(json.dumps(record))
    assert state() == "done"
    traces.unlink()
    assert "which cannot be read" in state()


def test_the_dry_run_says_which_eval_will_refuse_and_eval_refuses_it_before_the_model_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.backends.scripted import ScriptedBackend
    from tinyreason.prompts import get_prompt
    from tinyreason.verifier import AuditError, audit_path, write_audit

    audits = tmp_path / "audits"
    index = INDEX + f"  - {{name: sc-verifier, kind: eval, config: {{method: sc-verifier, method_options: {{n: 3, audit_dir: {audits}}}}}}}\n"
    recipe = load_recipe(write_recipe(tmp_path, index=index))
    state = lambda: {r.name: r.state for r in survey(recipe)[0]}["sc-verifier"]  # noqa: E731
    assert state() == f"missing (will refuse: no verifier audit for model '/models/fake-0.5b' with prompt 'verify' (looked for {audits}/<key>.json))"
    described = {"backend": "scripted", "model": "/models/fake-0.5b"}  # what the scripted backend will describe()
    path = audit_path(audits, described, get_prompt("verify"))
    write_audit(path, {"accuracy": 0.5, "total": 100, "ci95": [0.4, 0.6], "backend": described})
    assert state() == f"missing (will refuse: the verifier audit for model '/models/fake-0.5b' with prompt 'verify' scored 50.0% < gate 60% ({path}))"
    monkeypatch.setattr(ScriptedBackend, "__init__", lambda self, *a, **k: pytest.fail("the model loaded before the gate refused"))
    with pytest.raises(AuditError, match="sc-verifier refuses to run: the verifier audit .* scored 50.0% < gate 60%"):
        run_eval(recipe.get("sc-verifier").config, progress=False)
    assert not (tmp_path / "runs" / "sc-verifier").exists()
    write_audit(path, {"accuracy": 0.7, "total": 100, "ci95": [0.6, 0.8], "backend": described})
    assert state() == "missing"  # a passing audit: nothing to say


def test_sft_replicated_over_training_seeds_trains_on_sft_1000s_examples(tmp_path: Path, gsm8k_file: Path) -> None:
    """The seed axis beside sft-1000 changes the training seed, not the examples (split_seed = the study's seed);
    without split_seed the seed draws the examples too, as every run before the field (sft-1000 stays done)."""
    from tinyreason.identity import with_later_defaults
    from tinyreason.train.sft import SFTRunConfig, data_record

    recipe = load_recipe(STUDY, {"model": "./qwen", "prompt": "cot", "train_data": str(gsm8k_file)}, runs=tmp_path / "runs")
    one, two, three = (recipe.get(n).config for n in ("sft-1000", "sft-1000-s2", "sft-1000-s3"))
    assert (one.seed, one.split_seed, two.seed, two.split_seed, three.seed) == (42, None, 2, 42, 3)
    assert data_record(two)["ids"] == data_record(one)["ids"] == data_record(three)["ids"]
    assert data_record(one.model_copy(update={"seed": 2}))["ids"] != data_record(one)["ids"]
    assert recipe.get("sft-1000-eval-s2").needs == ["sft-1000-s2"] and recipe.get("sft-1000-eval-s3").config.backend_options["adapter"].endswith("/sft-1000-s3")
    stored = {k: v for k, v in one.model_dump(mode="json").items() if k != "split_seed"}  # a run from before the field
    assert with_later_defaults(stored, SFTRunConfig)["split_seed"] is None


def test_a_gpu_sized_experiment_is_skipped_saying_so_where_cuda_is_missing_unless_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`gpu: true`: on a machine without CUDA the dry run and the run say it is skipped and why, its dependents
    too, and nothing runs; where CUDA is, it runs like any other; a done one is done anywhere."""
    from tinyreason import reproduce as rp

    index = INDEX + "  - {name: big, kind: eval, gpu: true, config: {method: sc, method_options: {n: 3}}}\n" \
                    "  - {name: big-after, kind: eval, needs: [big], config: {method: greedy}}\n"
    recipe = load_recipe(write_recipe(tmp_path, index=index))
    monkeypatch.setattr(rp, "no_gpu", lambda: "needs a CUDA GPU, which this machine lacks")
    states = {r.name: r.state for r in survey(recipe)[0]}
    assert states["big"] == "missing (skipped here: needs a CUDA GPU, which this machine lacks)"
    assert states["big-after"] == "missing (skipped here: needs big, which needs a CUDA GPU, which this machine lacks)"
    outcomes = {o.name: o for o in rp.reproduce(recipe, ["big-after"], log=lambda m: None, progress=False).outcomes}
    assert (outcomes["big"].status, outcomes["big-after"].status) == ("skipped", "skipped")
    assert outcomes["big"].detail.startswith("needs a CUDA GPU, which this machine lacks") and "needs big" in outcomes["big-after"].detail
    assert not (tmp_path / "runs" / "big").exists()
    make_planned_run(tmp_path / "runs" / "big", recipe.get("big").config, simple_samples([0, 1, 2, 3], {0}))
    assert {r.name: r.state for r in survey(recipe)[0]}["big"] == "done 4 of 4"  # done anywhere
    monkeypatch.setattr(rp, "no_gpu", lambda: None)
    assert {r.name: r.state for r in survey(recipe)[0]}["big-after"] == "missing"


def test_the_dry_run_times_an_eval_by_the_rate_runs_like_it_measured_here(tmp_path: Path) -> None:
    """An eval with no run of its own is timed by the generated tokens per second of the recipe's runs with the
    same engine and method, else the slowest method on that engine; a partial one by its own rate."""
    recipe = load_recipe(write_recipe(tmp_path))
    make_planned_run(tmp_path / "runs" / "greedy", recipe.get("greedy").config, simple_samples([0, 1, 2, 3], {0}, tokens=100))  # 0.5 s each
    cost = {r.name: r.cost for r in survey(load_recipe(write_recipe(tmp_path)))[0]}
    assert cost["sc"] == "≈ 1k tok: 4 q × ≥ 3 completions × 100 tok; ≥ 6 s at 200 tok/s (the slowest method on scripted here)"
    grown = load_recipe(write_recipe(tmp_path, greedy="kind: eval\nconfig:\n  method: greedy\n  limit: 8\n"))  # greedy grows to 8
    cost = {r.name: r.cost for r in survey(grown)[0]}
    assert cost["greedy"] == "≈ 400 tok: 4 q × 1 completions × 100 tok; 2 s at 200 tok/s (its own so far)"
