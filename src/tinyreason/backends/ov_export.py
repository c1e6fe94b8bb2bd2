"""Export a transformers causal LM to an OpenVINO model folder that OpenVINO GenAI runs, once, cached.

    folder, record = ensure_exported("path/to/qwen-dir", "int8")     # converts on first use, then reuses
    folder, record = ensure_exported("Qwen/Qwen2.5-0.5B-Instruct", "bf16", cache_dir="/data/ov")

Why not optimum-intel: its exporter (`optimum-cli export openvino`, `main_export`) is the usual route, but
optimum-intel 2.2 pins transformers < 5.6 and does not import with newer transformers (measured here with
transformers 5.24: `cannot import name 'VisionRotaryEmbedding'`), and its hard `torchvision` requirement
pulls a CUDA torch next to a CPU one ("operator torchvision::nms does not exist"). So this module does the
same few steps itself with `openvino` alone, for decoder-only models whose attention is torch SDPA:

1. trace the model in float32 through `openvino.convert_model`, with the KV cache as explicit inputs and
   outputs (`past_key_values.{i}.key` -> `present.{i}.key`), giving OpenVINO ScaledDotProductAttention ops;
2. make it stateful the way OpenVINO GenAI expects (a `beam_idx` input gathering the cache, then the cache
   as internal variables; the continuous-batching pipeline turns these into paged attention);
3. store the weights as int8 / int4 (NNCF weight compression, asymmetric; int4 in groups of 128), fp16,
   bf16 (the exact weights of a bf16 checkpoint) or fp32;
4. save the HF tokenizer files and an OpenVINO tokenizer/detokenizer (openvino_tokenizers), so the folder
   is a complete GenAI model, and `tinyreason_export.json` recording source, content hash, format, versions.

The cache key is content, not place: for a local folder the SHA-256 of its config, tokenizer, chat-template
and weight files (names and bytes; tinyreason.digests remembers each file's digest, so only the first use
of a checkpoint pays the seconds of hashing), for a Hub id the id and revision; then the adapter's
SHA-256 and the weight format. A retrained model in the same folder is exported again; the same weights
copied to another folder, or re-assembled with new mtimes, reuse the export.
The tiny test Qwen2 exports in ~3 s; the 0.5B reference model in about half a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np

from tinyreason.digests import cache_root, folder_sha256
from tinyreason.models import adapter_fingerprint, check_adapter_folder, check_model_source, load_adapter

WeightFormat = Literal["int8", "int4", "fp16", "bf16", "fp32"]
EXPORT_RECORD = "tinyreason_export.json"
MODEL_XML = "openvino_model.xml"
# the files of a transformers folder that make the model: config, tokenizer (vocab, merges, sentencepiece),
# chat template and weights (what AutoModel/AutoTokenizer read; not README, not subfolders)
MODEL_FILES = (".json", ".safetensors", ".bin", ".txt", ".model", ".jinja", ".tiktoken")


def default_cache_dir() -> Path:
    return cache_root() / "openvino"


def source_key(source: str, revision: str | None) -> dict[str, Any]:
    """What identifies the weights being exported: a local folder by the content of its MODEL_FILES (not its
    path, not their mtimes), a Hub id by id and revision (without a revision, an export of the Hub's current
    weights is reused even after the repository changes: pin `revision` to be sure)."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return {"source": source, "revision": revision}
    return {"source_sha256": folder_sha256(path, MODEL_FILES)}


def adapter_key(adapter: str | None) -> dict[str, Any]:
    """What identifies a LoRA adapter merged before export: the SHA-256 of its weights (not its folder)."""
    if adapter is None:
        return {}
    return {"adapter_sha256": adapter_fingerprint(adapter)}


def where_from(source: str, adapter: str | None) -> dict[str, Any]:
    """Where an export's source and adapter lay when it was made: recorded in its record, not part of its key."""
    path = Path(source).expanduser()
    return {"source": str(path.resolve()) if path.is_dir() else source, **({"adapter": str(Path(adapter).resolve())} if adapter else {})}


def export_folder(source: str, weight_format: str, revision: str | None, cache_dir: str | Path | None, adapter: str | None = None) -> Path:
    """The cache folder of this export: `<name>[+<adapter>]-<format>-<digest of the content key>`. The names
    are for people; the digest finds it, so a finished export of the same content made from a folder of
    another name is reused."""
    key = {**source_key(source, revision), **adapter_key(adapter), "weight_format": weight_format}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    cache = Path(cache_dir or default_cache_dir()).expanduser()
    for found in sorted(cache.glob(f"*-{weight_format}-{digest}")):
        if is_export(found):
            return found
    name = Path(source.rstrip("/")).name or "model"
    plus = f"+{Path(adapter.rstrip('/')).name}" if adapter else ""
    return cache / f"{name}{plus}-{weight_format}-{digest}"


def is_export(folder: Path) -> bool:
    """A finished export: ensure_exported renames a folder into place only once it is complete."""
    return (folder / EXPORT_RECORD).is_file() and is_openvino_folder(folder)


