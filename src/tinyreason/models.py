"""Loading a causal LM and its tokenizer: the one place every part of tinyreason does it.

    tok = load_tokenizer("Qwen/Qwen2.5-0.5B-Instruct")                 # Hub id, local folder or .gguf file
    model = load_causal_lm("path/to/model", device="cpu", dtype="bfloat16", adapter="runs/sft")
    model = load_causal_lm(name, device="cuda", dtype="bfloat16", quantization="4bit")   # QLoRA base
    prompt = render_prompt(tok, chat)                                  # the exact string the model sees

The hf backend, SFT, GRPO, merge, the memorization audit and the prompt-parity check all call these, so a
model is read the same way (same tokenizer, same chat rendering, same dtype choice) wherever it is used:
the train/eval prompt-parity guarantee rests on that.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import torch

from tinyreason.hub import HubUnreachable, require_hub
from tinyreason.types import Chat

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
Quantization = Literal["none", "4bit"]


class ModelLoadError(OSError):
    pass


class ModelNotFound(ModelLoadError, FileNotFoundError):
    """--model names nothing local and cannot come from the Hub (every command reports a FileNotFoundError)."""


def auto_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def auto_dtype(device: str) -> str:
    """bf16 where the hardware computes it natively (CUDA Ampere+, x86 with AVX512-BF16/AMX), else fp16 on
    GPUs and fp32 on CPUs (emulated bf16 on a CPU is slower than fp32)."""
    if device.startswith("cuda"):
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device == "mps":
        return "float16"
    return "bfloat16" if _cpu_has_bf16() else "float32"


def resolve_device_dtype(device: str, dtype: str) -> tuple[str, str]:
    """'auto' resolved for this machine; a device it lacks or an unknown dtype is an error with the fix."""
    device = auto_device() if device == "auto" else device
    check_device(device)
    dtype = auto_dtype(device) if dtype == "auto" else dtype
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype '{dtype}': choose one of auto, {', '.join(DTYPES)}")
    return device, dtype


def check_device(device: str) -> None:
    """Refuse a device this machine or this torch build does not have (torch's own error is a traceback
    deep in the first .to(device)), saying what to use instead."""
    try:
        kind = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device '{device}': use auto, cpu, cuda, cuda:N or mps") from None
    if kind.type == "cuda" and not torch.cuda.is_available():
        why = f"this torch ({torch.__version__}) is a CPU-only build" if torch.version.cuda is None else "no CUDA GPU is visible (see nvidia-smi, CUDA_VISIBLE_DEVICES)"
        raise ValueError(f"--device {device}: this torch has no usable CUDA: {why}. Use --device cpu (or auto), or install a CUDA build of torch")
    if kind.type == "cuda" and kind.index is not None and kind.index >= torch.cuda.device_count():
        raise ValueError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible (cuda:0 ... cuda:{torch.cuda.device_count() - 1})")
    if kind.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError(f"--device {device}: MPS (Apple GPU) is not available on this machine. Use --device cpu (or auto)")


def split_model_path(model: str) -> tuple[str, dict[str, Any]]:
    """A path ending in .gguf loads through transformers' gguf_file from its folder. A local path that holds
    no model is an error saying what to pass (transformers would take it for a Hub id)."""
    if model.endswith(".gguf"):
        p = Path(model)
        if not p.is_file():
            raise FileNotFoundError(f"GGUF file not found: {model}")
        return str(p.parent), {"gguf_file": p.name}
    check_model_folder(model)
    return model, {}


def _meant_as_path(model: str) -> bool:
    """A Hub id is NAME or ORG/NAME; an absolute or ./ ~ path, or one with two slashes, is a local path."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def check_model_folder(model: str) -> None:
    p = Path(model)
    if not p.exists():
        if _meant_as_path(model):
            raise ModelNotFound(f"no model folder or file at {model}: --model takes a transformers model folder (config.json, tokenizer "
                                 f"files, *.safetensors), a .gguf file, or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct")
        return  # a Hub id
    if p.is_dir() and not (p / "config.json").is_file():
        if (p / "adapter_config.json").is_file():
            base = _adapter_base(p) or "BASE"
            raise ModelNotFound(f"{model} is a PEFT adapter, not a model: pass --adapter {model} --model {base} (the model it was trained on)")
        raise ModelNotFound(f"{model} holds no model (no config.json): pass the folder that holds config.json, the tokenizer files and "
                             f"the *.safetensors weights (e.g. one written by `hf download Qwen/Qwen2.5-0.5B-Instruct --local-dir DIR`)")


def check_model_source(model: str) -> None:
    """Refuse a --model that names nothing loadable (a local path holding no model, or a Hub id while the
    Hub cannot be reached), before anything is loaded; for code that hands the name to a loader itself."""
    check_model_folder(model)
    if not Path(model).exists():
        try:
            require_hub(f"the model {model}")
        except HubUnreachable as e:
            raise ModelNotFound(str(e)) from None


