"""In-process Hugging Face transformers backend: runs anywhere, no server (what `--backend auto` falls back to).

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
from typing import Any, Literal

import torch
from pydantic import Field
from transformers import GenerationConfig
from transformers.generation.streamers import BaseStreamer

from tinyreason import progress
from tinyreason.backends.base import BackendConfig, ConfiguredBackend
from tinyreason.backends.tokens import ChatTemplatePrompts, completion_from_ids, stop_ids
from tinyreason.models import adapter_fingerprint, load_causal_lm, load_tokenizer, resolve_device_dtype
from tinyreason.types import Chat, Completion, SamplingParams

log = logging.getLogger(__name__)


class HFConfig(BackendConfig):
    adapter: str | None = Field(None, description="PEFT adapter folder loaded on top of the model")
    device: str = Field("auto", description="auto (cuda > mps > cpu), cuda, cuda:1, mps, cpu")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="weights and compute dtype (auto: bf16 where the hardware has it)")
    batch_size: int | None = Field(None, ge=1, description="sequences per generate call (default 64 on CUDA, 16 on CPU); halved on CUDA out-of-memory")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) of the model")


class HFBackend(ChatTemplatePrompts, ConfiguredBackend):
    loads_adapters = True  # --backend auto may pick it when an adapter is given
    name = "hf"
    Config = HFConfig

    def __init__(self, config: HFConfig | None = None, **options: Any) -> None:
        super().__init__(config, **options)
        self._setup()
        c = self.config
        self.model = load_causal_lm(c.model, device=self.device, dtype=self.dtype, adapter=c.adapter, revision=c.revision)
        self.model.eval()
        self.eos_ids = stop_ids(self.tokenizer, self.model.generation_config.eos_token_id)

    @classmethod
    def around(cls, model: Any, config: HFConfig, note: dict[str, Any]) -> "HFBackend":
        """A backend over a model already in memory — GRPO's dev evaluation of the model it is training — so
        that model is asked exactly as `tinyreason eval` asks a loaded one (same tokenizer, rendering, stops,
        decoding). The caller switches the model to eval mode around `generate` and back. `note` (e.g. the
        training run and step) goes into describe(), so each evaluation's run config says which weights it saw."""
        self = cls.__new__(cls)
        ConfiguredBackend.__init__(self, config)
        self._setup()
        self.model, self.note = model, note
        self.eos_ids = stop_ids(self.tokenizer, self.model.generation_config.eos_token_id)
        return self

    def _setup(self) -> None:
        c = self.config
        self.model_name, self.adapter, self.revision = c.model, c.adapter, c.revision
        self.note: dict[str, Any] | None = None
        self.device, self.dtype = resolve_device_dtype(c.device, c.dtype)
        # batch_size counts sequences (prompts x n); halved on OOM and kept halved.
        self.batch_size = c.batch_size or (64 if self.device.startswith("cuda") else 16)
        self.tokenizer = load_tokenizer(c.model, revision=c.revision, padding_side="left")

    @classmethod
    def describe_config(cls, config: HFConfig) -> dict[str, Any]:
        """describe() without loading: 'auto' dtype resolves from this machine, the adapter is fingerprinted."""
        adapter = config.adapter
        return {
            "backend": cls.name,
            "model": config.model,
            "revision": config.revision,
            "adapter": str(Path(adapter).resolve()) if adapter and Path(adapter).exists() else adapter,
            "dtype": resolve_device_dtype(config.device, config.dtype)[1],
            **({"adapter_sha256": adapter_fingerprint(adapter)} if adapter else {}),
        }

    def describe(self) -> dict[str, Any]:
        return {**self.describe_config(self.config), **({"in_memory": self.note} if self.note else {})}

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        prompts = self.encode(chats)
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
        streamer = _TokenReporter(self.eos_ids) if progress.active() else None
        out = self.model.generate(**enc, generation_config=gen_cfg, streamer=streamer)
        new = out[:, enc["input_ids"].shape[1] :].tolist()
        completions = [completion_from_ids(self.tokenizer, self.eos_ids, seq, params.max_new_tokens, len(prompts[k // params.n])) for k, seq in enumerate(new)]
        return [completions[i * params.n : (i + 1) * params.n] for i in range(len(prompts))]


class _TokenReporter(BaseStreamer):
    """Reports each decoding step's new tokens to tinyreason.progress while generate runs, counting the
    tokens the Completions will count (up to and including a sequence's EOS, none of the padding after)."""

    def __init__(self, eos_ids: list[int]) -> None:
        self.eos_ids = set(eos_ids)
        self.finished: list[bool] | None = None  # None until generate has put the prompt

    def put(self, value: torch.Tensor) -> None:
        if self.finished is None:  # the first put is the prompt
            self.finished = []
            return
        tokens = value.reshape(-1).tolist()  # one new token per sequence (prompts x n)
        self.finished = self.finished or [False] * len(tokens)
        live = [i for i, done in enumerate(self.finished) if not done]
        ended = [i for i in live if tokens[i] in self.eos_ids]
        for i in ended:
            self.finished[i] = True
        progress.generated(tokens=len(live), sequences=len(ended))

    def end(self) -> None:
        progress.generated(sequences=(self.finished or []).count(False))  # the ones cut at max_new_tokens
