"""vLLM backend: in-process `vllm.LLM` on CUDA GPUs, the way past one GPU (tensor and data parallel).

    tinyreason eval --backend vllm --model Qwen/Qwen2.5-0.5B-Instruct
    tinyreason eval --backend vllm --model Qwen/Qwen2.5-7B-Instruct -b tensor_parallel_size=2
    tinyreason eval --backend vllm --model Qwen/Qwen2.5-0.5B-Instruct --adapter runs/sft-lora   # LoRARequest
    VLLMBackend(model="...", data_parallel_size=4)                                             # Python API

Install: `pip install 'tinyreason[vllm]'` on a machine with CUDA (vLLM brings its own CUDA torch).

NOT YET RUN ON A GPU: no GPU was lent while this backend was written. Its mapping of SamplingParams, outputs,
finish reasons and token counts is tested on the CPU against a stand-in `vllm` module (tests/fake_vllm.py,
the contract suite); its speed and its behaviour inside real vLLM are unverified until a GPU run.

Prompts are rendered with the HF tokenizer's chat template and handed to vLLM as token ids
({"prompt_token_ids": ...}), so they are the hf backend's tokens exactly; outputs are decoded by the same
tokenizer. All prompts of a call go to one `LLM.generate` (vLLM schedules them itself), each with
`SamplingParams(n=params.n, seed=params.seed + index of the prompt)`, neutral sampling settings (no top-k,
min-p or repetition penalty, whatever the model ships: `generation_config="vllm"`), and the hf backend's
stop ids (EOS, and both ChatML end markers). Prefix caching is on by default (the n samples and a few-shot
prefix share their prompt's KV cache). A LoRA adapter goes through `LoRARequest` with `enable_lora`.

Scaling out: `tensor_parallel_size` splits one model over GPUs (a model too large for one, or lower
latency); `data_parallel_size` runs that many engines, each in its own process on its own
tensor_parallel_size GPUs, and splits every call's prompts between them (vllm_replicas.py, the pattern of
vLLM's offline data-parallel example). For GPUs on several machines, `vllm serve --data-parallel-size N`
plus the `openai` backend is the route vLLM itself documents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tinyreason.backends.base import BackendConfig, ConfiguredBackend, require
from tinyreason.backends.tokens import ChatTemplatePrompts, completion_from_ids, error_completion, stop_ids
from tinyreason.backends.vllm_replicas import Output, ReplicaPool
from tinyreason.models import adapter_fingerprint, check_adapter_folder, load_tokenizer
from tinyreason.types import Chat, Completion, SamplingParams


class VLLMConfig(BackendConfig):
    adapter: str | None = Field(None, description="PEFT LoRA adapter folder, applied per request through LoRARequest")
    max_lora_rank: int = Field(64, ge=1, description="largest LoRA rank the engine reserves room for (with an adapter)")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field("auto", description="weights and compute dtype (auto: the checkpoint's)")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model is split over")
    data_parallel_size: int = Field(1, ge=1, description="model replicas, each on tensor_parallel_size GPUs (vLLM data parallel)")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="fraction of each GPU's memory vLLM may take (weights + KV cache)")
    max_model_len: int | None = Field(None, ge=1, description="context length (prompt + generation); default: the model's")
    prefix_caching: bool = Field(True, description="reuse the KV cache of shared prompt prefixes (n samples, few-shot prompts)")
    enforce_eager: bool = Field(False, description="no CUDA graphs (faster start, slower decoding)")
    batch_size: int = Field(1024, ge=1, description="sequences handed to one generate call (vLLM schedules within it)")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) of the model")


class VLLMBackend(ChatTemplatePrompts, ConfiguredBackend):
    loads_adapters = True  # --backend auto may pick it when an adapter is given
    name = "vllm"
    Config = VLLMConfig

    def __init__(self, config: VLLMConfig | None = None, **options: Any) -> None:
        super().__init__(config, **options)
        c = self.config
        self._vllm = require("vllm", self.name)
        if c.adapter:
            check_adapter_folder(c.adapter)
        self.model_name = c.model
        self.batch_size = c.batch_size
        self.tokenizer = load_tokenizer(c.model, revision=c.revision)
        self.eos_ids = stop_ids(self.tokenizer, self._configured_eos())
        self._lora = ("adapter", 1, str(Path(c.adapter).resolve())) if c.adapter else None
        self.llm, self.replicas = None, None
        if c.data_parallel_size > 1:
            self.replicas = ReplicaPool(self.engine_args(), c.data_parallel_size, c.tensor_parallel_size)
        else:
            self.llm = self._vllm.LLM(**self.engine_args())

    def engine_args(self) -> dict[str, Any]:
        c = self.config
        args: dict[str, Any] = {
            "model": c.model,
            "tokenizer": c.model,
            "revision": c.revision,
            "dtype": c.dtype,
            "tensor_parallel_size": c.tensor_parallel_size,
            "gpu_memory_utilization": c.gpu_memory_utilization,
            "enable_prefix_caching": c.prefix_caching,
            "enforce_eager": c.enforce_eager,
            "generation_config": "vllm",  # neutral sampling defaults, not the model's shipped top_k/penalties
        }
        if c.max_model_len:
            args["max_model_len"] = c.max_model_len
        if c.adapter:
            args.update(enable_lora=True, max_lora_rank=c.max_lora_rank)
        return args

    def _configured_eos(self) -> int | list[int] | None:
        from transformers import GenerationConfig

        try:
            return GenerationConfig.from_pretrained(self.model_name, revision=self.config.revision).eos_token_id
        except OSError:
            return None

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {
            "backend": self.name,
            "model": self.model_name,
            "revision": c.revision,
            "adapter": str(Path(c.adapter).resolve()) if c.adapter else None,
            **({"adapter_sha256": adapter_fingerprint(c.adapter)} if c.adapter else {}),
            "dtype": c.dtype,
            "engine": f"vllm {getattr(self._vllm, '__version__', 'unknown')}",
            "tensor_parallel_size": c.tensor_parallel_size,
            "data_parallel_size": c.data_parallel_size,
        }

    def sampling_kwargs(self, params: SamplingParams, seed: int) -> dict[str, Any]:
        """vllm.SamplingParams arguments (a plain dict: replicas in other processes build their own)."""
        return {
            "n": params.n,
            "temperature": params.temperature,  # 0 = greedy
            "top_p": params.top_p,
            "max_tokens": params.max_new_tokens,
            "seed": None if params.greedy else seed,
            "stop_token_ids": list(self.eos_ids),
            "skip_special_tokens": True,
        }

    def _run(self, inputs: list[dict[str, Any]], sampling: list[dict[str, Any]]) -> list[list[Output]]:
        if self.replicas is not None:
            return self.replicas.run(inputs, sampling, self._lora)
        lora = require("vllm.lora.request", self.name).LoRARequest(*self._lora) if self._lora else None
        outs = self.llm.generate(inputs, [self._vllm.SamplingParams(**kw) for kw in sampling], lora_request=lora, use_tqdm=False)
        return [[(o.index, list(o.token_ids), o.finish_reason) for o in out.outputs] for out in outs]

    def close(self) -> None:
        """Stop the replica processes (data_parallel_size > 1); a single engine ends with the process."""
        if self.replicas is not None:
            self.replicas.close()

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        if not chats:
            return []
        prompts = self.encode(chats)
        inputs = [{"prompt_token_ids": ids} for ids in prompts]
        sampling = [self.sampling_kwargs(params, params.seed + i) for i in range(len(prompts))]
        outputs = self._run(inputs, sampling)
        return [self._completions(out, params, len(ids)) for out, ids in zip(outputs, prompts, strict=True)]

    def _completions(self, out: list[Output], params: SamplingParams, prompt_tokens: int) -> list[Completion]:
        got = sorted(out, key=lambda o: o[0])
        result = []
        for _, token_ids, finish in got[: params.n]:
            if finish not in ("stop", "length"):
                result.append(error_completion(f"vllm finished this sample with finish_reason={finish!r}", prompt_tokens))
                continue
            result.append(completion_from_ids(self.tokenizer, self.eos_ids, token_ids, params.max_new_tokens, prompt_tokens))
        missing = params.n - len(result)
        return result + [error_completion(f"vllm returned {len(got)} of n={params.n} samples", prompt_tokens)] * missing
