"""Merge a LoRA adapter into its base model: a standalone folder any backend loads without peft.

    tinyreason train merge --adapter runs/sft-human --out models/sft-human
    tinyreason eval --model models/sft-human            # same numbers as --model BASE --adapter runs/sft-human

The base is loaded unquantized (a QLoRA adapter merges into the 16-bit base it was trained on top of, which
is also what `eval --adapter` runs), the adapter applied with PEFT's merge_and_unload, and the result saved
with the base's tokenizer and chat template. merge_info.json records the base, the adapter and its training
prompt so that the merged model's origin stays traceable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tinyreason.train.sft import read_train_config


def base_model_of(adapter: Path) -> str:
    cfg = read_train_config(adapter)
    if cfg is not None:
        return cfg["config"]["model"]
    ac = adapter / "adapter_config.json"
    if not ac.is_file():
        raise FileNotFoundError(f"{adapter}: not an adapter folder (no adapter_config.json)")
    base = json.loads(ac.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{ac}: names no base model; pass --model")
    return base


def merge_adapter(adapter: str | Path, out: str | Path, *, model: str | None = None, dtype: str = "auto") -> dict[str, Any]:
    import torch

    from tinyreason.models import check_adapter_folder, load_causal_lm, load_tokenizer

    adapter, out = Path(adapter), Path(out)
    check_adapter_folder(adapter)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty; choose an empty or new --out")
    base = model or base_model_of(adapter)
    merged = load_causal_lm(base, device="cpu", dtype=dtype, adapter=str(adapter)).merge_and_unload()
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    load_tokenizer(base).save_pretrained(out)
    train_cfg = read_train_config(adapter) or {}
    info = {
        "base_model": base,
        "adapter": str(adapter.resolve()),
        "dtype": str(merged.dtype).removeprefix("torch."),
        "training_prompt": train_cfg.get("prompt"),
        "params": sum(p.numel() for p in merged.parameters()),
        "torch": torch.__version__,
    }
    (out / "merge_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return info
