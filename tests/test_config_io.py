"""YAML -> pydantic with file:line errors (config_io), and training configs built from flags or YAML alike."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
import typer
from pydantic import BaseModel, ConfigDict, Field
from typer.testing import CliRunner

from tinyreason.cli.config_flags import config_flags
from tinyreason.config_io import (ConfigFileError, ConfigSource, from_overrides, load_with_source, load_yaml_model, merge, parse_value,
                                  read_mapping, validate)
from tinyreason.train.memorize import MemorizeConfig
from tinyreason.train.sft import SFTRunConfig

runner = CliRunner()


def write(tmp_path: Path, text: str, name: str = "cfg.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(exc: pytest.ExceptionInfo[ConfigFileError]) -> list[str]:
    return exc.value.problems


def test_every_problem_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "# an SFT run\nmodel: m\ntrain_n: 5\nlora_rank: 3\nepochs: one\ntarget_modules:\n  - q_proj\n  - [v]\n")
    with pytest.raises(ConfigFileError) as e:
        load_yaml_model(path, SFTRunConfig)
    found = problems(e)
    assert f"{path}:4: lora_rank: unknown key (valid: model, " in found[-1] and "traces, train_n," in found[-1] and "data," in found[-1] and "lora_r," in found[-1]
    assert f"{path}:5: epochs (now num_train_epochs): Input should be a valid number, unable to parse string as a number (got 'one')" in found
    assert any(p.startswith(f"{path}:8: target_modules.1: Input should be a valid string") for p in found)
    assert len(found) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "cfg.yaml:2: duplicate key 'a' (first at {path}:1)"),
        ("model: [m\n", "cfg.yaml:2: not valid YAML"),
        ("- model\n", "cfg.yaml:1: expected a mapping of key: value at the top, got list"),
        ("lr_scheduler: cosin\n", "cfg.yaml:1: lr_scheduler (now lr_scheduler_type): Input should be 'linear', 'cosine', "),
        ("lr_scheduler_type: cosin\n", "'warmup_stable_decay' or 'greedy' (got 'cosin')"),
    ],
)
def test_unreadable_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigFileError) as e:
        load_yaml_model(path, SFTRunConfig)
    assert message.format(path=path) in str(e.value)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match=r"nope\.yaml: no such file"):
        load_yaml_model(tmp_path / "nope.yaml", SFTRunConfig)
    assert load_yaml_model(write(tmp_path, ""), SFTRunConfig) == SFTRunConfig()


def test_overrides_win_over_the_file_and_their_errors_name_the_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "lora_r: 4\nepochs: 3\n")
    cfg = load_yaml_model(path, SFTRunConfig, {"lora_r": 8})
    assert (cfg.lora_r, cfg.num_train_epochs) == (8, 3.0)
    with pytest.raises(ConfigFileError) as e:
        load_yaml_model(path, SFTRunConfig, {"lora_r": 0}, override_names={"lora_r": "--lora-r"})
    assert problems(e) == ["--lora-r: Input should be greater than or equal to 1 (got 0)"]


def test_merge_keeps_where_each_nested_key_came_from(tmp_path: Path) -> None:
    base = read_mapping(write(tmp_path, "opts:\n  a: 1\n  b: 2\nkeep: x\n", "base.yaml"))
    top = read_mapping(write(tmp_path, "opts:\n  b: 3\n", "top.yaml"))
    merged = merge(base, top)
    assert merged.data == {"opts": {"a": 1, "b": 3}, "keep": "x"}
    assert merged.at(("opts", "a")) == f"{tmp_path / 'base.yaml'}:2" and merged.at(("opts", "b")) == f"{tmp_path / 'top.yaml'}:2"
    assert merged.at(("keep",)) == f"{tmp_path / 'base.yaml'}:4"
    flags = merge(merged, from_overrides({"opts.a": 9}, {"opts.a": "--a"}))
    assert flags.data["opts"] == {"a": 9, "b": 3} and flags.at(("opts", "a")) == "--a"
    with pytest.raises(ConfigFileError, match=r"top\.yaml:1: opts: unknown key \(valid: model, data, k,"):
        validate(MemorizeConfig, top)


def test_parse_value_reads_yaml_scalars() -> None:
    assert [parse_value(v) for v in ("8", "0.5", "null", "true", "[a, b]", "runs/x")] == [8, 0.5, None, True, ["a", "b"], "runs/x"]


# -- training commands: flags generated from the config, or a --config file, give the same config --------------------

probe = typer.Typer()
seen: list[object] = []


@probe.command()
@config_flags(SFTRunConfig, aliases={"learning_rate": ["--lr"]})
def sft(cfg: SFTRunConfig, out: Path = typer.Option(Path("x"))) -> None:
    seen.append((cfg, out))


SFT_YAML = """\
model: tiny/model
data: train.jsonl
train_n: 8
epochs: 4
learning_rate: 0.01
lr_scheduler: constant
gradient_checkpointing: false
target_modules: [q_proj, v_proj]
"""
SFT_FLAGS = ["--model", "tiny/model", "--data", "train.jsonl", "--train-n", "8", "--epochs", "4", "--lr", "1e-2", "--lr-scheduler", "constant",
             "--no-gradient-checkpointing", "--target-modules", "q_proj", "--target-modules", "v_proj"]


def _run(args: list[str]) -> tuple[SFTRunConfig, Path]:
    seen.clear()
    res = runner.invoke(probe, args)
    assert res.exit_code == 0, res.output
    return seen[-1]  # type: ignore[return-value]


def test_training_config_from_flags_equals_config_from_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, SFT_YAML)
    from_flags, _ = _run(SFT_FLAGS)
    from_yaml, _ = _run(["--config", str(path)])
    assert from_flags == from_yaml == load_yaml_model(path, SFTRunConfig)
    assert from_flags.target_modules == ["q_proj", "v_proj"] and from_flags.gradient_checkpointing is False
    assert from_flags != SFTRunConfig()  # the comparison is not between two defaults


def test_flags_given_win_over_the_yaml_and_defaults_fill_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path, SFT_YAML)
    cfg, out = _run(["--config", str(path), "--train-n", "2", "--gradient-checkpointing", "--out", "runs/o"])
    assert (cfg.train_n, cfg.gradient_checkpointing, cfg.num_train_epochs, cfg.lora_r, out) == (2, True, 4.0, 16, Path("runs/o"))


def test_bad_values_are_refused_naming_the_flag_or_the_line(tmp_path: Path) -> None:
    res = runner.invoke(probe, ["--lora-r", "0"])
    assert res.exit_code == 2 and "--lora-r: Input should be greater than or equal to 1 (got 0)" in res.output
    res = runner.invoke(probe, ["--lr-scheduler", "cosin"])
    assert res.exit_code == 2 and "cosin" in res.output  # Typer lists the choices
    path = write(tmp_path, "train_n: 8\nlora_rank: 4\n")
    res = runner.invoke(probe, ["--config", str(path)])
    assert res.exit_code == 2 and f"{path}:2: lora_rank: unknown key" in res.output


def test_the_real_commands_take_a_config_file(tmp_path: Path) -> None:
    from tinyreason.cli import app

    path = write(tmp_path, "k: 2\nepochs: 3\nlora_r: 0\n")
    res = runner.invoke(app, ["memorize", "--config", str(path), "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and f"{path}:3: lora_r: Input should be greater than or equal to 1" in res.output
    assert not (tmp_path / "m").exists()


class Odd(BaseModel):
    """Field types a trainer config may have beyond SFT's: a mapping, ints in a list, an int choice."""

    model_config = ConfigDict(extra="forbid")

    reward_weights: dict[str, float] = Field(default_factory=dict, description="per reward")
    steps: list[int] = Field(default_factory=list, description="checkpoints")
    mode: Literal["a", "b"] = "a"
    bits: Literal[4, 8] = 4


