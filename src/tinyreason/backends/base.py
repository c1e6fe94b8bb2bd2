"""The backend contract and its registry.

A backend turns chats into completions, and nothing else:

    backend = create_backend("hf", model="Qwen/Qwen2.5-0.5B-Instruct")
    outs = backend.generate([chat1, chat2], SamplingParams(n=5, temperature=0.7))
    outs[0][3].text   # 4th sample for chat1

Backends are registered by name with the dotted path of their class, so that heavy libraries (torch,
vLLM, llama.cpp, httpx) are imported only when that backend is created. An unknown name is an error that
lists the valid ones; a missing optional library is an error that names the extra to install.

Every backend declares its options as a pydantic `Config` (a `BackendConfig`: `extra="forbid"`, each field
with its help text, `Literal` choices), so the CLI and recipe YAML fill the same validated model, no module
branches on a backend's name, and an option a backend does not take is an error naming the ones it does:

    backend_config("openvino")                      # the Config class (imports the module, not the engine)
    create_backend("hf", model="...", dtype="float32")   # options validated by HFBackend.Config
    HFBackend(model="...", batch_size=8)            # the same, from Python
    HFBackend(HFBackend.Config(model="..."))        # or with a ready Config

A backend module must import its engine (openvino, vllm, llama_cpp) inside the class, not at module
level, so that reading its Config never needs the optional extra.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from tinyreason.options import validate_options
from tinyreason.types import Chat, Completion, SamplingParams


class BackendConfig(BaseModel):
    """Fields every backend has. Subclass it per backend; the CLI builds it from flags, recipes from YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field(description="what generates: a Hub id, a local model folder or file, or a server's model name")


def describe_fields(config_cls: type[BaseModel]) -> str:
    """'name (help)' for every field of a Config, for error messages and `tinyreason backends`."""
    return "; ".join(f"{k} ({f.description})" if f.description else k for k, f in config_cls.model_fields.items())


def validate_config(config_cls: type[BackendConfig], name: str, options: dict[str, Any]) -> BackendConfig:
    return validate_options(config_cls, f"backend '{name}'", options)


class ConfiguredBackend:
    """Base class of the built-in backends: holds the validated config as `self.config`.

    `Backend(config)` or `Backend(**options)`; subclasses read every setting from `self.config`."""

    name: ClassVar[str]
    Config: ClassVar[type[BackendConfig]] = BackendConfig

    def __init__(self, config: BackendConfig | None = None, **options: Any) -> None:
        if config is not None and options:
            raise TypeError(f"{type(self).__name__}: pass a Config or keyword options, not both")
        if config is not None and not isinstance(config, self.Config):
            raise TypeError(f"{type(self).__name__}: config must be a {self.Config.__name__}, got {type(config).__name__}")
        self.config = config if config is not None else validate_config(self.Config, self.name, options)

    @classmethod
    def describe_config(cls, config: BackendConfig) -> dict[str, Any] | None:
        """What describe() will return, as far as the Config (and the model's files) say without loading
        anything, so that a rerun into a run directory it cannot continue is refused before the model loads:
        compared key by key (the keys it leaves out, such as an engine version, are compared once loaded).
        None (the default): only the loaded backend knows its name and model, which are compared."""
        return None


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


# describe() keys that say how a backend was chosen or where its files lay, not what generates: recorded in
# the run config, never compared
PROVENANCE_KEYS = (
    "auto",                # how `--backend auto` chose
    "openvino_model",      # the exported folder in the OpenVINO cache (made from model + content + format)
    "source_fingerprint",  # OpenVINO runs stored before content keys: names, sizes and mtimes of the model files
)
# a path beside the hash of its content is provenance too: the content is what generates, so the same
# weights in another folder, clone or machine make the same run (without the hash, the path is compared)
NAMED_BY_CONTENT = {"model": "source_sha256", "adapter": "adapter_sha256"}
# content keys describe() gained after runs were stored: a stored run without one predates it and is
# compared without it, its paths then as they were (so an old run still resumes where it was made)
LATER_KEYS = ("source_sha256",)


