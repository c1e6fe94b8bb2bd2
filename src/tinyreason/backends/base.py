"""The backend contract and its registry.

A backend turns chats into completions, and nothing else:

    backend = create_backend("hf", model="Qwen/Qwen2.5-0.5B-Instruct")
    outs = backend.generate([chat1, chat2], SamplingParams(n=5, temperature=0.7))
    outs[0][3].text   # 4th sample for chat1

Backends are registered by name with the dotted path of their class, so that heavy libraries (torch,
vLLM, llama.cpp, httpx) are imported only when that backend is created. An unknown name is an error that
lists the valid ones; a missing optional library is an error that names the extra to install.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

from tinyreason.types import Chat, Completion, SamplingParams


@runtime_checkable
class Backend(Protocol):
    name: str

    def generate(self, chats: list[Chat], params: SamplingParams) -> list[list[Completion]]:
        """params.n completions for every chat, in order. Must not raise for one bad prompt if it can
        return a Completion with finish_reason="error" instead (so other questions are not lost)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Everything that identifies what generates (model, revision, adapter, dtype...): stored in the
        run config and compared on resume. Never secrets."""
        ...


_REGISTRY: dict[str, tuple[str, str]] = {}  # name -> ("module:Class", extra to install if import fails)


def register_backend(name: str, target: str, extra: str = "") -> None:
    if name in _REGISTRY:
        raise ValueError(f"backend '{name}' is already registered (by {_REGISTRY[name][0]})")
    _REGISTRY[name] = (target, extra)


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


class MissingDependency(ImportError):
    pass


def backend_class(name: str) -> type:
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend '{name}': choose one of {', '.join(backend_names())}")
    target, extra = _REGISTRY[name]
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = f" — install it with: pip install 'tinyreason[{extra}]'" if extra else ""
        raise MissingDependency(f"backend '{name}' needs a library that is not installed ({e.name}){hint}") from e
    return getattr(module, cls_name)


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend. Unknown options are an error (a typo must not change a run)."""
    cls = backend_class(name)
    try:
        return cls(**options)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            raise ValueError(f"backend '{name}' does not take that option: {e}") from None
        raise


register_backend("hf", "tinyreason.backends.hf:HFBackend")
register_backend("scripted", "tinyreason.backends.scripted:ScriptedBackend")
register_backend("openai", "tinyreason.backends.openai_compat:OpenAIBackend", extra="api")
