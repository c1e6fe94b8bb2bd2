"""Supervised fine-tuning with a LoRA adapter: a thin layer over TRL's SFTTrainer and PEFT.

    tinyreason train sft --model Qwen/Qwen2.5-0.5B-Instruct --train-n 2000 --num-train-epochs 1 --out runs/sft-human
    tinyreason train sft --traces traces.jsonl --out runs/sft-distill          # a traces file instead
    tinyreason eval --adapter runs/sft-human                                    # evaluate the fine-tune

On CUDA the default is QLoRA (Dettmers et al. 2023): the base model in 4-bit NF4 via bitsandbytes, bf16
compute (fp16 on a GPU without bf16), a LoRA adapter (Hu et al. 2021) on every linear projection, gradient
checkpointing, a small batch with gradient accumulation; the run records peak GPU memory. On CPU/MPS
bitsandbytes 4-bit is unavailable, so the same adapter trains on the unquantized model (plain LoRA), and
the run says so.

Each example is the eval prompt — the same template through the same chat template, generation prompt
included — followed by the target completion; the loss covers only the completion (TRL prompt-completion
format). Before training the prompt-parity check compares the trainer's first tokenized prompt with what
`tinyreason eval` would feed the model; after training the adapter-active check and the loss curve are
recorded (see checks.py). A failed check fails the run after train_report.json is written.

The run directory (`--out`) is itself the adapter folder (adapter_config.json, adapter_model.safetensors),
plus train_config.json (everything needed to rerun), train_report.json, loss.json and loss.png. While it
trains, checkpoint-N every save_steps optimizer steps: rerunning the same command after a crash, Ctrl-C or
kill -9 resumes from the newest complete one (train/checkpoints.py); they are removed when the run ends.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from rich.console import Console

from tinyreason.data import load_problems
from tinyreason.prompts import get_prompt
from tinyreason.runs import environment
from tinyreason.train import checks
from tinyreason.identity import RESUMABLE
from tinyreason.train.checkpoints import checkpoint_step, checkpoints, start_or_resume
from tinyreason.train.examples import TrainExample, human_examples, load_traces, select_examples, to_records
from tinyreason.train.trl_config import TrainerConfig, TRLPart, extend_trl, tr_default

console = Console(stderr=True)
DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"
TRAIN_CONFIG = "train_config.json"
TRAIN_REPORT = "train_report.json"
QWEN_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class AdapterRunConfig(TrainerConfig):
    """What every adapter-training run (sft, grpo) shares: the base model, the LoRA adapter, the hardware.
    resolve_mode, load_model and lora_config read only these fields; the trainer's options are TRL's (trl_config)."""

    model: str = Field(DEFAULT_MODEL, description="base model: Hub id or local transformers folder")
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator (scale = alpha / r)")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="dropout on the LoRA input")
    target_modules: list[str] = Field(default_factory=lambda: list(QWEN_LINEAR), description="linear layers that get an adapter")
    quantization: Literal["auto", "4bit", "none"] = Field("auto", description="auto: 4-bit NF4 (QLoRA) on CUDA, none elsewhere")
    device: str = Field("auto", description="auto (cuda > mps > cpu), cuda, mps, cpu")
    dtype: str = Field("auto", description="base weights / compute dtype: auto (as eval picks), bfloat16, float16, float32")

    def trl_values(self) -> dict[str, Any]:
        values = super().trl_values()
        if values.get("data_seed") is None:
            values["data_seed"] = getattr(self, "seed")  # the data order follows the seed, as it always did here
        return values


# TRL fields both trainers compute: never set by a recipe or a flag
ADAPTER_COMPUTED = {
    "output_dir": "the run directory is --out (the adapter folder, checkpoints and train_config.json)",
    "bf16": "mixed precision follows the resolved device and dtype: set device / dtype",
    "fp16": "mixed precision follows the resolved device and dtype: set device / dtype",
    "use_cpu": "follows the resolved device: set device",
    "resume_from_checkpoint": "a rerun of the same command resumes from the run's last complete checkpoint",
}
# tinyreason's defaults both trainers share, beside TRL's own
ADAPTER_DEFAULTS = {
    "seed": tr_default(42, "also the seed of the LoRA init and of the data selection and order"),
    "data_seed": tr_default(None, "None: the seed (tinyreason passes `seed`)"),
    "logging_steps": tr_default(1, "a loss point (SFT) or a metrics line (GRPO) every optimizer step", ge=1),
    "save_strategy": tr_default("steps", "checkpoints to resume from; no: a rerun starts over", json_schema_extra=RESUMABLE),
    "save_steps": tr_default(10, "a crash loses at most 10 optimizer steps", gt=0, json_schema_extra=RESUMABLE),
    "save_total_limit": tr_default(2, "the newest may be half-written when the process is killed", ge=1, json_schema_extra=RESUMABLE),
    "disable_tqdm": tr_default(True, "tinyreason prints its own progress lines"),
    "report_to": tr_default("none", "the run directory records the metrics"),
}
# the names these fields had before the configs extended TRL's: recipes, flags and stored runs still use them
ADAPTER_RENAMED = {"batch_size": "per_device_train_batch_size", "lr_scheduler": "lr_scheduler_type", "warmup": "warmup_steps",
                   "save_every": "save_steps"}


class SFTFields(AdapterRunConfig):
    """One fine-tuning run: these fields, and every trl.SFTConfig field by its TRL name (SFTRunConfig). Every field is a
    `train sft` flag; the whole model is stored in train_config.json."""

    TRL = TRLPart(
        "SFTConfig",
        defaults={
            **ADAPTER_DEFAULTS,
            "num_train_epochs": tr_default(1.0, "one pass over the selected examples", gt=0),
            "learning_rate": tr_default(2e-4, "LoRA wants ~10x the full fine-tuning rate", gt=0),
            "lr_scheduler_type": tr_default("cosine", "the usual SFT schedule"),
            "warmup_steps": tr_default(0.03, "a float below 1 is a fraction of the steps", ge=0),
            "per_device_train_batch_size": tr_default(4, "fits 4 GB with QLoRA", ge=1),
            "gradient_accumulation_steps": tr_default(4, "an effective batch of 16", ge=1),
            "completion_only_loss": tr_default(True, "the loss covers the completion, not the eval prompt"),
        },
        computed=ADAPTER_COMPUTED,
        renamed={**ADAPTER_RENAMED, "epochs": "num_train_epochs", "grad_accum": "gradient_accumulation_steps"},
    )

    data: str | None = Field(None, description="local GSM8K train .jsonl for human traces (default: openai/gsm8k train from the Hub)")
    traces: str | None = Field(None, description="traces JSONL file (id, question, gold, completion) to train on instead of human traces")
    train_n: int | None = Field(2000, ge=1, description="examples in the seeded selection (None: all)")
    split_seed: int | None = Field(None, description="seed of the examples' draw (None: `seed`, as before this field): set it to "
                                   "replicate a run over training seeds on the same examples")
    prompt: str = Field("cot", description="prompt template; must be the one eval uses (checked)")


SFTRunConfig = extend_trl("SFTRunConfig", SFTFields, __name__)


@dataclass
class SFTResult:
    out: Path
    report: dict[str, Any]
    examples: list[TrainExample]
    model: Any  # the trained PeftModel, still in memory
    tokenizer: Any


def load_examples(cfg: SFTRunConfig, *, warn: bool = True) -> tuple[list[TrainExample], dict[str, Any]]:
    """The seeded examples the run trains on, and the record of them train_config.json keeps as "data": their
    source, ids and fingerprint (human traces: the dataset's; a traces file: the chosen examples' own text, so a
    traces file at another path with the same examples is the same run, and an edited one is another)."""
    if cfg.traces:
        pool, source = load_traces(cfg.traces), {"kind": "traces", "source": str(Path(cfg.traces).resolve())}
    else:
        ds = load_problems(cfg.data, "train")
        pool, source = human_examples(ds), {"kind": "human", "source": ds.source, "fingerprint": ds.fingerprint()}
    chosen = select_examples(pool, cfg.train_n, cfg.seed if cfg.split_seed is None else cfg.split_seed)
    if cfg.traces:
        source["fingerprint"] = examples_fingerprint(chosen)
    if warn and cfg.train_n is not None and len(chosen) < cfg.train_n:
        console.print(f"[yellow]warning:[/] asked for {cfg.train_n} examples, only {len(chosen)} available: training on all of them")
    return chosen, {**source, "available": len(pool), "n": len(chosen), "ids": [e.id for e in chosen]}


def examples_fingerprint(examples: list[TrainExample]) -> str:
    """sha256 of the examples' ids and texts, in training order."""
    rows = [[e.id, e.question, e.gold, e.completion] for e in examples]
    return hashlib.sha256(json.dumps(rows, ensure_ascii=False).encode()).hexdigest()


