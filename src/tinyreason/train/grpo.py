"""GRPO with a LoRA adapter on a small GPU: a thin layer over TRL's GRPOTrainer, rewarded by the one grader.

    tinyreason train grpo --model Qwen/Qwen2.5-0.5B-Instruct --recipe recipes/grpo-4gb.yaml --out runs/grpo
    tinyreason train grpo --recipe recipes/grpo-4gb.yaml --data gsm8k/train.jsonl --max-steps 2 --out runs/grpo-smoke
    tinyreason train grpo-show runs/grpo                        # the watched dev questions' completions, step by step
    tinyreason eval --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/grpo --limit 600    # then compare with the base
    accelerate launch -m tinyreason train grpo --recipe recipes/grpo-4gb.yaml --out runs/grpo   # several GPUs

GRPO (Shao et al. 2024, DeepSeekMath; the RL behind DeepSeek-R1-Zero) samples a group of completions per
prompt and pushes up the ones that score above their group's mean — no value model, no reward model: the
reward is the eval grader itself (train/rewards.py). The base model is 4-bit NF4 on CUDA (QLoRA) and
unquantized on CPU/MPS (plain LoRA), as in `train sft` (models.py loads it; sft.resolve_mode decides).

Prompts are GSM8K *train* questions rendered with the eval prompt through the model's chat template — the
exact string `tinyreason eval` sends (the prompt-parity check compares the trainer's own tokenization with
eval's before training). The seeded train order gives a dev slice (first dev_n) and the training prompts
(the rest, less any question whose normalized text is a dev question's): disjoint by id and by text,
checked, and the test set is never touched. train/watch.py evaluates the dev slice every eval_every steps
and writes metrics.jsonl, curves.png and per-step eval run directories.

Resume: checkpoints (adapter + optimizer + RNG) go to RUN/checkpoint-N every save_steps steps; rerunning
the same command after a crash or kill -9 continues from the last one (the step count carries on, and the
metrics of steps after it are dropped); a rerun whose config or resolved hardware (mode, device type,
dtype) differs is refused. The finished adapter is saved at the run directory's root, next to
train_config.json (with the prompt), so `tinyreason eval --adapter RUN` loads it like an SFT adapter. With
`keep: best_dev` that adapter is the dev evaluation's with the highest dev accuracy instead of the last step's,
and `stop_guessing` ends a run whose dev answers have turned into bare guesses (train/watch.py); train_report.json
records which step was kept (`kept`) and why a run stopped early (`stopped`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from tinyreason.config_io import ConfigFileError, ConfigSource
from tinyreason.data import DataError, load_problems, select
from tinyreason.models import context_length, render_prompt
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.runs import environment
from tinyreason.train import checks
from tinyreason.train.checkpoints import checkpoint_step, start_or_resume, write_json
from tinyreason.train.grpo_config import GRPORunConfig, check_recipe, grad_accum, recipe_warnings
from tinyreason.train.rewards import reward_funcs, reward_records
from tinyreason.train.sft import TRAIN_CONFIG, TRAIN_REPORT, lora_config, mode_note, resolve_mode
from tinyreason.train.watch import ADAPTERS, METRICS_FILE, TaskWatch, plot_curves, read_rows, rewind, step_dir
from tinyreason.types import Problem

console = Console(stderr=True, soft_wrap=True)  # one metrics line per step, never re-wrapped


@dataclass
class GRPOResult:
    out: Path
    report: dict[str, Any]


def select_prompts(cfg: GRPORunConfig) -> tuple[list[Problem], list[Problem], dict[str, Any]]:
    """(dev slice, training prompts, data record) from the seeded order of the GSM8K train split."""
    ds = load_problems(cfg.data, "train")
    order = select(ds, None, cfg.split_seed)
    if len(order) <= cfg.dev_n:
        raise DataError(f"{ds.source}: {len(order)} questions leave no training prompts after dev_n {cfg.dev_n}; lower dev_n")
    dev = order[: cfg.dev_n]
    dev_keys = {question_key(p.question) for p in dev}
    dropped = [p.id for p in order[cfg.dev_n :] if question_key(p.question) in dev_keys]  # GSM8K train repeats a few questions
    rest = [p for p in order[cfg.dev_n :] if question_key(p.question) not in dev_keys]
    if not rest:
        raise DataError(f"{ds.source}: every question after the dev slice repeats a dev question; no training prompts are left")
    train = rest if cfg.train_n is None else rest[: cfg.train_n]
    info = {"source": ds.source, "split": "train", "fingerprint": ds.fingerprint(), "rows": len(ds.problems),
            "dev_ids": [p.id for p in dev], "dev_duplicate_ids": dropped, "train_n": len(train), "train_ids": [p.id for p in train]}
    return dev, train, info


def question_key(question: str) -> str:
    """A question's text with case, punctuation and whitespace ignored: two rows with the same key are the same question."""
    return " ".join(re.sub(r"[^\w]+", " ", question.casefold()).split())


