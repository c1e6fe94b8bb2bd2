"""Pipeline checks recorded in every training run, so that a negative (or positive) result can be trusted.

    prompt_parity(eval_tokenizer, template, question, train_text, train_ids)  # training prompt == eval prompt?
    adapter_active(peft_model, probe_ids)                                     # did training change the model?
    loss_curve(trainer.state.log_history, out_dir)                            # loss.json + loss.png

Each returns a dict with "ok" and the evidence; sft.py writes them to train_report.json and fails the run
when one is not ok. Why each exists: a fine-tune that trains on a prompt the model never sees at eval time
(another instruction, a missing chat template, a stray BOS token) measures nothing; an adapter whose LoRA B
matrices are still zero (PEFT initialises B = 0) or that is not applied at inference gives the base model's
score under a fine-tune's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinyreason.prompts import PromptTemplate


class CheckFailed(RuntimeError):
    """A pipeline check failed: the run's numbers would not mean what they say."""


def eval_prompt(eval_tokenizer: Any, template: PromptTemplate, question: str) -> tuple[str, list[int]]:
    """The prompt text and token ids `tinyreason eval` (HFBackend) feeds the model for this question: the
    tokenizer loaded afresh as eval loads it, through the rendering function eval calls."""
    from tinyreason.models import render_prompt

    text = render_prompt(eval_tokenizer, template.render(question=question))
    return text, eval_tokenizer(text, add_special_tokens=False)["input_ids"]


def _first_diff(a: Any, b: Any) -> int | None:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def prompt_parity(eval_tokenizer: Any, template: PromptTemplate, question: str, train_text: str, train_ids: list[int]) -> dict[str, Any]:
    """Byte-identical prompt text and identical token ids between a training example and eval.

    `train_text` is the prompt string given to the trainer; `train_ids` the tokens the trainer masked out of
    the loss (the prompt part of its tokenized example), so a tokenizer-side difference is caught too."""
    text, ids = eval_prompt(eval_tokenizer, template, question)
    text_at, ids_at = _first_diff(train_text, text), _first_diff(list(train_ids), ids)
    report: dict[str, Any] = {
        "ok": text_at is None and ids_at is None,
        "template": template.name,
        "text_identical": text_at is None,
        "token_ids_identical": ids_at is None,
        "eval_prompt": text,
        "train_prompt": train_text,
        "prompt_tokens": len(ids),
    }
    if text_at is not None:
        report["text_first_difference"] = {"index": text_at, "train": train_text[text_at : text_at + 40], "eval": text[text_at : text_at + 40]}
    if ids_at is not None:
        report["tokens_first_difference"] = {"index": ids_at, "train": list(train_ids[ids_at : ids_at + 5]), "eval": ids[ids_at : ids_at + 5]}
    return report


def adapter_active(model: Any, probe_ids: list[int]) -> dict[str, Any]:
    """LoRA B matrices non-zero, and logits with the adapter differ from logits without it on a probe."""
    import torch

    lora_b = [(n, p) for n, p in model.named_parameters() if "lora_B" in n]
    zero = [n for n, p in lora_b if not bool(p.detach().abs().max() > 0)]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x = torch.tensor([probe_ids], device=device)
    with torch.no_grad():
        with_adapter = model(input_ids=x).logits.float()
        with model.disable_adapter():
            without = model(input_ids=x).logits.float()
    model.train(was_training)
    diff = (with_adapter - without).abs().max().item()
    return {
        "ok": bool(lora_b) and not zero and diff > 0,
        "lora_B_matrices": len(lora_b),
        "lora_B_zero": len(zero),
        "lora_B_zero_names": zero[:10],
        "lora_B_max_abs": max((p.detach().abs().max().item() for _, p in lora_b), default=0.0),
        "probe_tokens": len(probe_ids),
        "logits_max_abs_diff": diff,
    }


def loss_curve(log_history: list[dict[str, Any]], out_dir: Path) -> dict[str, Any]:
    """Training loss per logged step -> loss.json and loss.png; the summary goes in the report."""
    points = [
        {k: e[k] for k in ("step", "epoch", "loss", "learning_rate", "grad_norm", "mean_token_accuracy") if k in e}
        for e in log_history
        if "loss" in e
    ]
    (out_dir / "loss.json").write_text(json.dumps(points, indent=1) + "\n")
    summary: dict[str, Any] = {"points": len(points), "json": "loss.json", "png": None}
    if not points:
        summary["ok"] = False
        summary["note"] = "no loss was logged (fewer optimizer steps than logging_steps?)"
        return summary
    losses = [p["loss"] for p in points]
    summary.update(ok=True, first=losses[0], last=losses[-1], min=min(losses), fell=losses[-1] < losses[0])
    _plot(points, out_dir / "loss.png")
    summary["png"] = "loss.png"
    return summary


def _plot(points: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # headless: training machines have no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([p["step"] for p in points], [p["loss"] for p in points], marker="." if len(points) < 50 else None)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss (completion tokens)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