def data_record(cfg: SFTRunConfig) -> dict[str, Any]:
    """What train_config.json's "data" would say for `cfg` now (reproduce's state compares it with the stored
    run's by checkpoints.data_differences, the rule `train sft` resumes by)."""
    return load_examples(cfg, warn=False)[1]


def resolve_mode(cfg: AdapterRunConfig) -> tuple[str, str, str]:
    """(device, dtype, mode) where mode is 'qlora' or 'lora'."""
    from tinyreason.models import resolve_device_dtype

    device, dtype = resolve_device_dtype(cfg.device, cfg.dtype)
    if cfg.quantization == "4bit" and not device.startswith("cuda"):
        raise ValueError(f"--quantization 4bit (QLoRA) needs a CUDA GPU and bitsandbytes; on {device} use --quantization none (plain LoRA)")
    mode = "qlora" if device.startswith("cuda") and cfg.quantization != "none" else "lora"
    if mode == "qlora" and dtype == "float32":
        dtype = "bfloat16"  # QLoRA computes in 16 bits; fp32 compute would defeat its memory budget
    return device, dtype, mode


_SHORT_DTYPE = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}


def mode_note(device: str, mode: str, dtype: str) -> str:
    """What the console and train_config.json say about how the adapter is trained here."""
    if mode == "qlora":  # bf16 compute, fp16 on a GPU without bf16 (resolve_device_dtype picks it)
        return f"QLoRA: 4-bit NF4 base (bitsandbytes), {_SHORT_DTYPE.get(dtype, dtype)} compute"
    return f"plain LoRA on {device} (QLoRA needs CUDA + bitsandbytes)" if device.startswith(("cpu", "mps")) else "plain LoRA (--quantization none)"


