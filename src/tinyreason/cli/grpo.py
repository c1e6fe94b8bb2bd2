"""`train grpo` and `train grpo-show`: reinforcement learning on the grader's reward, and what it changed.

    tinyreason train grpo --model Qwen/Qwen2.5-0.5B-Instruct --recipe recipes/grpo-4gb.yaml --out runs/grpo
    tinyreason train grpo --recipe recipes/grpo-4gb.yaml --data gsm8k/train.jsonl --max-steps 2 --out runs/smoke
    tinyreason train grpo-show runs/grpo --id 1234 --max-chars 400
    accelerate launch -m tinyreason train grpo --recipe recipes/grpo-4gb.yaml --out runs/grpo

The recipe fills the run config (train/grpo_config.py), each flag given overrides its field; a flag not
given leaves the recipe's value. Rerun the same command to resume from the last checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import console, fail, slug
from tinyreason.cli.train import _errors, train_app
from tinyreason.train.grpo_config import GRPORunConfig


def _help(field: str) -> str:
    return (GRPORunConfig.model_fields[field].description or "") + " (default: the recipe's)"


@train_app.command("grpo")
def grpo_cmd(
    recipe: Optional[Path] = typer.Option(None, help="YAML recipe filling the run config, e.g. recipes/grpo-4gb.yaml (default: the built-in defaults)"),
    out: Optional[Path] = typer.Option(None, help="run directory = adapter folder (default runs/grpo-<model>); rerun to resume"),
    model: Optional[str] = typer.Option(None, help=_help("model")),
    data: Optional[str] = typer.Option(None, help=_help("data")),
    max_steps: Optional[int] = typer.Option(None, help=_help("max_steps")),
    lr: Optional[float] = typer.Option(None, "--lr", help=_help("learning_rate")),
    num_generations: Optional[int] = typer.Option(None, help=_help("num_generations")),
    generation_batch_size: Optional[int] = typer.Option(None, help=_help("generation_batch_size")),
    batch_size: Optional[int] = typer.Option(None, help=_help("batch_size")),
    max_completion_length: Optional[int] = typer.Option(None, help=_help("max_completion_length")),
    beta: Optional[float] = typer.Option(None, help=_help("beta")),
    seed: Optional[int] = typer.Option(None, help=_help("seed")),
    train_n: Optional[int] = typer.Option(None, help=_help("train_n")),
    dev_n: Optional[int] = typer.Option(None, help=_help("dev_n")),
    eval_every: Optional[int] = typer.Option(None, help=_help("eval_every")),
    dev_max_new_tokens: Optional[int] = typer.Option(None, help=_help("dev_max_new_tokens")),
    save_every: Optional[int] = typer.Option(None, help=_help("save_every")),
    quantization: Optional[str] = typer.Option(None, help=_help("quantization")),
    gradient_checkpointing: Optional[bool] = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing", help=_help("gradient_checkpointing")),
    use_vllm: Optional[bool] = typer.Option(None, "--use-vllm/--no-vllm", help=_help("use_vllm")),
    device: Optional[str] = typer.Option(None, help=_help("device")),
    dtype: Optional[str] = typer.Option(None, help=_help("dtype")),
    force: bool = typer.Option(False, help="start over in --out, deleting its checkpoints and metrics"),
) -> None:
    """GRPO with a LoRA adapter (QLoRA on CUDA), rewarded by the eval grader, with a dev slice watched."""
    from tinyreason.models import ModelLoadError
    from tinyreason.train.checks import CheckFailed
    from tinyreason.train.config_io import ConfigError
    from tinyreason.train.grpo import train_grpo
    from tinyreason.train.grpo_config import load_grpo_config

    # every option but --lr is named as its config field: the flags given (not None) are read off the arguments
    overrides = {k: v for k, v in locals().items() if k in GRPORunConfig.model_fields} | {"learning_rate": lr}
    try:
        cfg, src = load_grpo_config(recipe, overrides)
        out = out or Path("runs") / f"grpo-{slug(cfg.model)}"
        result = train_grpo(cfg, out, source=src, force=force)
    except (ConfigError, CheckFailed, ModelLoadError, *_errors()) as e:
        fail(str(e).strip("'\""))
        return
    _print_report(result.report, out)


def _print_report(report: dict[str, Any], out: Path) -> None:
    t = report["train"]
    console.print(f"[bold green]trained[/] {t['optimizer_steps']} steps ({t['steps_this_session']} this session"
                  + (f", resumed from step {t['resumed_from_step']}" if t["resumed_from_step"] is not None else "")
                  + f") · {t['wall_s']:.0f} s · {t['s_per_step_excluding_dev_eval'] or 0:.1f} s/step without dev evals · {report['mode_note']}")
    if "peak_gpu_memory_gib" in report:
        console.print(f"peak GPU memory {report['peak_gpu_memory_gib']:.2f} GiB on {report['gpu']}")
    for w in report["warnings"]:
        console.print(f"[bold red]WARNING:[/] {w}")
    console.print(f"curves {out / 'curves.png'} · metrics {out / 'metrics.jsonl'} · watched completions: tinyreason train grpo-show {out}")
    console.print(f"adapter + run record: {out}   (evaluate: tinyreason eval --adapter {out} ...)")


@train_app.command("grpo-show")
def grpo_show_cmd(
    run: Path = typer.Argument(..., help="a `train grpo` run directory"),
    id: Optional[int] = typer.Option(None, "--id", help="one watched dev question (default: all of them)"),
    max_chars: Optional[int] = typer.Option(600, help="cut each completion after this many characters"),
) -> None:
    """How the watched dev questions' completions changed across a GRPO run's evaluations (no model needed)."""
    from tinyreason.analysis.loading import AnalysisError
    from tinyreason.analysis.show import render_training_watch

    try:
        render_training_watch(run, console, id, max_chars)
    except AnalysisError as e:
        fail(str(e))
