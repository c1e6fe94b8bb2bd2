"""`--backend auto` (the default of `tinyreason eval`): the fastest installed backend for this machine.

    resolve_backend("path/to/qwen-dir", {"model": ...})    -> ("openvino", "no CUDA GPU; openvino installed: ...")
    create_backend("auto", model="path/to/model.gguf")     -> a llama.cpp backend if llama-server is installed

The order, first match wins:
1. a .gguf file -> llamacpp when its server is installed (else hf, which dequantizes GGUF through transformers);
2. a CUDA GPU and vLLM installed -> vllm;
3. no CUDA GPU and OpenVINO GenAI installed -> openvino (3x HF bf16 on the project's 2-core CPU);
4. otherwise hf.
A candidate is taken only if it accepts the options given (its own Config validates them; hf, vllm and
openvino load a LoRA adapter, openvino by merging it before export): `--dtype float32` on a CPU, or
`--adapter DIR` with a .gguf model, picks hf, and says so. The choice
and the reason are stored in the run config (`backend.auto` in config.json), so a run always records what
generated it and why. Detection never imports an engine: it looks for the package or the server binary.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from pydantic import ConfigDict, model_validator

from tinyreason.backends.base import BackendConfig, MissingDependency, backend_class, create_backend, validate_config
from tinyreason.options import OptionsError
from tinyreason.types import Chat, Completion, SamplingParams


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# what each backend needs beyond the package itself (`tinyreason backends` shows whether it is there)
_NEEDS = {"vllm": ("module", "vllm", "pip install -e '.[vllm]' (CUDA)"),
          "openvino": ("module", "openvino_genai", "pip install -e '.[openvino]'"),
          "openai": ("module", "openai", "pip install -e '.[api]'"),
          "llamacpp": ("server", "llama-server", "pip install -e '.[llamacpp]', or put a llama-server on PATH")}


def installed(name: str) -> tuple[bool, str]:
    """(whether backend `name` can run in this install, what to install when it cannot)."""
    what, thing, how = _NEEDS.get(name, ("", "", ""))
    if what == "module" and not _installed(thing):
        return False, f"needs {thing}: {how}"
    if what == "server":
        from tinyreason.backends.llamacpp import find_server

        if find_server(thing) is None:
            return False, f"needs {thing}: {how}"
    return True, ""


def candidates(model: str) -> list[tuple[str, str]]:
    """(backend, why it fits this machine) in order of preference; hf always last."""
    out: list[tuple[str, str]] = []
    if model.endswith(".gguf"):
        from tinyreason.backends.llamacpp import find_server

        if find_server("llama-server") is not None:
            out.append(("llamacpp", "a .gguf file and llama.cpp's llama-server is installed"))
    elif _cuda():
        if _installed("vllm"):
            out.append(("vllm", "a CUDA GPU and vllm is installed"))
    elif _installed("openvino_genai"):
        out.append(("openvino", "no CUDA GPU and openvino-genai is installed"))
    out.append(("hf", "the in-process transformers backend (no faster engine fits this machine and model)"))
    return out


def _refusal(name: str, options: dict[str, Any]) -> Exception | None:
    """Why backend `name` cannot take `options`, or None if it can."""
    try:
        cls = backend_class(name)
    except MissingDependency as e:
        return e
    if options.get("adapter") and not getattr(cls, "loads_adapters", False):
        return ValueError(f"{name} does not load LoRA adapters")
    try:
        validate_config(cls.Config, name, options)
    except ValueError as e:
        return e
    return None


def resolve_backend(options: dict[str, Any]) -> tuple[str, str]:
    """(backend name, reason) for these options on this machine; never raises for a missing engine."""
    skipped, refusal = [], None
    for name, why in candidates(str(options.get("model", ""))):
        refusal = _refusal(name, options)
        if refusal is None:
            return name, why + (f" (skipped: {'; '.join(skipped)})" if skipped else "")
        skipped.append(f"{name}: {refusal}")
    message = f"--backend auto found no backend that takes these options: {'; '.join(skipped)}"
    if isinstance(refusal, OptionsError):  # hf, tried last, takes any option a backend can: its problems are the ones to fix
        raise OptionsError("backend 'auto'", refusal.problems, refusal.valid, message)
    raise ValueError(message)


class AutoConfig(BackendConfig):
    """Any options: they are validated by the chosen backend's Config."""

    model_config = ConfigDict(extra="allow", frozen=True, protected_namespaces=())

    @model_validator(mode="after")
    def _some_backend_takes_them(self) -> "AutoConfig":
        resolve_backend(self.model_dump())  # options no backend takes are refused with the Config, before anything loads
        return self


class AutoBackend:
    """The chosen backend, with what was chosen and why added to describe()."""

    name = "auto"
    Config = AutoConfig

    def __init__(self, config: AutoConfig | None = None, **options: Any) -> None:
        opts = config.model_dump() if config is not None else options
        self.chosen, self.reason = resolve_backend(opts)
        self.inner = create_backend(self.chosen, **opts)

    @classmethod
    def around(cls, inner: Any, chosen: str, reason: str) -> "AutoBackend":
        """A backend already chosen (EvalSpec resolves `auto` once per eval) and created, wrapped so that
        describe() records the choice."""
        self = cls.__new__(cls)
        self.chosen, self.reason, self.inner = chosen, reason, inner
        return self

    def __getattr__(self, attr: str) -> Any:  # render, batch_size, tokenizer...: whatever the chosen backend has
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    @classmethod
    def describe_config(cls, config: AutoConfig) -> dict[str, Any] | None:
        """describe() without loading anything: the chosen backend's describe_config, and the choice."""
        opts = config.model_dump()
        chosen, reason = resolve_backend(opts)
        inner = backend_class(chosen)
        describe = getattr(inner, "describe_config", None)
        described = describe(validate_config(inner.Config, chosen, opts)) if describe is not None else None
        return None if described is None else {**described, "auto": {"chosen": chosen, "reason": reason}}

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "auto": {"chosen": self.chosen, "reason": self.reason}}

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        return self.inner.generate(chats, params)
