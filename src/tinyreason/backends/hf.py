"""In-process Hugging Face transformers backend: the embedded default, no server.

    HFBackend(model="Qwen/Qwen2.5-0.5B-Instruct")        # Hub id (downloads once)
    HFBackend(model="path/to/model_dir")                   # a local transformers folder
    HFBackend(model="path/to/model-q4_k_m.gguf")           # a local GGUF file (dequantized by transformers)
    HFBackend(model=..., adapter="runs/sft-lora")          # a PEFT adapter on top (needs the `train` extra)

Prompts go through the model's own chat template, are left-padded and batched by length (longest first, so
an out-of-memory error shows on the first batch); n samples per prompt come from `num_return_sequences`
(the prompt is encoded once). Decoding uses an explicit GenerationConfig built from SamplingParams only,
so the model's shipped generation defaults (Qwen's top_k=20, repetition_penalty=1.05...) never change what
"greedy" or "temperature 0.7" means. On CUDA out-of-memory the batch is halved and the batch retried.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

from tinyreason.types import Chat, Completion, SamplingParams

log = logging.getLogger(__name__)

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class ModelLoadError(OSError):
    pass


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


def split_model_path(model: str) -> tuple[str, dict[str, Any]]:
    """A path ending in .gguf loads through transformers' gguf_file from its folder."""
    if model.endswith(".gguf"):
        p = Path(model)
        if not p.is_file():
            raise FileNotFoundError(f"GGUF file not found: {model}")
        return str(p.parent), {"gguf_file": p.name}
    return model, {}


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model: str,
        adapter: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | None = None,
        revision: str | None = None,
    ) -> None:
        self.model_name = model
        self.adapter = adapter
        self.revision = revision
        self.device = auto_device() if device == "auto" else device
        self.dtype = auto_dtype(self.device) if dtype == "auto" else dtype
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype '{dtype}': choose one of auto, {', '.join(DTYPES)}")
        # batch_size counts sequences (prompts x n); halved on OOM and kept halved.
        self.batch_size = batch_size or (64 if self.device.startswith("cuda") else 16)
        path, kw = split_model_path(model)
        if revision:
            kw["revision"] = revision
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kw)
        except OSError as e:
            raise ModelLoadError(
                f"could not load model '{model}': {e}\nWithout Hub access pass a local folder or .gguf file: --model PATH"
            ) from None
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=DTYPES[self.dtype], **kw).to(self.device)
        if adapter:
            self.model = load_adapter(self.model, adapter)
        self.model.eval()
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        ids = self.model.generation_config.eos_token_id
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        extra = [self.tokenizer.eos_token_id]
        if "<|im_end|>" in (self.tokenizer.chat_template or ""):
            # ChatML (Qwen): a GGUF carries one EOS id, but the model may also end with either marker
            extra += [self.tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
        for t in extra:
            if isinstance(t, int) and t != self.tokenizer.unk_token_id and t not in ids:
                ids.append(t)
        return ids

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_name,
            "revision": self.revision,
            "adapter": str(Path(self.adapter).resolve()) if self.adapter and Path(self.adapter).exists() else self.adapter,
            "dtype": self.dtype,
            **({"adapter_sha256": adapter_fingerprint(self.adapter)} if self.adapter else {}),
        }

    def render(self, chat: Chat) -> str:
        """The exact prompt string the model sees (chat template + generation prompt)."""
        return self.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        prompts = [self.tokenizer(self.render(c), add_special_tokens=False)["input_ids"] for c in chats]
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        results: dict[int, list[Completion]] = {}
        start, batch_no = 0, 0
        while start < len(order):
            per_batch = max(1, self.batch_size // params.n)
            idx = order[start : start + per_batch]
            try:
                outs = self._generate_batch([prompts[i] for i in idx], params, seed=params.seed + batch_no)
            except torch.OutOfMemoryError:
                if per_batch == 1:  # nothing left to halve: one prompt's n samples do not fit
                    raise
                self.batch_size = max(1, self.batch_size // 2)
                log.warning("CUDA out of memory: batch size halved to %d sequences; retrying", self.batch_size)
                if self.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                continue
            results.update(zip(idx, outs))
            start += len(idx)
            batch_no += 1
        return [results[i] for i in range(len(prompts))]

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], params: SamplingParams, seed: int) -> list[list[Completion]]:
        enc = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(self.device)
        gen_cfg = GenerationConfig(
            max_new_tokens=params.max_new_tokens,
            do_sample=not params.greedy,
            temperature=params.temperature if not params.greedy else None,
            top_p=params.top_p if not params.greedy else None,
            top_k=None,
            repetition_penalty=None,
            num_return_sequences=params.n,
            eos_token_id=self.eos_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        torch.manual_seed(seed)
        out = self.model.generate(**enc, generation_config=gen_cfg)
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        completions = [self._completion(seq, params, prompt_tokens=len(prompts[k // params.n])) for k, seq in enumerate(new)]
        return [completions[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]

    def _completion(self, seq: list[int], params: SamplingParams, prompt_tokens: int) -> Completion:
        eos_at = next((j for j, t in enumerate(seq) if t in self.eos_ids), None)
        kept = seq if eos_at is None else seq[:eos_at]
        n_tokens = len(seq) if eos_at is None else eos_at + 1
        finish = "stop" if eos_at is not None or n_tokens < params.max_new_tokens else "length"
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return Completion(text=text, n_tokens=n_tokens, finish_reason=finish, prompt_tokens=prompt_tokens)


def adapter_fingerprint(adapter: str) -> str | None:
    """SHA-256 of the adapter weights: a retrained adapter in the same folder is a different run (resume refuses)."""
    import hashlib

    weights = sorted(Path(adapter).glob("adapter_model*"))
    if not weights:
        return None
    h = hashlib.sha256()
    for w in weights:
        h.update(w.read_bytes())
    return h.hexdigest()


def load_adapter(model: Any, adapter: str) -> Any:
    try:
        from peft import PeftModel
    except ImportError as e:
        raise ImportError("loading an --adapter needs peft: pip install 'tinyreason[train]'") from e
    if not Path(adapter).exists():
        raise FileNotFoundError(f"adapter folder not found: {adapter}")
    return PeftModel.from_pretrained(model, adapter)