odd = typer.Typer()


@odd.command()
@config_flags(Odd)
def odd_cmd(cfg: Odd) -> None:
    seen.append(cfg)


def test_flags_for_mappings_lists_and_non_string_choices(tmp_path: Path) -> None:
    seen.clear()
    args = ["--reward-weights", "{correct: 1.0, format: 0.5}", "--steps", "10", "--steps", "20", "--mode", "b", "--bits", "8"]
    res = runner.invoke(odd, args)
    assert res.exit_code == 0, res.output
    path = write(tmp_path, "reward_weights: {correct: 1.0, format: 0.5}\nsteps: [10, 20]\nmode: b\nbits: 8\n")
    assert seen[-1] == Odd(reward_weights={"correct": 1.0, "format": 0.5}, steps=[10, 20], mode="b", bits=8) == load_yaml_model(path, Odd)
    res = runner.invoke(odd, ["--bits", "6"])
    assert res.exit_code == 2 and "--bits: Input should be 4 or 8 (got 6)" in res.output


class Switches(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(10, ge=1, description="steps")
    learning_rate: float = Field(0.1, gt=0, description="rate")
    use_fast: bool = Field(False, description="a switch")


switches = typer.Typer()


@switches.command()
@config_flags(Switches, aliases={"learning_rate": ["--lr"], "use_fast": ["--no-fast"]}, file_flags=("--recipe", "--config"))
def switches_cmd(cfg: Switches, source: ConfigSource) -> None:
    seen.append((cfg, source))


def test_a_command_can_name_its_file_flag_and_learn_where_each_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "steps: 3\nuse_fast: true\n")
    for file_flag in ("--recipe", "--config"):
        seen.clear()
        res = runner.invoke(switches, [file_flag, str(path), "--lr", "0.5", "--no-fast"])
        assert res.exit_code == 0, res.output
        cfg, source = seen[-1]
        assert cfg == Switches(steps=3, learning_rate=0.5, use_fast=False)  # --no-fast turns off what the file turned on
        assert (source.where("steps"), source.where("learning_rate"), source.where("use_fast")) == (f"{path}:1", "--learning-rate/--lr", "--use-fast")
        assert source.file == path and source.flags == {"learning_rate": "--learning-rate/--lr", "use_fast": "--use-fast"}
    res = runner.invoke(switches, ["--lr", "0"])
    assert res.exit_code == 2 and "--learning-rate/--lr: Input should be greater than 0 (got 0.0)" in res.output
    _, source = load_with_source(None, Switches)
    assert source.where("steps") == "default" and source.file is None