def _adapter_base(adapter: Path) -> str | None:
    try:
        return json.loads((adapter / "adapter_config.json").read_text()).get("base_model_name_or_path")
    except (OSError, ValueError, AttributeError):
        return None


def _not_found_hint(model: str) -> str:
    local = "" if Path(model).exists() else f" (there is no local folder '{model}' either)"
    return f"Without Hub access pass a local folder or .gguf file: --model PATH{local}"


def _from_pretrained(loader: Any, model: str, revision: str | None, what: str) -> Any:
    """`loader(path, ...)` for a Hub id, folder or .gguf file, a load failure as a ModelLoadError with the fix."""
    path, kw = split_model_path(model)
    if revision:
        kw["revision"] = revision
    if not Path(path).exists():
        check_model_source(model)
    try:
        return loader(path, **kw)
    except OSError as e:
        raise ModelLoadError(f"could not load {what} '{model}': {e}\n{_not_found_hint(model)}") from None


def load_tokenizer(model: str, *, revision: str | None = None, padding_side: str | None = None) -> Any:
    from transformers import AutoTokenizer

    tok = _from_pretrained(AutoTokenizer.from_pretrained, model, revision, "model")
    if padding_side:
        tok.padding_side = padding_side
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def context_length(model: str, *, revision: str | None = None) -> int | None:
    """The model's max_position_embeddings, read from its config.json alone (no weights are loaded), so a
    recipe that asks for longer sequences is refused before minutes of model loading."""
    from transformers import AutoConfig

    cfg = _from_pretrained(AutoConfig.from_pretrained, model, revision, "the config of model")
    return getattr(cfg.get_text_config(), "max_position_embeddings", None)


def load_causal_lm(
    model: str,
    *,
    device: str,
    dtype: str,
    quantization: Quantization = "none",
    adapter: str | None = None,
    revision: str | None = None,
) -> Any:
    """The model on `device` in `dtype` ('auto' keeps the checkpoint's dtype, for merging); with
    quantization '4bit' the base is loaded in NF4 through bitsandbytes (QLoRA; CUDA only); with an
    adapter, a PEFT LoRA adapter is loaded on top."""
    from transformers import AutoModelForCausalLM

    path, kw = split_model_path(model)
    if revision:
        kw["revision"] = revision
    torch_dtype = "auto" if dtype == "auto" else DTYPES[dtype]
    if quantization == "4bit":
        lm = AutoModelForCausalLM.from_pretrained(path, quantization_config=nf4_config(device, dtype), dtype=torch_dtype,
                                                  device_map={"": torch.device(device).index or 0}, **kw)
    else:
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype, **kw).to(device)
    return load_adapter(lm, adapter) if adapter else lm


def nf4_config(device: str, dtype: str) -> Any:
    if not device.startswith("cuda"):
        raise ValueError(f"4-bit quantization (QLoRA) needs a CUDA GPU and bitsandbytes; on {device} use quantization none (plain LoRA)")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as e:
        raise ImportError("4-bit quantization needs bitsandbytes: pip install 'tinyreason[cuda]' (or quantization none for plain LoRA)") from e
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=DTYPES[dtype])


def has_adapter_weights(folder: str | Path) -> bool:
    """Whether a PEFT adapter folder holds its weights (adapter_model.safetensors, or .bin from older PEFT)."""
    return any(Path(folder).glob("adapter_model.*"))


def check_adapter_folder(adapter: str | Path) -> Path:
    """The adapter folder, refused in one line before any model loads when it is not a LoRA adapter or holds no
    weights. The weights are what a clean clone lacks: run directories commit an adapter's config and reports,
    not its adapter_model.safetensors (.gitignore), so an eval that must regenerate needs the adapter retrained."""
    p = Path(adapter)
    if not p.is_dir():
        raise FileNotFoundError(f"adapter folder not found: {adapter}")
    if not (p / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json); train one with `tinyreason train sft`")
    if not has_adapter_weights(p):
        raise FileNotFoundError(f"{adapter}: the adapter's weights are not here (adapter_config.json, but no adapter_model.safetensors): "
                                f"committed run directories keep an adapter's config and reports, not its weights; copy them from the "
                                f"machine that trained it, or retrain (move {adapter} away and rerun its training)")
    return p


def load_adapter(model: Any, adapter: str) -> Any:
    try:
        from peft import PeftModel
    except ImportError as e:
        raise ImportError("loading an --adapter needs peft: pip install 'tinyreason[train]'") from e
    check_adapter_folder(adapter)
    return PeftModel.from_pretrained(model, adapter)


def adapter_fingerprint(adapter: str) -> str | None:
    """SHA-256 of the adapter weights: a retrained adapter in the same folder is a different run (resume refuses)."""
    weights = sorted(Path(adapter).glob("adapter_model*"))
    if not weights:
        return None
    h = hashlib.sha256()
    for w in weights:
        h.update(w.read_bytes())
    return h.hexdigest()


def render_prompt(tokenizer: Any, chat: Chat) -> str:
    """The exact prompt string the model sees: its chat template plus the generation prompt."""
    return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