def engine_name(description: dict[str, Any] | None) -> str:
    """The backend and its weight precision ("openvino int8", "hf bfloat16"): what makes numbers differ by means
    (the leaderboard's *other means*, FIDELITY.md, and the dry run's rates are told apart by it)."""
    b = description or {}
    return " ".join(x for x in (str(b.get("backend", "?")), str(b.get("weight_format") or b.get("dtype") or "")) if x)


def backend_identity(description: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """describe() without its provenance: what a resumed run and a verifier audit must match. A run that
    `--backend auto` sent to hf is the same run as one with `--backend hf`; a model copied elsewhere is the
    same model. `stored`: the description a stored run recorded, when `description` is compared with it;
    the LATER_KEYS it lacks are left out of `description` first."""
    out = dict(description)
    if stored is not None:
        out = {k: v for k, v in out.items() if k not in LATER_KEYS or k in stored}
    placed = {path for path, content in NAMED_BY_CONTENT.items() if out.get(content) is not None}
    return {k: v for k, v in out.items() if k not in PROVENANCE_KEYS and k not in placed}


_REGISTRY: dict[str, tuple[str | type, str]] = {}  # name -> ("module:Class" or the class, extra to install if import fails)


def register_backend(name: str, target: str | type, extra: str = "") -> None:
    """A backend by "module:Class" (imported when first used) or by the class itself (a plug-in's)."""
    if name in _REGISTRY:
        raise ValueError(f"backend '{name}' is already registered (by {_REGISTRY[name][0]})")
    _REGISTRY[name] = (target, extra)


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


class MissingDependency(ImportError):
    pass


class FatalBackendError(RuntimeError):
    """A failure every question would hit (a bad key, an unknown model): the run stops at once with the
    message, instead of recording it as an error of each question (tinyreason.evaluate)."""


def backend_class(name: str) -> type:
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend '{name}': choose one of {', '.join(backend_names())}")
    target, extra = _REGISTRY[name]
    if isinstance(target, type):
        return target
    module_name, cls_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = f" — install it with: pip install 'tinyreason[{extra}]'" if extra else ""
        raise MissingDependency(f"backend '{name}' needs a library that is not installed ({e.name}){hint}") from e
    return getattr(module, cls_name)


def backend_config(name: str) -> type[BackendConfig]:
    """The Config class of a registered backend (its module is imported; its engine is not)."""
    return backend_class(name).Config


def require(module: str, backend: str) -> Any:
    """Import a backend's engine when the backend is created; a missing one names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra = _REGISTRY.get(backend, ("", ""))[1]
        hint = f": pip install 'tinyreason[{extra}]'" if extra else ""
        raise MissingDependency(f"backend '{backend}' needs {module}, which is not installed ({e}){hint}") from e


def create_backend(name: str, **options: Any) -> Backend:
    """Instantiate a registered backend. Options are validated by its Config first: an unknown or invalid
    option is an error naming the valid ones (a typo must not change a run), before any model loads."""
    cls = backend_class(name)
    config = validate_config(cls.Config, name, options)
    return cls(config)


register_backend("hf", "tinyreason.backends.hf:HFBackend")
register_backend("scripted", "tinyreason.backends.scripted:ScriptedBackend")
register_backend("openai", "tinyreason.backends.openai_compat:OpenAIBackend", extra="api")
register_backend("openvino", "tinyreason.backends.openvino:OpenVINOBackend", extra="openvino")
register_backend("vllm", "tinyreason.backends.vllm:VLLMBackend", extra="vllm")
register_backend("llamacpp", "tinyreason.backends.llamacpp:LlamaCppBackend", extra="llamacpp")
register_backend("auto", "tinyreason.backends.auto:AutoBackend")