def load_model(cfg: AdapterRunConfig, device: str, dtype: str, mode: str) -> tuple[Any, Any]:
    from tinyreason.models import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    model = load_causal_lm(cfg.model, device=device, dtype=dtype, quantization="4bit" if mode == "qlora" else "none")
    return model, tokenizer


def trainer_args(cfg: SFTRunConfig, out: Path, device: str, dtype: str) -> Any:
    """trl.SFTConfig: every TRL field as the config holds it, and the ones tinyreason computes (ADAPTER_COMPUTED)."""
    on_gpu = device.startswith("cuda")
    return cfg.trl_args(output_dir=str(out), bf16=on_gpu and dtype == "bfloat16", fp16=on_gpu and dtype == "float16",  # TRL on CPU needs bf16=False
                        use_cpu=device == "cpu", resume_from_checkpoint=None)


def lora_config(cfg: AdapterRunConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout, target_modules=cfg.target_modules, task_type="CAUSAL_LM")


def trained_prompt_ids(row: dict[str, Any]) -> list[int]:
    """The prompt part of a tokenized training example: the tokens before the first one in the loss."""
    labels = row["labels"]
    start = next((i for i, lab in enumerate(labels) if lab != -100), len(labels))
    return list(row["input_ids"][:start])


def check_parity(cfg: SFTRunConfig, trainer: Any, records: list[dict[str, Any]], examples: list[TrainExample]) -> dict[str, Any]:
    """Compare every tokenized training example with eval's prompt for the same question, using a tokenizer
    loaded afresh as eval loads it. The report shows the first mismatch (or the first example) in full."""
    from tinyreason.models import load_tokenizer

    eval_tok = load_tokenizer(cfg.model)
    template = get_prompt(cfg.prompt)
    prompts = {r["id"]: r["prompt"] for r in records}
    questions = {e.id: e.question for e in examples}
    shown, bad = None, 0
    for row in trainer.train_dataset:
        r = checks.prompt_parity(eval_tok, template, questions[row["id"]], prompts[row["id"]], trained_prompt_ids(row))
        bad += not r["ok"]
        if shown is None or (not r["ok"] and shown["ok"]):
            shown = {**r, "example_id": row["id"]}
    return {**(shown or {"ok": False}), "ok": bad == 0 and shown is not None, "examples_checked": len(trainer.train_dataset), "mismatches": bad}


def prepare_out(out: Path, config: dict[str, Any], force: bool, *, main: bool = True) -> str | None:
    """Start, or continue, the run in `out` (checkpoints.start_or_resume); returns the checkpoint to resume
    from. A finished run is refused unless `force`: it is never resumed."""
    if (out / TRAIN_CONFIG).is_file() and (out / TRAIN_REPORT).exists() and not force:
        raise FileExistsError(f"{out} already holds a training run ({TRAIN_CONFIG}, {TRAIN_REPORT}); choose another --out, "
                              "or pass --force to overwrite it")
    return start_or_resume(out / TRAIN_CONFIG, config, force, SFTRunConfig, main=main, clear=_clear,
                           on_resume=lambda last: f"step {checkpoint_step(last)}")