def prompt_records(train: list[Problem], tokenizer: Any, template: PromptTemplate) -> list[dict[str, Any]]:
    """Rows for GRPOTrainer: the prompt as plain text (the chat template applied here, once, as eval applies
    it), and the `gold` and `id` columns the rewards receive as keyword lists."""
    return [{"prompt": render_prompt(tokenizer, template.render(question=p.question)), "gold": p.gold, "id": p.id} for p in train]


def check_prompt_lengths(records: list[dict[str, Any]], dev_records: list[dict[str, Any]], tokenizer: Any, cfg: GRPORunConfig,
                         src: ConfigSource) -> dict[str, int]:
    """The longest prompt plus its budget must fit the model's context (config.json): the training prompts and
    the watched dev prompts (sampled) with max_completion_length, the dev prompts (greedy) with dev_max_new_tokens."""
    def tokens(rs: list[dict[str, Any]]) -> list[int]:
        return [len(tokenizer(r["prompt"], add_special_tokens=False)["input_ids"]) for r in rs]

    train, dev = tokens(records), tokens(dev_records)
    sampled, limit, problems = max(train + dev[: cfg.watch_questions]), context_length(cfg.model), []
    for name, longest, what in (("max_completion_length", sampled, "prompt (training or watched dev)"),
                                ("dev_max_new_tokens", max(dev), "dev prompt")):
        budget = getattr(cfg, name)
        if limit is not None and longest + budget > limit:
            problems.append(f"{src.where(name)}: {name} {budget} + the longest {what} ({longest} tokens) exceeds the model's "
                            f"context ({limit}); lower {name}")
    if problems:
        raise ConfigFileError(problems)
    return {"longest_prompt_tokens": max(train), "longest_dev_prompt_tokens": max(dev)}


def trainer_args(cfg: GRPORunConfig, out: Path, device: str, dtype: str, world_size: int, weights: list[float]) -> Any:
    """trl.GRPOConfig: every TRL field as the recipe and flags set it (train/grpo_config.py), and the ones tinyreason
    computes: the run directory, mixed precision from the resolved device, the accumulation that makes one optimizer
    step of generation_batch_size completions, and the rewards' weights."""
    on_gpu = device.startswith("cuda")
    return cfg.trl_args(output_dir=str(out), bf16=on_gpu and dtype == "bfloat16", fp16=on_gpu and dtype == "float16",  # TRL on CPU needs bf16=False
                        use_cpu=device == "cpu", resume_from_checkpoint=None, gradient_accumulation_steps=grad_accum(cfg, world_size),
                        reward_weights=weights)


