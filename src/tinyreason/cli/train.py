"""Training commands: `train sft`, `train merge`, `memorize`, `inspect-memorization`, `report overfit`.

    tinyreason train sft --model Qwen/Qwen2.5-0.5B-Instruct --train-n 2000 --num-train-epochs 1 --out runs/sft-human
    tinyreason train sft --traces traces.jsonl --out runs/sft-distill
    tinyreason eval --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/sft-human --limit 600
    tinyreason train merge --adapter runs/sft-human --out models/sft-human
    tinyreason memorize --k 5 --epochs 20 --out runs/5_20ep
    tinyreason inspect-memorization --experiment-id 5_20ep --print-raw
    tinyreason report overfit --out results/

Flags are generated from the pydantic config models (train/sft.py, train/memorize.py), documented once there;
`--config FILE` reads the same fields from YAML, and flags given on the command line win over the file:
    tinyreason train sft --config recipes/sft.yaml --train-n 200
Heavy imports (torch, trl, peft) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import app, console, fail, slug
from tinyreason.cli.config_flags import config_flags
from tinyreason.train.memorize import MemorizeConfig
from tinyreason.train.sft import SFTRunConfig

train_app = typer.Typer(no_args_is_help=True, help="Fine-tune a model (LoRA / QLoRA) and merge adapters.")
app.add_typer(train_app, name="train")


def _report_app() -> typer.Typer:
    """The `report` group, shared with any other module that adds reports (whichever registers first creates it)."""
    for group in app.registered_groups:
        if group.name == "report" and group.typer_instance is not None:
            return group.typer_instance
    sub = typer.Typer(no_args_is_help=True, help="Render reports from run directories (no model needed).")
    app.add_typer(sub, name="report")
    return sub


report_app = _report_app()


def _errors() -> tuple[type[BaseException], ...]:
    from tinyreason.data import DataError
    from tinyreason.train.checks import CheckFailed

    return (ValueError, DataError, FileNotFoundError, FileExistsError, ImportError, KeyError, CheckFailed)


def sittings(t: dict[str, Any]) -> str:
    """' (N s over K sittings)' for a run resumed at least once (train/clock.py); '' for one sitting."""
    if t.get("resumed_from_step") is None:
        return ""
    whole = t.get("wall_s_all_sittings")
    return f" this sitting ({whole:.0f} s over {t['sittings']} sittings)" if whole is not None else " this sitting (earlier sittings' time unknown)"


def _print_train_report(report: dict[str, Any], out: Path) -> None:
    t, c = report["train"], report["checks"]
    curve = c["loss_curve"]
    console.print(f"[bold green]trained[/] {t['examples']} examples · {t['optimizer_steps']} optimizer steps · {t['wall_s']:.0f} s"
                  f"{sittings(t)} · loss {curve['first']:.3f} → {curve['last']:.3f} · {report['mode_note']}")
    console.print(f"checks: prompt parity ok · adapter active ok (max |Δlogit| {c['adapter_active']['logits_max_abs_diff']:.3g}) · loss curve {out / 'loss.png'}")
    if "peak_gpu_memory_gib" in report:
        console.print(f"peak GPU memory {report['peak_gpu_memory_gib']:.2f} GiB on {report['gpu']}")
    console.print(f"adapter + run record: {out}   (evaluate: tinyreason eval --adapter {out} ...)")


@train_app.command("sft")
@config_flags(SFTRunConfig, aliases={"learning_rate": ["--lr"]})
def sft_cmd(
    cfg: SFTRunConfig,
    out: Optional[Path] = typer.Option(None, help="run directory = adapter folder (default runs/sft-<model>-<data>-n<N>)"),
    force: bool = typer.Option(False, help="overwrite a previous training run in --out"),
) -> None:
    """Supervised fine-tuning (LoRA; QLoRA on CUDA) on GSM8K human traces or a traces file, with pipeline checks."""
    from tinyreason.train.sft import train_sft

    out = out or Path("runs") / f"sft-{slug(cfg.model)}-{'traces' if cfg.traces else 'human'}-n{cfg.train_n}"
    try:
        result = train_sft(cfg, out, force=force)
    except _errors() as e:
        fail(str(e).strip("'\""))
    _print_train_report(result.report, out)


@train_app.command("merge")
def merge_cmd(
    adapter: Path = typer.Option(..., help="adapter folder (a `train sft` run directory)"),
    out: Path = typer.Option(..., help="new folder for the standalone merged model"),
    model: Optional[str] = typer.Option(None, help="base model (default: the one the adapter was trained on)"),
    dtype: str = typer.Option("auto", help="auto (the base's stored dtype), bfloat16, float16, float32"),
) -> None:
    """Merge a LoRA adapter into its base model: a folder `tinyreason eval --model DIR` loads without peft."""
    from tinyreason.train.merge import merge_adapter

    try:
        info = merge_adapter(adapter, out, model=model, dtype=dtype)
    except _errors() as e:
        fail(str(e).strip("'\""))
    console.print(f"[bold green]merged[/] {info['adapter']} into {info['base_model']} ({info['dtype']}, {info['params'] / 1e6:.1f}M params) -> {out}")


@app.command("memorize")
@config_flags(MemorizeConfig, aliases={"learning_rate": ["--lr"]})
def memorize_cmd(
    cfg: MemorizeConfig,
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/<k>_<epochs>ep)"),
    force: bool = typer.Option(False, help="overwrite a previous run in --out"),
) -> None:
    """Memorization audit: train on k examples for E epochs, then check the model reproduces them."""
    from tinyreason.train.memorize import memorize
    from tinyreason.train.overfit import print_inspection

    out = out or Path("runs") / f"{cfg.k}_{cfg.epochs:g}ep"
    try:
        record = memorize(cfg, out, force=force)
    except _errors() as e:
        fail(str(e).strip("'\""))
    print_inspection(record, console)
    console.print(f"audit: {out / 'memorization.json'}")


@app.command("inspect-memorization")
def inspect_memorization_cmd(
    experiment_id: str = typer.Option(..., help="run directory name under --runs-dir (e.g. 5_20ep)"),
    runs_dir: Path = typer.Option(Path("runs"), help="folder holding the memorization runs"),
    print_raw: bool = typer.Option(False, help="also print each training target and raw generation in full"),
) -> None:
    """Print a memorization audit: Example / Expected / Generated / Match, optionally the raw generations."""
    from tinyreason.train.memorize import load_record
    from tinyreason.train.overfit import print_inspection

    try:
        record = load_record(runs_dir / experiment_id)
    except FileNotFoundError as e:
        fail(str(e))
    print_inspection(record, console, print_raw=print_raw)


@report_app.command("overfit")
def report_overfit_cmd(
    run_dirs: Optional[list[Path]] = typer.Argument(None, help="memorization run directories, or folders of them (default: runs/)"),
    out: Path = typer.Option(Path("results"), help="folder for OVERFIT_REPORT.md"),
) -> None:
    """Write OVERFIT_REPORT.md from memorization runs (no model needed)."""
    from tinyreason.train.overfit import find_audits, write_report

    try:
        path = write_report(find_audits(run_dirs or [Path("runs")]), out)
    except (FileNotFoundError, KeyError, ValueError) as e:
        fail(str(e))
    console.print(f"wrote {path}")