def _clear(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for d in checkpoints(out):
        shutil.rmtree(d)
    for name in (TRAIN_REPORT, "loss.json", "loss.png", "adapter_model.safetensors", "adapter_config.json"):
        (out / name).unlink(missing_ok=True)  # never leave a stale adapter next to a new config


def train_sft(cfg: SFTRunConfig, out: str | Path, *, force: bool = False) -> SFTResult:
    """Train, check and save. Raises checks.CheckFailed (after writing the report) when a check fails."""
    import datasets
    import torch
    from trl import SFTTrainer

    from tinyreason.train.clock import RunClock

    out = Path(out)
    template = get_prompt(cfg.prompt)  # unknown name: fail before any work
    device, dtype, mode = resolve_mode(cfg)
    examples, data_info = load_examples(cfg)
    note = mode_note(device, mode, dtype)
    args = trainer_args(cfg, out, device, dtype)  # TRL checks its options (ValueError) before the run directory is touched
    config = {"kind": "sft", "config": cfg.model_dump(), "device": device, "dtype": dtype, "mode": mode, "mode_note": note,
              "prompt": {"name": template.name, "system": template.system, "user": template.user}, "data": data_info, **environment()}
    resume = prepare_out(out, config, force, main=int(os.environ.get("RANK", "0")) == 0)  # RANK: set by accelerate launch / torchrun
    console.print(f"[bold]train sft[/]: {len(examples)} examples ({data_info['kind']}), {note}, {dtype}")

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    model, tokenizer = load_model(cfg, device, dtype, mode)
    records = to_records(examples, tokenizer, template)
    clock = RunClock(resume)
    trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(records),
                         processing_class=tokenizer, peft_config=lora_config(cfg), callbacks=[clock])
    report: dict[str, Any] = {"mode": mode, "mode_note": note, "device": device, "checks": {}}
    report["checks"]["prompt_parity"] = parity = check_parity(cfg, trainer, records, examples)
    if not parity["ok"]:
        return _finish(out, report, trainer, tokenizer, examples)  # fail before hours of training on the wrong prompt

    clock.start()
    result = trainer.train(resume_from_checkpoint=resume)
    start = checkpoint_step(resume) if resume else 0
    report["train"] = {"wall_s": round(clock.elapsed(), 2), **clock.total(), "optimizer_steps": trainer.state.global_step,
                       "resumed_from_step": start if resume else None, "steps_this_session": trainer.state.global_step - start,
                       "epochs": trainer.state.epoch, "mean_train_loss": result.training_loss, "examples": len(examples)}
    if device.startswith("cuda"):
        report["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
        report["gpu"] = torch.cuda.get_device_name()
    trainer.model.save_pretrained(out)
    probe = trained_prompt_ids(trainer.train_dataset[0])
    report["checks"]["adapter_active"] = checks.adapter_active(trainer.model, probe)
    report["checks"]["loss_curve"] = curve = checks.loss_curve(trainer.state.log_history, out)
    report["train"]["final_loss"] = curve.get("last")
    return _finish(out, report, trainer, tokenizer, examples)


def _finish(out: Path, report: dict[str, Any], trainer: Any, tokenizer: Any, examples: list[TrainExample]) -> SFTResult:
    failed = [name for name, c in report["checks"].items() if not c.get("ok")]
    report["ok"] = not failed
    report["failed_checks"] = failed
    (out / TRAIN_REPORT).write_text(json.dumps(report, indent=2) + "\n")
    if trainer.accelerator.is_main_process:  # the run is over: a finished run is never resumed, and a checkpoint is optimizer-sized
        for d in checkpoints(out):
            shutil.rmtree(d)
    if failed:
        details = {"prompt_parity": "the training prompt differs from the eval prompt (see train_report.json: eval_prompt vs train_prompt)",
                   "adapter_active": "the adapter does not change the model (LoRA B still zero, or no effect on logits)",
                   "loss_curve": "no training loss was logged"}
        raise checks.CheckFailed(f"{out}: pipeline check failed: " + "; ".join(f"{f}: {details.get(f, f)}" for f in failed))
    return SFTResult(out, report, examples, trainer.model, tokenizer)


def read_train_config(adapter_dir: str | Path) -> dict[str, Any] | None:
    """The train_config.json of an adapter folder made by `train sft`, or None for a foreign adapter."""
    path = Path(adapter_dir) / TRAIN_CONFIG
    return json.loads(path.read_text()) if path.is_file() else None


def adapter_prompt_warning(adapter_dir: str | Path, template: Any) -> str | None:
    """A loud warning when an adapter was trained on another prompt than the one eval is about to use."""
    cfg = read_train_config(adapter_dir)
    if cfg is None:
        return f"{adapter_dir} has no {TRAIN_CONFIG}: cannot check that it was trained on the eval prompt '{template.name}'"
    trained = cfg.get("prompt") or {}
    now = {"name": template.name, "system": template.system, "user": template.user}
    diff = [k for k in ("name", "system", "user") if trained.get(k) != now[k]]
    if not diff:
        return None
    return (f"adapter {adapter_dir} was trained on prompt '{trained.get('name')}' but eval uses '{template.name}' "
            f"(differs in: {', '.join(diff)}); the fine-tune is measured off its training distribution — "
            f"pass --prompt {trained.get('name')} to evaluate it on the prompt it learned")