def check_parity(cfg: GRPORunConfig, trainer: Any, records: list[dict[str, Any]], train: list[Problem]) -> dict[str, Any]:
    """Every training prompt as GRPOTrainer tokenizes it for generation against eval's prompt for the same
    question, with a tokenizer loaded afresh. The trainer's side is its public `processing_class` called as
    TRL 1.16 calls it on a plain-text prompt (GRPOTrainer._tokenize_prompts: `processing_class(text=prompts)`,
    special tokens at the tokenizer's default), so a tokenizer the trainer changed, or one that adds a BOS, shows."""
    from tinyreason.models import load_tokenizer

    eval_tok, template = load_tokenizer(cfg.model), get_prompt(cfg.prompt)
    ids = trainer.processing_class(text=[r["prompt"] for r in records])["input_ids"]
    shown, bad = None, 0
    for p, r, train_ids in zip(train, records, ids, strict=True):
        c = checks.prompt_parity(eval_tok, template, p.question, r["prompt"], list(train_ids))
        bad += not c["ok"]
        if shown is None or (not c["ok"] and shown["ok"]):
            shown = {**c, "example_id": p.id}
    return {**(shown or {"ok": False}), "ok": bad == 0 and shown is not None, "examples_checked": len(records), "mismatches": bad}


def prepare_run(out: Path, config: dict[str, Any], force: bool, *, main: bool = True) -> str | None:
    """Start, or continue, the run in `out` (checkpoints.start_or_resume; only GRPORunConfig's RESUMABLE fields may differ).
    A resume drops the metrics rows of steps after its checkpoint."""
    return start_or_resume(out / TRAIN_CONFIG, config, force, GRPORunConfig, main=main, clear=_clear,
                           on_resume=lambda last: f"{rewind(out, checkpoint_step(last))} metrics rows after it dropped")


