"""Resuming an adapter-training run (`train sft`, `train grpo`) from its Trainer checkpoints.

The Trainer writes RUN/checkpoint-N (adapter, optimizer, scheduler, RNG) every `save_steps` optimizer steps.
A rerun of the same command after a crash, Ctrl-C or kill -9 continues from the newest *complete* one
(`trainer.train(resume_from_checkpoint=...)`: the step count, learning-rate schedule and data order carry
on); a rerun whose config (except the fields a run declares resumable), data or resolved hardware differs is
refused with the differing fields named, never mixed into the old run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from tinyreason.identity import compare

console = Console(stderr=True, soft_wrap=True)


def checkpoint_step(path: str | Path) -> int:
    return int(Path(path).name.rsplit("-", 1)[1])


def checkpoints(out: Path) -> list[Path]:
    return [d for d in out.glob("checkpoint-*") if d.is_dir() and d.name.rsplit("-", 1)[1].isdigit()]


def is_complete(checkpoint: Path) -> bool:
    try:
        return json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == checkpoint_step(checkpoint)
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return False


def last_checkpoint(out: Path, *, remove_torn: bool) -> str | None:
    """The newest *complete* checkpoint. The Trainer writes trainer_state.json last, so a checkpoint whose
    state file is missing or unreadable was cut off by the kill; it is skipped (and removed when
    `remove_torn`, so checkpoint rotation never counts it)."""
    for d in sorted(checkpoints(out), key=checkpoint_step, reverse=True):
        if is_complete(d):
            return str(d)
        console.print(f"[yellow]skipping the incomplete checkpoint {d}[/] (cut off mid-write)")
        if remove_torn:
            shutil.rmtree(d)
    return None


def config_differences(stored: dict[str, Any], now: dict[str, Any], model: type[BaseModel]) -> list[str]:
    """What makes the run config `now` (a `model` dump) another training run than `stored` (from its
    train_config.json): tinyreason.identity.compare over the model's fields, its RESUMABLE ones left out,
    fields the run predates at their default — and not the path of the data or of a traces file (the data is
    its content: the run record's, which data_differences compares for refuse_other_run and reproduce's state)."""
    a, b = ({k: v for k, v in c.items() if k not in DATA_PATHS} for c in (stored, now))
    return compare(a, b, model=model)


DATA_PATHS = ("data", "traces")  # config fields that name where the examples are; the record holds what they are


def data_differences(stored: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """How the examples recorded in two train_config.json "data" records differ: their content fingerprint and
    the ids chosen. A record from before traces runs kept a fingerprint has none: its ids alone decide."""
    diff = []
    if "fingerprint" in stored and stored.get("fingerprint") != now.get("fingerprint"):
        diff.append("data (the examples themselves, questions or chains: fingerprint)")
    if stored.get("ids") != now.get("ids"):
        diff.append("data (the examples chosen: ids)")
    return diff


def code_differences(stored: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The plug-in code a run record names (`plugins`: file and sha256, e.g. a GRPO run's reward) that differs
    between two records: an edited reward is another run."""
    was, now = ({r["source"]: r["sha256"] for r in c.get("plugins", [])} for c in (stored, config))
    changed = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
    return [f"plugins (the code of {', '.join(changed)})"] if changed else []


def refuse_other_run(out: Path, stored: dict[str, Any], config: dict[str, Any], model: type[BaseModel]) -> None:
    """Raise FileExistsError unless `stored` (the run's train_config.json) is the run `config` describes:
    same kind, same config (config_differences), same data content, same resolved hardware."""
    kind = config["kind"]
    if stored.get("kind") != kind:
        raise FileExistsError(f"{out} holds a '{stored.get('kind')}' training run; choose another --out, or --force to overwrite it")
    diff = config_differences(stored["config"], config["config"], model)
    diff += data_differences(stored.get("data", {}), config["data"])
    diff += code_differences(stored, config)
    name = kind.upper()
    if diff:
        raise FileExistsError(f"{out} holds a {name} run with another config (differs in: {'; '.join(diff)}); rerun with the same "
                              "recipe and flags to resume it, choose another --out, or pass --force to start over")
    was, now = hardware(stored), hardware(config)
    if None not in was and was != now:  # "auto" in the config resolves per machine: a CPU LoRA run must not go on as QLoRA
        raise FileExistsError(f"{out} holds a {name} run trained as {'/'.join(was)} (mode/device/dtype) but here it resolves to "
                              f"{'/'.join(now)}; resuming would continue its adapter on another base. Resume on a machine like the "
                              "first, or set --quantization/--device/--dtype to match train_config.json, or choose another --out, "
                              "or pass --force to start over")


def hardware(config: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(mode, device type, dtype) as resolved: the device index is left out, since each process has its own cuda:N."""
    device = config.get("device")
    return config.get("mode"), device.split(":")[0] if isinstance(device, str) else None, config.get("dtype")


def start_or_resume(config_path: Path, config: dict[str, Any], force: bool, model: type[BaseModel], *, main: bool,
                    clear: Callable[[Path], None], on_resume: Callable[[str], str]) -> str | None:
    """Start, or continue, the run whose train_config.json is `config_path`; returns the checkpoint to resume
    from (None: a fresh start). A stored run that is another run (refuse_other_run) is refused unless `force`.
    Every process checks; only the main one (`main`; rank 0 under `accelerate launch`) writes or removes:
    on a resume it calls `on_resume(checkpoint)` (whose words go in the message) and records the resume in
    the config; on a fresh start it calls `clear(run directory)`, then writes the config."""
    out = config_path.parent
    if config_path.is_file() and not force:
        stored = json.loads(config_path.read_text())
        refuse_other_run(out, stored, config, model)
        last = last_checkpoint(out, remove_torn=main)
        if last is not None:
            if main:
                console.print(f"[bold]resuming[/] from {last} ({on_resume(last)})")
                config["resumed"] = [*stored.get("resumed", []), {"from": Path(last).name, "created": config["created"]}]
                config["created"] = stored.get("created", config["created"])
                write_json(config_path, config)
            return last
        if main:
            console.print(f"{out}: the same run, interrupted before its first checkpoint: starting it over")
    if main:
        clear(out)
        write_json(config_path, config)
    return None


def write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
