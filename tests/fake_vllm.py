"""A stand-in for the `vllm` package, so the vllm backend's mapping (engine arguments, SamplingParams,
outputs, finish reasons, token counts, LoRA requests) is tested on a CPU without vLLM.

It imitates vLLM's documented behaviour, not its speed: `LLM(**engine_args)` records its arguments;
`LLM.generate(prompts, sampling_params, lora_request=...)` returns one RequestOutput per prompt, in order,
each with `n` CompletionOutputs (`index`, `text`, `token_ids`, `finish_reason`). Tokens come from a
generator seeded by (seed, prompt ids, sample index) — greedy (temperature 0) draws the same tokens every
time — and a sample ends with a stop token id (included in token_ids, finish_reason "stop") or after
max_tokens (finish_reason "length"). A prompt longer than `LLM.abort_longer_than` tokens finishes with
"abort", the way an engine error shows.

    install(monkeypatch, vocab_size=...)   # puts vllm, vllm.lora and vllm.lora.request in sys.modules
"""

from __future__ import annotations

import random
import sys
import types
from dataclasses import dataclass, field
from typing import Any

@dataclass
class SamplingParams:
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 16
    seed: int | None = None
    stop_token_ids: list[int] = field(default_factory=list)
    skip_special_tokens: bool = True


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None


@dataclass
class RequestOutput:
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


class LLM:
    instances: list["LLM"] = []
    vocab_size = 64
    stop_every = 5  # on average one token in `stop_every` is a stop id, so both finish reasons occur
    abort_longer_than: int | None = None

    def __init__(self, **engine_args: Any) -> None:
        self.engine_args = engine_args
        self.calls: list[dict[str, Any]] = []
        LLM.instances.append(self)

    def generate(self, prompts: list[dict[str, list[int]]], sampling_params: list[SamplingParams], lora_request: Any = None,
                 use_tqdm: bool = True) -> list[RequestOutput]:
        if len(prompts) != len(sampling_params):
            raise ValueError("one SamplingParams per prompt")
        self.calls.append({"prompts": prompts, "sampling_params": sampling_params, "lora_request": lora_request})
        return [RequestOutput(p["prompt_token_ids"], [self._sample(p["prompt_token_ids"], sp, k) for k in range(sp.n)])
                for p, sp in zip(prompts, sampling_params)]

    def _sample(self, prompt: list[int], sp: SamplingParams, k: int) -> CompletionOutput:
        if self.abort_longer_than is not None and len(prompt) > self.abort_longer_than:
            return CompletionOutput(k, "", [], "abort")
        greedy = sp.temperature == 0
        rng = random.Random(f"{sum(prompt)}-{len(prompt)}-{0 if greedy else sp.seed}-{0 if greedy else k}")
        ids: list[int] = []
        while len(ids) < sp.max_tokens:
            stop = sp.stop_token_ids and rng.random() < 1 / self.stop_every
            ids.append(rng.choice(sp.stop_token_ids) if stop else rng.randrange(3, self.vocab_size))
            if stop:
                return CompletionOutput(k, "", ids, "stop")
        return CompletionOutput(k, "", ids, "length")


def install(monkeypatch: Any, vocab_size: int = 64) -> types.ModuleType:
    """Put the fake `vllm` (and `vllm.lora.request`) into sys.modules for this test."""
    vllm = types.ModuleType("vllm")
    vllm.__version__ = "0.0.0-fake"
    vllm.LLM, vllm.SamplingParams = LLM, SamplingParams
    lora, request = types.ModuleType("vllm.lora"), types.ModuleType("vllm.lora.request")
    request.LoRARequest = LoRARequest
    LLM.instances, LLM.vocab_size, LLM.abort_longer_than = [], vocab_size, None
    for name, mod in (("vllm", vllm), ("vllm.lora", lora), ("vllm.lora.request", request)):
        monkeypatch.setitem(sys.modules, name, mod)
    return vllm
