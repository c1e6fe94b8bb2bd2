"""`train grpo` and `train grpo-show`: reinforcement learning on the grader's reward, and what it changed.

    tinyreason train grpo --model Qwen/Qwen2.5-0.5B-Instruct --recipe recipes/grpo-4gb.yaml --out runs/grpo
    tinyreason train grpo --recipe recipes/grpo-4gb.yaml --data gsm8k/train.jsonl --max-steps 2 --out runs/smoke
    tinyreason train grpo --include my_rewards.py --recipe my-grpo.yaml --out runs/mine   # rewards: [{name: my-reward}, ...]
    tinyreason train grpo-show runs/grpo --id 1234 --max-chars 400
    tinyreason train rewards --include my_rewards.py            # the rewards a recipe's `rewards:` may name, with their options
    accelerate launch -m tinyreason train grpo --recipe recipes/grpo-4gb.yaml --out runs/grpo

Every field of the run config (train/grpo_config.py: tinyreason's and every trl.GRPOConfig option by its TRL name)
is a flag, generated from the model as for `train sft` (`max_steps` -> `--max-steps`, `epsilon` -> `--epsilon`;
`--lr` is kept as a short form of `--learning-rate`, `--no-vllm` of `--no-use-vllm`, and the old names as flags:
`--batch-size` for `--per-device-train-batch-size`, `--save-every` for `--save-steps`, ...). `--recipe FILE` (also spelled `--config`) reads the same fields from YAML; each flag given
overrides its field, a flag not given leaves the recipe's value. Rerun the same command to resume from the
last checkpoint. `--include FILE.py` loads a plug-in whose rewards the recipe's `rewards:` list may name
(docs/extending.md); the run config records its file and sha256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import console, fail, slug
from tinyreason.cli.config_flags import config_flags
from tinyreason.cli.train import _errors, sittings, train_app
from tinyreason.config_io import ConfigSource
from tinyreason.train.grpo_config import FLAG_ALIASES, GRPORunConfig


def _load_plugins(include: list[str]) -> list[str]:
    """Entry-point plug-ins and the --include files, loaded while the flags are parsed: before the recipe is
    validated, so its `rewards` may name a plug-in's reward."""
    from tinyreason.plugins import PluginError, load

    try:
        load(list(include or []))
    except PluginError as e:
        fail(str(e))
    return include


@train_app.command("grpo")
@config_flags(GRPORunConfig, aliases=FLAG_ALIASES, file_flags=("--recipe", "--config"))
def grpo_cmd(
    cfg: GRPORunConfig,
    source: ConfigSource,
    include: list[str] = typer.Option([], "--include", callback=_load_plugins,
                                      help="a plug-in .py file registering rewards (@register_reward) the recipe's `rewards` names; repeatable"),
    out: Optional[Path] = typer.Option(None, help="run directory = adapter folder (default runs/grpo-<model>); rerun to resume"),
    force: bool = typer.Option(False, help="start over in --out, deleting its checkpoints and metrics"),
) -> None:
    """GRPO with a LoRA adapter (QLoRA on CUDA), rewarded by the eval grader, with a dev slice watched."""
    from tinyreason.models import ModelLoadError
    from tinyreason.train.grpo import train_grpo

    out = out or Path("runs") / f"grpo-{slug(cfg.model)}"
    try:
        result = train_grpo(cfg, out, source=source, force=force)
    except (ModelLoadError, *_errors()) as e:  # a recipe check's ConfigFileError is a ValueError
        fail(str(e).strip("'\""))
    _print_report(result.report, out)


def _print_report(report: dict[str, Any], out: Path) -> None:
    t = report["train"]
    console.print(f"[bold green]trained[/] {t['optimizer_steps']} steps ({t['steps_this_session']} this session"
                  + (f", resumed from step {t['resumed_from_step']}" if t["resumed_from_step"] is not None else "")
                  + f") · {t['wall_s']:.0f} s{sittings(t)}, {t['dev_eval_s']:.0f} s of them dev evals · {t['s_per_step_excluding_dev_eval'] or 0:.1f} "
                  f"s/step without dev evals · {report['mode_note']}")
    if "peak_gpu_memory_gib" in report:
        console.print(f"peak GPU memory {report['peak_gpu_memory_gib']:.2f} GiB on {report['gpu']}")
    for w in report["warnings"]:
        console.print(f"[bold red]WARNING:[/] {w}")
    console.print(f"curves {out / 'curves.png'} · metrics {out / 'metrics.jsonl'} · watched completions: tinyreason train grpo-show {out}")
    console.print(f"adapter + run record: {out}   (evaluate: tinyreason eval --adapter {out} ...)")


@train_app.command("rewards")
def rewards_cmd(include: list[str] = typer.Option([], "--include", help="a plug-in .py file registering rewards; repeatable")) -> None:
    """List the GRPO rewards a recipe's `rewards:` may name: built-in and plug-ins, with their options."""
    from rich.markup import escape

    from tinyreason.plugins import origin
    from tinyreason.train.rewards import get_reward, reward_names

    _load_plugins(include)
    for name in reward_names():
        r = get_reward(name)
        where = origin("reward", name)
        doc = (r.fn.__doc__ or "").strip().split("\n")[0]
        console.print(f"[bold]{name}[/]" + ("" if where == "built-in" else f" [dim](plug-in: {escape(where)})[/]") + f" — {escape(doc)}",
                      highlight=False)
        fields = r.options.model_fields if r.options is not None else {}
        options = ", ".join(f"{k}={f.get_default()!r}" if not f.is_required() else f"{k} (required)" for k, f in fields.items())
        bound = ", ".join(f"{k} from {v}" for k, v in r.from_config.items())
        console.print(f"    options: {options or 'none'}" + (f"; set by the run: {bound}" if bound else ""), highlight=False, markup=False)


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