def _clear(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for d in [*out.glob("checkpoint-*"), out / "dev", out / "watch"]:
        shutil.rmtree(d, ignore_errors=True)
    for name in (TRAIN_REPORT, METRICS_FILE, f"{METRICS_FILE}.tmp", "curves.png", "adapter_model.safetensors", "adapter_config.json",
                 "README.md"):
        (out / name).unlink(missing_ok=True)  # never leave a stale adapter or curve next to a new config


def run_config(cfg: GRPORunConfig, src: ConfigSource, template: PromptTemplate, hw: tuple[str, str, str], data: dict[str, Any]) -> dict[str, Any]:
    device, dtype, mode = hw
    recipe = None
    if src.file is not None:
        text = src.file.read_text(encoding="utf-8")
        recipe = {"path": str(src.file.resolve()), "sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}
    plugins = reward_records(cfg)  # the code of a plug-in or module:function reward: an edited one makes another run
    return {"kind": "grpo", "config": cfg.model_dump(), "recipe": recipe, "flags": dict(src.flags), "device": device, "dtype": dtype,
            "mode": mode, "mode_note": mode_note(device, mode, dtype),
            "prompt": {"name": template.name, "system": template.system, "user": template.user},
            "data": data, **({"plugins": plugins} if plugins else {}), **environment()}


def code_records(cfg: GRPORunConfig) -> list[dict[str, Any]]:
    """The plug-in code this run's config would record (its rewards'): what reproduce's state compares with a
    stored run, as refuse_other_run compares the records (checkpoints.code_differences)."""
    return reward_records(cfg)


def train_grpo(cfg: GRPORunConfig, out: str | Path, *, source: ConfigSource | None = None, force: bool = False) -> GRPOResult:
    """Validate (before any model loads), train with the dev slice watched, save the adapter, write the report.
    Raises ConfigFileError for a recipe TRL would refuse and checks.CheckFailed when a pipeline check fails."""
    import datasets
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from tinyreason.models import load_causal_lm, load_tokenizer
    from tinyreason.train.clock import RunClock

    out, src = Path(out), source or ConfigSource()
    template = get_prompt(cfg.prompt)
    device, dtype, mode = resolve_mode(cfg)
    world, main = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0")) == 0  # set by accelerate launch / torchrun
    if world > 1 and device == "cuda":
        device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}"  # one GPU per process
    check_recipe(cfg, src, device=device, world_size=world)
    dev, train, data = select_prompts(cfg)
    tokenizer = load_tokenizer(cfg.model)
    records = prompt_records(train, tokenizer, template)
    data.update(check_prompt_lengths(records, prompt_records(dev, tokenizer, template), tokenizer, cfg, src))
    funcs, weights = reward_funcs(cfg)
    args = trainer_args(cfg, out, device, dtype, world, weights)  # TRL checks its options (ValueError) before the run directory is touched
    config = run_config(cfg, src, template, (device, dtype, mode), data)
    resume = prepare_run(out, config, force, main=main)
    console.print(f"[bold]train grpo[/]: {len(train)} prompts, dev slice {len(dev)}, {cfg.prompts_per_step()} prompts x "
                  f"{cfg.num_generations} completions per step, {mode_note(device, mode, dtype)}, {dtype}")
    if data["dev_duplicate_ids"]:
        console.print(f"dropped {len(data['dev_duplicate_ids'])} training question(s) whose text repeats a dev question's")

    _reset_peak(device)
    model = load_causal_lm(cfg.model, device=device, dtype=dtype, quantization="4bit" if mode == "qlora" else "none")
    watch = TaskWatch(cfg, out, dev, data["source"], device, dtype, console)
    clock = RunClock(resume)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args,
                          train_dataset=datasets.Dataset.from_list(records), processing_class=tokenizer, peft_config=lora_config(cfg),
                          callbacks=[watch, clock])
    watch.barrier = trainer.accelerator.wait_for_everyone
    trainer.remove_callback(PrinterCallback)  # the watch prints one readable line per step instead of the raw log dict
    warnings = recipe_warnings(cfg, mode)
    for w in warnings:
        console.print(f"[bold yellow]WARNING:[/] {w}")
    report: dict[str, Any] = {"mode": mode, "mode_note": mode_note(device, mode, dtype), "device": device, "checks": {},
                              "warnings": warnings}
    report["checks"]["dev_disjoint"] = _disjoint(dev, train, data["dev_duplicate_ids"])
    report["checks"]["prompt_parity"] = check_parity(cfg, trainer, records, train)
    if not all(c["ok"] for c in report["checks"].values()):
        return _finish(out, report, trainer)  # fail before hours of training on the wrong prompt or a leaky dev slice

    clock.start()
    trainer.train(resume_from_checkpoint=resume)
    report["train"] = {**_train_summary(trainer, watch, resume, clock.elapsed()), **clock.total()}
    report["warnings"] = warnings + watch.warnings + _zero_std_overall(out, cfg)
    if device.startswith("cuda"):
        import torch

        report["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        report["gpu"] = torch.cuda.get_device_name(device)
    if watch.stopped:
        report["stopped"] = watch.stopped
    if trainer.accelerator.is_main_process:
        report["kept"] = keep_adapter(cfg, out, trainer.model, trainer.state.global_step)
        trainer.model.save_pretrained(out)  # the run directory is the adapter folder
        probe = list(tokenizer(records[0]["prompt"], add_special_tokens=False)["input_ids"])
        report["checks"]["adapter_active"] = checks.adapter_active(trainer.model, probe)
        plot_curves(out)
    return _finish(out, report, trainer)


def keep_adapter(cfg: GRPORunConfig, out: Path, model: Any, last: int) -> dict[str, Any]:
    """keep: best_dev loads into `model` the saved adapter of the dev evaluation with the highest accuracy (ties:
    the earlier step, fewer updates from the base) before the run saves it as its own. The record says which step,
    its dev accuracy beside the last step's and the base's (step 0), and whether it beat the base on dev."""
    rows = {r["step"]: r for r in read_rows(out / METRICS_FILE) if r["kind"] == "dev"}
    record: dict[str, Any] = {"rule": cfg.keep, "step": last, "last_step": last, "dev_accuracy": rows.get(last, {}).get("accuracy"),
                              "base_dev_accuracy": rows.get(0, {}).get("accuracy")}
    if cfg.keep == "last":
        return record
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    saved = [s for s in sorted(rows) if s > 0 and (step_dir(out, ADAPTERS, s) / "adapter_model.safetensors").is_file()]
    if not saved:
        raise checks.CheckFailed(f"{out}: keep: best_dev found no saved adapter under {out / ADAPTERS} (no dev evaluation after step 0)")
    best = max(saved, key=lambda s: (rows[s]["accuracy"], -s))
    if best != last:
        set_peft_model_state_dict(model, load_file(step_dir(out, ADAPTERS, best) / "adapter_model.safetensors"))
    base = record["base_dev_accuracy"]
    return {**record, "step": best, "dev_accuracy": rows[best]["accuracy"], "last_dev_accuracy": rows.get(last, {}).get("accuracy"),
            "candidates": {s: rows[s]["accuracy"] for s in saved}, "beats_base": None if base is None else rows[best]["accuracy"] > base}


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats(device)  # this process's GPU (cuda:LOCAL_RANK), not cuda:0 for every rank


def _disjoint(dev: list[Problem], train: list[Problem], dropped: list[int]) -> dict[str, Any]:
    """No id and no normalized question text in both; `dropped`: training rows select_prompts left out for repeating a dev question."""
    shared = sorted({p.id for p in dev} & {p.id for p in train})
    dev_keys = {question_key(p.question) for p in dev}
    same_text = sorted(p.id for p in train if question_key(p.question) in dev_keys)
    return {"ok": not shared and not same_text, "dev": len(dev), "train": len(train), "shared_ids": shared[:10],
            "shared_question_ids": same_text[:10], "dev_duplicates_dropped": len(dropped), "dropped_ids": dropped[:10]}


def _train_summary(trainer: Any, watch: TaskWatch, resume: str | None, wall: float) -> dict[str, Any]:
    state = trainer.state
    start = checkpoint_step(resume) if resume else 0
    steps = state.global_step - start
    return {"optimizer_steps": state.global_step, "resumed_from_step": start if resume else None, "steps_this_session": steps,
            "wall_s": round(wall, 2), "dev_eval_s": round(watch.eval_s, 2),
            "s_per_step_excluding_dev_eval": round((wall - watch.eval_s) / steps, 2) if steps else None,
            "trainer_throughput": watch.summary, "prompts_per_step": trainer.args.generation_batch_size // trainer.args.num_generations}


def _zero_std_overall(out: Path, cfg: GRPORunConfig) -> list[str]:
    fracs = [r["frac_reward_zero_std"] for r in read_rows(out / METRICS_FILE) if r["kind"] == "train" and r.get("frac_reward_zero_std") is not None]
    mean = sum(fracs) / len(fracs) if fracs else None
    if mean is not None and mean >= cfg.zero_std_warn:
        return [f"mean frac_reward_zero_std over the run is {mean:.2f}: most groups carried no learning signal"]
    return []


def _finish(out: Path, report: dict[str, Any], trainer: Any) -> GRPOResult:
    failed = [name for name, c in report["checks"].items() if not c.get("ok")]
    report["ok"] = not failed
    report["failed_checks"] = failed
    if trainer.accelerator.is_main_process:
        write_json(out / TRAIN_REPORT, report)
    if failed:
        details = {"prompt_parity": "the training prompt differs from the eval prompt (see train_report.json: eval_prompt vs train_prompt)",
                   "adapter_active": "the adapter does not change the model: no update moved LoRA B off zero (a learning rate of 0, "
                                     "or every group's completions scored alike: frac_reward_zero_std 1 in metrics.jsonl)",
                   "dev_disjoint": "the dev slice shares questions (ids or question text) with the training prompts"}
        raise checks.CheckFailed(f"{out}: pipeline check failed: " + "; ".join(f"{f}: {details.get(f, f)}" for f in failed))
    return GRPOResult(out, report)
