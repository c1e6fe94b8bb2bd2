"""The memorization audit: can this exact training pipeline learn k examples by heart?

    tinyreason memorize --k 5 --epochs 20 --model Qwen/Qwen2.5-0.5B-Instruct --out runs/5_20ep
    tinyreason inspect-memorization --experiment-id 5_20ep --print-raw

If SFT makes a model worse, the first suspect is the pipeline (wrong prompt, masked-out completion, adapter
not loaded at eval). This audit trains on k GSM8K train examples for E epochs through the same code path as
`train sft` (train_sft, LoRA, completion-only loss), then loads the saved adapter the way `eval --adapter`
does (HFBackend) and measures on the same k questions:

- final train loss, and teacher-forcing NLL per example (mean over the completion tokens + EOS);
- generation pass@1 (greedy, graded by answers.answers_match);
- exact match of the generated chain with the target text;
- the first token where generation departs from the target (index, expected token, generated token).

A pipeline that cannot reproduce 5 examples after 20 epochs is broken; one that can is able to learn what it
is shown, so a worse score after real SFT is about the data or the recipe, not the plumbing.
Writes memorization.json next to the adapter and training report in the run directory.
"""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tinyreason.answers import answers_match, extract_answer
from tinyreason.prompts import get_prompt
from tinyreason.train.examples import TrainExample
from tinyreason.train.sft import DEFAULT_MODEL, SFTRunConfig, train_sft
from tinyreason.types import SamplingParams

MEMORIZATION = "memorization.json"


class MemorizeConfig(BaseModel):
    """The audit's recipe: a small set, many epochs, a constant and high learning rate, no dropout."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="base model: Hub id or local transformers folder")
    data: str | None = Field(None, description="local GSM8K train .jsonl (default: openai/gsm8k train from the Hub)")
    k: int = Field(5, ge=1, description="training examples (the seeded selection's first k)")
    epochs: float = Field(20, gt=0, description="passes over the k examples")
    seed: int = Field(42, description="selection seed, LoRA init and data order")
    prompt: str = Field("cot", description="prompt template (the one eval uses)")
    learning_rate: float = Field(1e-3, gt=0, description="constant AdamW learning rate")
    batch_size: int = Field(1, ge=1, description="examples per optimizer step (k x epochs / batch_size steps)")
    lora_r: int = Field(16, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA scaling numerator")
    quantization: Literal["auto", "4bit", "none"] = Field("auto", description="as in train sft: 4-bit on CUDA by default")
    max_new_tokens: int | None = Field(None, ge=1, description="generation budget (default: longest target + 64 tokens)")
    device: str = Field("auto", description="auto, cuda, mps, cpu")
    dtype: str = Field("auto", description="auto, bfloat16, float16, float32")

    def sft_config(self) -> SFTRunConfig:
        return SFTRunConfig(
            model=self.model, data=self.data, train_n=self.k, num_train_epochs=self.epochs, seed=self.seed, prompt=self.prompt,
            learning_rate=self.learning_rate, lr_scheduler_type="constant", warmup_steps=0, per_device_train_batch_size=self.batch_size,
            gradient_accumulation_steps=1,
            lora_r=self.lora_r, lora_alpha=self.lora_alpha, lora_dropout=0.0, quantization=self.quantization,
            device=self.device, dtype=self.dtype, logging_steps=1, save_strategy="no",  # minutes of training: a rerun starts over
        )


def completion_nll(model: Any, prompt_ids: list[int], target_ids: list[int]) -> float:
    """Mean negative log-likelihood per target token under teacher forcing."""
    import torch

    device = next(model.parameters()).device
    ids = torch.tensor([prompt_ids + target_ids], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float()
    return torch.nn.functional.cross_entropy(logits, torch.tensor(target_ids, device=device)).item()


def divergence(tokenizer: Any, target_ids: list[int], gen_ids: list[int]) -> dict[str, Any] | None:
    """The first position where generated tokens leave the target; None when they are identical."""
    at = next((i for i, (a, b) in enumerate(zip(target_ids, gen_ids)) if a != b), None)
    if at is None:
        if len(target_ids) == len(gen_ids):
            return None
        at = min(len(target_ids), len(gen_ids))
    show = lambda ids: tokenizer.decode([ids[at]]) if at < len(ids) else "<end of text>"  # noqa: E731
    return {"index": at, "expected": show(target_ids), "generated": show(gen_ids)}


def audit(backend: Any, examples: list[TrainExample], prompt: str, max_new_tokens: int | None) -> list[dict[str, Any]]:
    """Per-example NLL, greedy generation, grading, exact match and divergence, through an HFBackend."""
    tok, template = backend.tokenizer, get_prompt(prompt)
    eos = tok.eos_token_id  # the trainer appends the tokenizer's EOS to every completion
    chats = [template.render(question=e.question) for e in examples]
    prompts = [tok(backend.render(c), add_special_tokens=False)["input_ids"] for c in chats]
    targets = [tok(e.completion, add_special_tokens=False)["input_ids"] + [eos] for e in examples]
    budget = max_new_tokens or max(len(t) for t in targets) + 64
    outs = backend.generate(chats, SamplingParams(max_new_tokens=budget))
    rows = []
    for e, p_ids, t_ids, (c,) in zip(examples, prompts, targets, outs, strict=True):
        gen_ids = tok(c.text, add_special_tokens=False)["input_ids"] + ([eos] if c.finish_reason == "stop" else [])
        answer = extract_answer(c.text)
        rows.append({
            "id": e.id, "question": e.question, "gold": e.gold, "target": e.completion, "generated": c.text,
            "answer": answer, "pass": answers_match(answer, e.gold), "exact": c.text == e.completion,
            "finish_reason": c.finish_reason, "nll": completion_nll(backend.model, p_ids, t_ids),
            "target_tokens": len(t_ids), "divergence": divergence(tok, t_ids, gen_ids),
        })
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    k = len(rows)
    exact = sum(r["exact"] for r in rows)
    verdict = "memorized" if exact == k else ("partially memorized" if exact else "not memorized")
    return {
        "k": k, "pass_at_1": sum(r["pass"] for r in rows) / k, "passed": sum(r["pass"] for r in rows),
        "exact_match": exact / k, "exact": exact, "mean_nll": sum(r["nll"] for r in rows) / k, "verdict": verdict,
    }


def memorize(cfg: MemorizeConfig, out: str | Path, *, force: bool = False) -> dict[str, Any]:
    from tinyreason.backends.hf import HFBackend

    out = Path(out)
    result = train_sft(cfg.sft_config(), out, force=force)
    device, dtype = result.report["device"], json.loads((out / "train_config.json").read_text())["dtype"]
    del result.model  # free the trainer's copy before loading the saved adapter the way eval does
    gc.collect()
    backend = HFBackend(model=cfg.model, adapter=str(out), device=device, dtype=dtype, batch_size=cfg.k)
    rows = audit(backend, result.examples, cfg.prompt, cfg.max_new_tokens)
    train = result.report["train"]
    record = {
        "experiment_id": out.name, "config": cfg.model_dump(), "backend": backend.describe(),
        "final_train_loss": train["final_loss"], "mean_train_loss": train["mean_train_loss"],
        "optimizer_steps": train["optimizer_steps"], "train_wall_s": train["wall_s"],
        "summary": summarize(rows), "examples": rows,
    }
    (out / MEMORIZATION).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def load_record(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / MEMORIZATION
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no memorization audit here (run `tinyreason memorize --out {run_dir}` first)")
    return json.loads(path.read_text())