def is_openvino_folder(path: str | Path) -> bool:
    return (Path(path) / MODEL_XML).is_file()


def ensure_exported(source: str, weight_format: str, *, revision: str | None = None, cache_dir: str | Path | None = None,
                    adapter: str | None = None) -> tuple[Path, dict[str, Any]]:
    """The OpenVINO folder for `source` (with `adapter` merged into it, if given), exporting it first if the
    cache has none. A folder that already holds an OpenVINO model (e.g. from optimum-cli) is used as it is."""
    if adapter is not None:
        check_adapter_folder(adapter)
    if is_openvino_folder(source):
        if adapter is not None:
            raise ValueError(f"{source} is an exported OpenVINO model: an adapter merges only into a transformers model (folder or Hub id)")
        record_file = Path(source) / EXPORT_RECORD
        record = json.loads(record_file.read_text()) if record_file.is_file() else {"weight_format": "as exported (not by tinyreason)"}
        return Path(source), {**record, "cached": True}
    out = export_folder(source, weight_format, revision, cache_dir, adapter)
    if is_export(out):
        return out, {**json.loads((out / EXPORT_RECORD).read_text()), "cached": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    what = f"{source}" + (f" with the adapter {adapter} merged" if adapter else "")
    print(f"openvino: exporting {what} to OpenVINO ({weight_format} weights) once, into {out} "
          "(about a minute on 2 cores; later runs reuse it)", file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))  # atomic: a killed export leaves no half folder
    try:
        with _quiet():
            record = export(source, tmp, weight_format, revision=revision, adapter=adapter)
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, {**record, "cached": False}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The export says one line (above); the libraries' FutureWarnings and NNCF's bit-width table are noise."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def export(source: str, out: Path, weight_format: str, *, revision: str | None = None, adapter: str | None = None) -> dict[str, Any]:
    """Trace `source` (float32, with `adapter` merged into its weights by PEFT's merge_and_unload before any
    rounding), make it stateful, compress its weights to `weight_format`, and save it with its tokenizers."""
    import openvino as ov
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, __version__ as transformers_version

    check_model_source(source)
    t0 = time.perf_counter()
    kw = {"revision": revision} if revision else {}
    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, attn_implementation="sdpa", **kw).eval()
    if adapter is not None:
        model = load_adapter(model, adapter).merge_and_unload().eval()
    tokenizer = AutoTokenizer.from_pretrained(source, **kw)
    ov_model = trace(model)
    make_stateful(ov_model, model.config.num_hidden_layers)
    compress_weights(ov_model, weight_format)
    ov.save_model(ov_model, out / MODEL_XML, compress_to_fp16=weight_format == "fp16")
    save_tokenizers(tokenizer, out)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    del model, ov_model
    gc.collect()
    record = {
        **where_from(source, adapter),
        "revision": revision,
        **source_key(source, revision),
        **adapter_key(adapter),
        "weight_format": weight_format,
        "exporter": "tinyreason.backends.ov_export",
        "versions": {"openvino": ov.get_version(), "transformers": transformers_version, "torch": torch.__version__},
        "export_s": round(time.perf_counter() - t0, 1),
    }
    (out / EXPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def _cache_kwarg(model: Any) -> str:
    """transformers >= 5.24 calls the cache argument `cache`; earlier versions `past_key_values`."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def trace(model: Any) -> Any:
    """The model as an OpenVINO graph: inputs input_ids, attention_mask, position_ids and the KV cache of
    every layer; outputs logits and the updated cache."""
    import openvino as ov
    import torch
    from transformers import DynamicCache

    cfg = model.config
    layers = cfg.num_hidden_layers
    kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    cache_kwarg = _cache_kwarg(model)

    class WithExplicitCache(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, *past: Any) -> tuple[Any, ...]:
            cache = DynamicCache(config=cfg)
            if len(cache.layers) != layers:
                raise ValueError(f"{cfg.model_type}: the cache has {len(cache.layers)} layers, the model {layers}; not a plain decoder")
            for i, layer in enumerate(cache.layers):  # filled directly: an empty lazily-built cache does not trace
                layer.keys, layer.values, layer.is_initialized = past[2 * i], past[2 * i + 1], True
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=True, **{cache_kwarg: cache})
            return (out.logits, *[t for layer in cache.layers for t in (layer.keys, layer.values)])

    # batch 2, 3 cached + 2 new tokens: no shape is 1, so no branch of the mask code is specialized away
    batch, past_len, new = 2, 3, 2
    example = [torch.ones(batch, new, dtype=torch.long), torch.ones(batch, past_len + new, dtype=torch.long),
               torch.arange(past_len, past_len + new).repeat(batch, 1)]
    example += [torch.zeros(batch, kv_heads, past_len, head_dim) for _ in range(2 * layers)]
    shapes = [[-1, -1]] * 3 + [[-1, kv_heads, -1, head_dim]] * (2 * layers)
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes every shape-dependent branch; the example shapes above were chosen so none matters
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        ov_model = ov.convert_model(WithExplicitCache(), example_input=tuple(example), input=[ov.PartialShape(s) for s in shapes])
    inputs = ["input_ids", "attention_mask", "position_ids"] + [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    outputs = ["logits"] + [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    for port, name in zip(ov_model.inputs, inputs, strict=True):
        port.get_tensor().set_names({name})
    for port, name in zip(ov_model.outputs, outputs, strict=True):
        port.get_tensor().set_names({name})
    if not any(op.get_type_name() == "ScaledDotProductAttention" for op in ov_model.get_ops()):
        raise ValueError(f"{cfg.model_type}: no ScaledDotProductAttention in the traced graph, so OpenVINO GenAI cannot page its cache")
    return ov_model


def make_stateful(ov_model: Any, layers: int) -> None:
    """Cache inputs/outputs -> internal variables, with a `beam_idx` input that reorders the cache (the
    layout OpenVINO GenAI's pipelines read; the same steps as optimum-intel's `patch_stateful`)."""
    import openvino as ov
    from openvino import opset13
    from openvino._offline_transformations import apply_make_stateful_transformation

    kv_inputs = [f"past_key_values.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    kv_outputs = [f"present.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]
    beam_idx = opset13.parameter(name="beam_idx", dtype=ov.Type.i32, shape=ov.PartialShape([ov_model.input("input_ids").get_partial_shape()[0]]))
    beam_idx.output(0).get_tensor().add_names({"beam_idx"})
    ov_model.add_parameters([beam_idx])
    for name in kv_inputs:
        port = ov_model.input(name)
        consumers = port.get_target_inputs()
        gathered = opset13.gather(port, beam_idx, opset13.constant(0))
        for consumer in consumers:
            consumer.replace_source_output(gathered.output(0))
    ov_model.validate_nodes_and_infer_types()
    apply_make_stateful_transformation(ov_model, dict(zip(kv_inputs, kv_outputs, strict=True)))
    # each variable starts as an empty [batch, heads, 0, head_dim] tensor, batch taken from input_ids
    batch = opset13.gather(opset13.shape_of(ov_model.input("input_ids"), output_type="i64"), opset13.constant([0]), opset13.constant(0))
    for op in ov_model.get_ops():
        if op.get_type_name() == "ReadValue":
            dims: list[Any] = [d.min_length for d in op.get_output_partial_shape(0)]
            dims[0] = batch
            dims = [opset13.constant(np.array([d], dtype=np.int64)) if isinstance(d, int) else d for d in dims]
            op.set_arguments([opset13.broadcast(opset13.constant(0.0, dtype=op.get_output_element_type(0)), opset13.concat(dims, axis=0))])
    ov_model.validate_nodes_and_infer_types()


def compress_weights(ov_model: Any, weight_format: str) -> None:
    """int8/int4 through NNCF (weights only; activations stay float), bf16 by rounding the float32 weight
    constants; fp16 is done by save_model, fp32 leaves them."""
    if weight_format in ("int8", "int4"):
        import logging

        import nncf

        nncf.set_log_level(logging.ERROR)  # its bit-width table is noise next to the export's one line
        if weight_format == "int8":
            nncf.compress_weights(ov_model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        else:
            from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode

            # groups of 128 where a layer's width allows, else the largest power of two that divides it
            adjust = AdvancedCompressionParameters(group_size_fallback_mode=GroupSizeFallbackMode.ADJUST)
            nncf.compress_weights(ov_model, mode=nncf.CompressWeightsMode.INT4_ASYM, group_size=128, ratio=1.0, advanced_parameters=adjust)
    elif weight_format == "bf16":
        _weights_to_bf16(ov_model)


def _weights_to_bf16(ov_model: Any) -> None:
    import openvino as ov
    from openvino import opset13

    for op in ov_model.get_ops():
        if op.get_type_name() != "Constant" or op.get_element_type() != ov.Type.f32 or len(op.get_output_shape(0)) < 2:
            continue
        bits = np.ascontiguousarray(op.get_data(), dtype=np.float32).view(np.uint32)
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
        tensor = ov.Tensor(ov.Type.bf16, ov.Shape(list(rounded.shape)))
        tensor.data.view(np.uint16)[...] = rounded
        as_f32 = opset13.convert(opset13.constant(tensor), ov.Type.f32)
        for target in op.output(0).get_target_inputs():
            target.replace_source_output(as_f32.output(0))
    ov_model.validate_nodes_and_infer_types()


def save_tokenizers(tokenizer: Any, out: Path) -> None:
    import openvino as ov
    from openvino_tokenizers import convert_tokenizer

    tokenizer.save_pretrained(out)
    ov_tok, ov_detok = convert_tokenizer(tokenizer, with_detokenizer=True)
    ov.save_model(ov_tok, out / "openvino_tokenizer.xml")
    ov.save_model(ov_detok, out / "openvino_detokenizer.xml")
