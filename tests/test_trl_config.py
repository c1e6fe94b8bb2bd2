"""The training configs extend TRL's (train/trl_config.py): every trl.GRPOConfig / trl.SFTConfig field by its TRL name,
from YAML and flags, reaching the trainer; tinyreason's old names still load; committed runs keep their identity."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from tinyreason.cli.config_flags import config_flags
from tinyreason.config_io import ConfigFileError, ConfigSource, load_yaml_model
from tinyreason.train.checkpoints import config_differences
from tinyreason.train.grpo import trainer_args as grpo_args
from tinyreason.train.grpo_config import FLAG_ALIASES, GRPORunConfig, load_grpo_config
from tinyreason.train.sft import SFTRunConfig
from tinyreason.train.sft import trainer_args as sft_args

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()
probe = typer.Typer()
seen: list[tuple[object, ConfigSource]] = []


@probe.command()
@config_flags(GRPORunConfig, aliases=FLAG_ALIASES, file_flags=("--recipe", "--config"))
def grpo(cfg: GRPORunConfig, source: ConfigSource) -> None:
    seen.append((cfg, source))


def _flags(args: list[str]) -> tuple[object, ConfigSource]:
    seen.clear()
    res = runner.invoke(probe, args)
    assert res.exit_code == 0, res.output
    return seen[-1]


def test_every_trl_field_is_a_field_by_its_trl_name_with_trls_help_or_refused_saying_why() -> None:
    from trl import GRPOConfig, SFTConfig

    for model, trl_cls in ((GRPORunConfig, GRPOConfig), (SFTRunConfig, SFTConfig)):
        trl_fields = {f.name: f for f in dataclasses.fields(trl_cls)}
        assert set(trl_fields) == set(model.TRL_FIELDS) | set(model.REFUSED)
        assert not set(model.TRL_FIELDS) & set(model.REFUSED) and "output_dir" in model.REFUSED
        for name in model.TRL_FIELDS:
            assert model.model_fields[name].description.startswith(trl_fields[name].metadata["help"]), name


def test_a_trl_option_tinyreason_never_mirrored_reaches_grpo_config_from_yaml_and_from_a_flag(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("epsilon: 0.28\nadam_beta2: 0.99\ntop_k: 20\nlr_scheduler_type: cosine_with_min_lr\n"
                      "lr_scheduler_kwargs: {min_lr_rate: 0.1}\n")
    cfg, src = load_grpo_config(recipe, {})
    assert src.where("epsilon") == f"{recipe}:1"
    from_flags, _ = _flags(["--epsilon", "0.28", "--adam-beta2", "0.99", "--top-k", "20", "--lr-scheduler-type", "cosine_with_min_lr",
                            "--lr-scheduler-kwargs", "{min_lr_rate: 0.1}"])
    assert from_flags == cfg
    args = grpo_args(cfg, tmp_path / "run", "cpu", "float32", 1, [1.0, 0.1])
    assert (args.epsilon, args.adam_beta2, args.top_k, args.lr_scheduler_kwargs) == (0.28, 0.99, 20, {"min_lr_rate": 0.1})
    assert (args.output_dir, args.use_cpu, args.bf16, args.reward_weights) == (str(tmp_path / "run"), True, False, [1.0, 0.1])
    assert args.gradient_accumulation_steps == cfg.generation_batch_size // cfg.per_device_train_batch_size
    assert args.data_seed == cfg.seed  # None in the config: the seed, as before


def test_the_trainer_gets_every_trl_field_as_the_config_holds_it(tmp_path: Path) -> None:
    for cfg, args in ((GRPORunConfig(), grpo_args(GRPORunConfig(), tmp_path, "cpu", "float32", 1, [1.0])),
                      (SFTRunConfig(), sft_args(SFTRunConfig(), tmp_path, "cpu", "float32"))):
        values = cfg.trl_values()
        got = {n: getattr(args, n) for n in values}
        got = {n: v.value if hasattr(v, "value") else v for n, v in got.items()}  # TRL turns a few strings into enums
        changed = {n for n in values if got[n] != values[n]}
        # TrainingArguments/TRL __post_init__ resolve these ("auto", None, "none" -> []); everything else is passed through as set
        assert changed <= {"activation_checkpointing", "report_to", "accelerator_config", "dataloader_pin_memory", "debug",
                           "pad_to_multiple_of", "steps_per_generation"}, changed


def test_old_names_load_as_trl_names_in_yaml_flags_and_code(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("generation_batch_size: 8\nbatch_size: 4\nlr_scheduler: cosine\nwarmup: 0.1\nsave_every: 5\n")
    cfg, src = load_grpo_config(recipe, {})
    assert (cfg.per_device_train_batch_size, cfg.lr_scheduler_type, cfg.warmup_steps, cfg.save_steps) == (4, "cosine", 0.1, 5)
    assert src.where("per_device_train_batch_size") == f"{recipe}:2"  # the line that says batch_size
    flags, _ = _flags(["--generation-batch-size", "8", "--batch-size", "4", "--lr-scheduler", "cosine", "--warmup", "0.1", "--save-every", "5"])
    assert flags == cfg == GRPORunConfig(generation_batch_size=8, batch_size=4, lr_scheduler="cosine", warmup=0.1, save_every=5)
    over, _ = load_grpo_config(recipe, {"per_device_train_batch_size": 2})  # a TRL-named flag wins over the file's old name
    assert over.per_device_train_batch_size == 2
    sft = load_yaml_model(_write(tmp_path, "epochs: 2\ngrad_accum: 8\n"), SFTRunConfig)
    assert (sft.num_train_epochs, sft.gradient_accumulation_steps) == (2.0, 8)
    with pytest.raises(ConfigFileError, match=r"s\.yaml:1: batch_size: the old name of per_device_train_batch_size, which is set too"):
        load_yaml_model(_write(tmp_path, "batch_size: 2\nper_device_train_batch_size: 4\n"), SFTRunConfig)
    with pytest.raises(ConfigFileError, match=r"s\.yaml:1: epochs \(now num_train_epochs\): Input should be greater than 0"):
        load_yaml_model(_write(tmp_path, "epochs: 0\n"), SFTRunConfig)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_computed_fields_are_refused_saying_why(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError) as e:
        load_grpo_config(_write(tmp_path, "seed: 1\noutput_dir: runs/x\ngradient_accumulation_steps: 4\n"), {})
    assert e.value.problems == [
        f"{tmp_path / 's.yaml'}:2: output_dir: set by tinyreason, not by a recipe or flag: the run directory is --out (the adapter "
        "folder, checkpoints and train_config.json)",
        f"{tmp_path / 's.yaml'}:3: gradient_accumulation_steps: set by tinyreason, not by a recipe or flag: generation_batch_size / "
        "(per_device_train_batch_size x processes): set generation_batch_size"]
    with pytest.raises(ValidationError, match="bf16: set by tinyreason"):
        SFTRunConfig(bf16=True)
    res = runner.invoke(probe, ["--output-dir", "x"])
    assert res.exit_code == 2 and "No such option" in res.output
    assert load_yaml_model(_write(tmp_path, "gradient_accumulation_steps: 4\n"), SFTRunConfig).gradient_accumulation_steps == 4  # SFT's is an option


@pytest.mark.parametrize("run", ["grpo", "sft-1000", "memorize-5x20", "memorize-20x10"])
def test_a_committed_run_with_the_old_names_is_still_the_same_run(run: str) -> None:
    path = ROOT / "results" / "runs" / run / "train_config.json"
    if not path.is_file():
        pytest.skip(f"no committed {run}")
    record = json.loads(path.read_text())
    stored, model = record["config"], {"grpo": GRPORunConfig, "sft": SFTRunConfig}[record["kind"]]
    assert {"batch_size", "lr_scheduler", "warmup"} <= set(stored)  # written before the configs took TRL's names
    now = model(**stored).model_dump(mode="json")  # the same settings, written today
    assert "batch_size" not in now and config_differences(stored, now, model) == []
    other = {**now, "per_device_train_batch_size": stored["batch_size"] + 1}
    assert config_differences(stored, other, model) == [
        f"per_device_train_batch_size: stored {stored['batch_size']} != now {stored['batch_size'] + 1}"]


def test_loading_a_config_does_not_import_trl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the field table cached (the first use builds it), parsing recipes and flags never imports trl or torch."""
    from tinyreason.train.trl_config import table_path, trl_table

    tables = {name: trl_table(name) for name in ("GRPOConfig", "SFTConfig")}
    monkeypatch.setenv("TINYREASON_CACHE", str(tmp_path))
    for name, table in tables.items():
        table_path(name).parent.mkdir(parents=True, exist_ok=True)
        table_path(name).write_text(json.dumps(table))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    code = "import sys; import tinyreason.cli; from tinyreason.train.grpo_config import GRPORunConfig; GRPORunConfig(epsilon=0.3); " \
           "assert 'trl' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in ('trl', 'torch') if m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
