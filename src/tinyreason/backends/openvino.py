"""OpenVINO GenAI backend: the fastest CPU backend measured here (continuous batching, int8 weights).

    tinyreason eval --backend openvino --model path/to/qwen-dir            # exported once to int8, then cached
    tinyreason eval --backend openvino --model Qwen/Qwen2.5-0.5B-Instruct -b weight_format=bf16 -b num_threads=2
    tinyreason eval --backend openvino --model path/to/qwen-dir --adapter runs/grpo   # LoRA merged, then exported
    OpenVINOBackend(model="path/to/qwen-dir", weight_format="int4")       # Python API

Install: `pip install 'tinyreason[openvino]'` (openvino, openvino-genai, openvino-tokenizers, nncf; no
optimum-intel and no torchvision, see ov_export.py for why).

The model: a transformers folder or Hub id is exported once (ov_export.ensure_exported) into the cache
(`cache_dir`, default ~/.cache/tinyreason/openvino, keyed by the content of its files, not their path or
mtimes, and the weight format); a folder that already holds an OpenVINO model is used as it is. The run
records that content (`source_sha256`, `adapter_sha256`) as what generates, and the paths beside it (the
model folder, the adapter, the exported folder) as provenance (backends.base.backend_identity): the same
weights in another clone, on another machine, are the same run.

Generation: every prompt of a call is added to one `ContinuousBatchingPipeline` (`add_request`), which
schedules them together (paged KV cache of `kv_cache_gb`), and the backend calls `step()` until none is left:
the loop the engine's own `generate()` runs, driven from Python so that Ctrl-C lands between two decoding
steps (one blocking `generate()` of 64 prompts × 5 samples held it until the batch ended: over 45 s seen) and
each request moves the progress bar when it ends. The outputs are the ones `generate()` returns, in its order
(tests/test_openvino_steps.py). Prompts are rendered with the HF tokenizer's chat template and tokenized by
the HF tokenizer without adding special tokens (models.render_prompt, as the hf backend does), so the token
ids are identical to hf's; outputs are decoded by the same tokenizer. n samples per prompt are
`num_return_sequences` with `rng_seed = params.seed + index of the prompt` (same seed, same samples: the
engine promises it and the contract test checks it; with prefix caching on, a cached prefix changes the
prefill's numerics, so in bf16 a few tokens can differ from a cold run: prefix_caching=false repeats exactly).
Stop ids are the model's EOS plus, for ChatML, both <|im_end|> and <|endoftext|>; finish reasons and token
counts follow the hf backend exactly ("length" when max_new_tokens was reached without an end marker; n_tokens
counts the end marker).

Precision: on CPUs with AVX512-BF16/AMX the engine computes in bf16 and keeps the KV cache as u8 by default
(`inference_precision` / `kv_cache_precision` auto); f32 for both reproduces the hf backend's float32 greedy
tokens on the tiny test model.

LoRA adapters (`--adapter runs/sft`): merged into the float32 weights by PEFT before the export compresses
them, cached per adapter (the SHA-256 of its weights), so `eval --adapter` on a CPU runs as fast as the
base model. The adapter is then inside the int8 weights, not applied beside them as hf does in bf16: an
adapter row compares cleanly with base rows run on this backend and weight format (the study's setting).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator
from transformers import GenerationConfig

from tinyreason import progress
from tinyreason.backends.base import BackendConfig, ConfiguredBackend, require
from tinyreason.backends.ov_export import WeightFormat, adapter_key, ensure_exported, is_openvino_folder, source_key
from tinyreason.backends.tokens import ChatTemplatePrompts, completion_from_ids, error_completion, stop_ids
from tinyreason.models import load_tokenizer
from tinyreason.types import Chat, Completion, SamplingParams

log = logging.getLogger(__name__)


class OpenVINOConfig(BackendConfig):
    weight_format: WeightFormat = Field("int8", description="weights of the exported model: int8 (NNCF, asymmetric), int4 (groups of 128), fp16, bf16 or fp32")
    device: str = Field("CPU", description="OpenVINO device: CPU or GPU (an Intel GPU)")
    num_threads: int | None = Field(None, ge=1, description="CPU threads (INFERENCE_NUM_THREADS); default: the engine's (all cores)")
    inference_precision: Literal["auto", "f32", "bf16", "f16"] = Field("auto", description="compute precision (auto: bf16 on CPUs that have it)")
    kv_cache_precision: Literal["auto", "u8", "f16", "bf16", "f32"] = Field("auto", description="KV cache element type (auto: u8 on CPU)")
    kv_cache_gb: int = Field(2, ge=1, description="GB reserved for the paged KV cache (whole GB: the engine's unit)")
    prefix_caching: bool = Field(True, description="reuse the KV cache of a shared prompt prefix (few-shot prompts, n samples)")
    batch_size: int = Field(64, ge=1, description="sequences handed to one generate call, all scheduled together")
    cache_dir: str | None = Field(None, description="where exported models are kept (default ~/.cache/tinyreason/openvino or $TINYREASON_CACHE/openvino)")
    revision: str | None = Field(None, description="Hub revision of the model to export")
    adapter: str | None = Field(None, description="PEFT LoRA adapter folder, merged into the weights before export (cached per adapter)")

    @field_validator("device")
    @classmethod
    def _an_openvino_device(cls, device: str) -> str:
        if device.lower().split(":")[0] in ("cuda", "mps"):  # torch's names: --backend auto then picks a torch backend
            raise ValueError(f"'{device}' is a torch device; OpenVINO runs on CPU, GPU (an Intel GPU) or NPU")
        return device


class OpenVINOBackend(ChatTemplatePrompts, ConfiguredBackend):
    name = "openvino"
    Config = OpenVINOConfig
    loads_adapters = True  # by merging before export: --backend auto may pick it when an adapter is given

    def __init__(self, config: OpenVINOConfig | None = None, **options: Any) -> None:
        super().__init__(config, **options)
        c = self.config
        self._ov = require("openvino", self.name)
        self._genai = require("openvino_genai", self.name)
        self.model_name = c.model
        self.batch_size = c.batch_size
        self.folder, self.export_record = ensure_exported(c.model, c.weight_format, revision=c.revision, cache_dir=c.cache_dir, adapter=c.adapter)
        self.tokenizer = load_tokenizer(str(self.folder))
        self.eos_ids = stop_ids(self.tokenizer, configured_eos(self.folder))
        self._pipe = self._pipeline()

    def _pipeline(self) -> Any:
        return self._genai.ContinuousBatchingPipeline(str(self.folder), self._scheduler(), self.config.device.upper(), self._properties())

    def _scheduler(self) -> Any:
        sc = self._genai.SchedulerConfig()
        sc.cache_size = self.config.kv_cache_gb
        sc.enable_prefix_caching = self.config.prefix_caching
        return sc

    def _properties(self) -> dict[str, Any]:
        c = self.config
        props: dict[str, Any] = {}
        if c.num_threads:
            props["INFERENCE_NUM_THREADS"] = c.num_threads
        if c.inference_precision != "auto":
            props["INFERENCE_PRECISION_HINT"] = c.inference_precision
        if c.kv_cache_precision != "auto":
            props["KV_CACHE_PRECISION"] = c.kv_cache_precision
        return props

    @classmethod
    def describe_config(cls, config: OpenVINOConfig) -> dict[str, Any] | None:
        """The part of describe() the Config and the model's files say without exporting or loading anything
        (no engine version, no export folder): what a rerun is compared by before the model loads. The files'
        content hashes are cached (tinyreason.digests), so this costs milliseconds after the first time."""
        if is_openvino_folder(config.model):
            return None  # an exported folder: only its export record says what it holds
        adapter = adapter_key(config.adapter) if config.adapter else {}
        known = adapter.get("adapter_sha256") is not None  # an adapter folder without its weights (not committed): said once loaded
        return {"backend": cls.name, "model": config.model, "revision": config.revision, "weight_format": config.weight_format,
                "source_sha256": source_key(config.model, config.revision).get("source_sha256"),
                **({"adapter": str(Path(config.adapter).resolve()), **adapter} if known else {}),
                "device": config.device.upper(), "inference_precision": config.inference_precision,
                "kv_cache_precision": config.kv_cache_precision}

    def describe(self) -> dict[str, Any]:
        c = self.config
        record = self.export_record
        return {
            "backend": self.name,
            "model": self.model_name,
            "revision": c.revision,
            "weight_format": record.get("weight_format", c.weight_format),
            "source_sha256": record.get("source_sha256"),  # what generates; None for a Hub id (revision says which)
            **({"adapter": str(Path(c.adapter).resolve()), "adapter_sha256": record.get("adapter_sha256")} if c.adapter else {}),
            "openvino_model": str(self.folder),  # provenance, like the adapter's path: where, not what
            "engine": f"openvino-genai {self._genai.__version__}",
            "device": c.device.upper(),
            "inference_precision": c.inference_precision,
            "kv_cache_precision": c.kv_cache_precision,
        }

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        if not chats:
            return []
        prompts = self.encode(chats)
        configs = [self._generation_config(params, seed=params.seed + i) for i in range(len(prompts))]
        try:
            outputs = self._run(prompts, configs)
        except RuntimeError as e:  # one bad prompt (too long for the cache...) must not lose the others
            log.warning("openvino generate failed for a batch of %d (%s); retrying its prompts one at a time", len(prompts), e)
            return [self._generate_one(p, cfg, params) for p, cfg in zip(prompts, configs, strict=True)]
        return [self._completions(o, params, len(p)) for o, p in zip(outputs, prompts, strict=True)]

    def _generate_one(self, prompt: list[int], config: Any, params: SamplingParams) -> list[Completion]:
        try:
            (outputs,) = self._run([prompt], [config])
        except RuntimeError as e:
            return [error_completion(f"openvino: {e}".strip(), len(prompt))] * params.n
        return self._completions(outputs, params, len(prompt))

    def _run(self, prompts: list[list[int]], configs: list[Any]) -> list[list[Any]]:
        """The engine's own generate loop (add every request, step until none is left), driven from Python so
        that Ctrl-C lands between two decoding steps instead of after the whole batch, and each request is
        reported to tinyreason.progress when it ends. Returns each prompt's GenerationOutputs in the order the
        engine's generate() returns them (highest cumulative log-probability first)."""
        pipe, running = self._pipe, self._genai.GenerationStatus.RUNNING
        handles: list[Any] = []
        outputs: dict[int, list[Any]] = {}
        try:
            for i, (prompt, config) in enumerate(zip(prompts, configs, strict=True)):
                handles.append(pipe.add_request(i, self._tensor(prompt), config))
            while pipe.has_non_finished_requests():
                pipe.step()
                for i, handle in enumerate(handles):
                    if i not in outputs and handle.get_status() != running:
                        outputs[i] = sorted(handle.read_all(), key=lambda o: -o.score)
                        if progress.active():
                            progress.generated(tokens=sum(len(o.generated_ids) for o in outputs[i]), sequences=len(outputs[i]))
        finally:
            if pipe.has_non_finished_requests():  # interrupted or failed mid-batch: leave the engine empty for the next call
                self._abandon(handles)
        if len(outputs) < len(handles):
            raise RuntimeError(f"the engine stopped with {len(handles) - len(outputs)} of {len(handles)} requests unfinished")
        return [outputs[i] for i in range(len(handles))]

    def _abandon(self, handles: list[Any]) -> None:
        """Cancel every request in flight and let the engine free them (it does so at the end of a step); if it
        cannot, start a fresh pipeline rather than leave one that refuses the next batch."""
        for handle in handles:
            handle.cancel()
        try:
            for _ in range(8):
                if not self._pipe.has_non_finished_requests():
                    return
                self._pipe.step()
        except Exception as e:  # noqa: BLE001 - whatever broke the batch may break the clean-up step too
            log.warning("openvino: could not free an abandoned batch (%s); starting a fresh pipeline", e)
        if self._pipe.has_non_finished_requests():
            self._pipe = self._pipeline()

    def _tensor(self, ids: list[int]) -> Any:
        return self._ov.Tensor(np.asarray([ids], dtype=np.int64))

    def _generation_config(self, params: SamplingParams, seed: int) -> Any:
        g = self._genai.GenerationConfig()
        g.max_new_tokens = params.max_new_tokens
        g.stop_token_ids = set(self.eos_ids)
        g.eos_token_id = self.eos_ids[0]
        g.num_return_sequences = params.n
        g.do_sample = not params.greedy
        if not params.greedy:  # explicit, like hf: no top_k, no repetition penalty, whatever the model ships
            g.temperature = params.temperature
            g.top_p = params.top_p
            g.rng_seed = seed
        return g

    def _completions(self, outputs: list[Any], params: SamplingParams, prompt_tokens: int) -> list[Completion]:
        # NONE = the engine dropped the sequence unfinished; stop vs length is read from the ids, as for hf
        out = [completion_from_ids(self.tokenizer, self.eos_ids, list(o.generated_ids), params.max_new_tokens, prompt_tokens)
               if str(o.finish_reason).rsplit(".", 1)[-1] != "NONE" else
               error_completion("openvino: the engine did not finish this sequence (KV cache full? raise kv_cache_gb)", prompt_tokens)
               for o in outputs]
        if len(out) < params.n:
            out += [error_completion(f"openvino returned {len(out)} of n={params.n} sequences", prompt_tokens)] * (params.n - len(out))
        return out[: params.n]


def configured_eos(folder: Any) -> int | list[int] | None:
    """EOS ids from the folder's generation_config.json (None if it has none: the tokenizer's EOS is used)."""
    try:
        return GenerationConfig.from_pretrained(str(folder)).eos_token_id
    except OSError:
        return None
