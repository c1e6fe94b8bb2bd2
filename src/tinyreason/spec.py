"""An evaluation as validated data: `EvalSpec`, and `run_eval(spec)` that runs it.

    spec = EvalSpec(model="./qwen", method="sc", method_options={"n": 5}, data="gsm8k/test.jsonl", limit=600)
    metrics, out = run_eval(spec)

`tinyreason eval` builds an EvalSpec from its flags (generated from these fields) or a YAML file and calls
run_eval; recipes build the same model from YAML. The spec is checked as a whole before anything loads: the
method's options against its Config, the backend's options against its Config, the subset's size and seed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

DEFAULT_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def slug(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", Path(model.rstrip("/")).name).strip("-").lower() or "model"


class EvalSpec(BaseModel):
    """One evaluation: which model and backend, which method, which questions, where the run goes."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: str = Field(DEFAULT_MODEL, description="Hub id, local model folder, local .gguf file, or `reference` (fetched by `tinyreason fetch-model reference`)")
    method: str = Field("greedy", description="inference method (see `tinyreason methods`)")
    method_options: dict[str, Any] = Field(default_factory=dict, description="options of the method's Config (n, temperature, prompt, ...)")
    backend: str = Field("auto", description="generation backend (see `tinyreason backends`; auto picks the fastest installed for the machine and model)")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="options of the backend's Config besides model (dtype, adapter, ...)")
    options_by_backend: dict[str, dict[str, Any]] = Field(default_factory=dict, description="backend options that apply only when that backend generates (after `auto` chose it), under backend_options: {openvino: {weight_format: bf16}} gives every OpenVINO eval bf16 weights and leaves vllm or hf ones as they are")
    data: str | None = Field(None, description="local GSM8K .jsonl, or gsm8k:test / gsm8k:train (the packaged copy); default (None): the Hub's openai/gsm8k when reachable, else the packaged copy")
    split: Literal["test", "train"] = Field("test", description="Hub split (a local file is its own split)")
    task: str | None = Field(None, description="a task instead of GSM8K (a name from `tinyreason tasks`, or a task YAML file): its data, question and gold fields; default (None): GSM8K (`data`, `split`)")
    limit: int = Field(600, ge=1, description="questions in the seeded subset (>= the split size takes all)")
    seed: int = Field(42, description="subset seed, and the method's sampling seed unless method_options sets one")
    subset_from: Literal["start", "end"] = Field("start", description="end: take the seeded order from its end (a dev slice of train disjoint from what training takes from its start)")
    skip_bad_rows: bool = Field(False, description="skip malformed data rows (counted in metrics) instead of failing")
    max_errors: int = Field(5, ge=0, description="stop after this many failed questions in a row (0: never stop); failed questions are asked again on a rerun")
    out: Path | None = Field(None, description="run directory (default runs/<model>-<method>-<split><limit>-s<seed>)")

    @field_validator("model")
    @classmethod
    def _reference(cls, model: str) -> str:
        from tinyreason.reference_model import resolve

        return resolve(model)  # `reference` -> its cached folder (the run records the path), or the fix

    _backend_choice: tuple[str, str | None] = PrivateAttr(default=("", None))

    @model_validator(mode="after")
    def _check_plugins(self) -> "EvalSpec":
        from tinyreason.backends.auto import resolve_backend
        from tinyreason.backends.base import backend_config, validate_config

        self.build_method()  # raises ValueError naming the bad option and the valid ones
        if "model" in self.backend_options or any("model" in o for o in self.options_by_backend.values()):
            raise ValueError("backend_options must not set model: use the spec's `model` field")
        for name, given in self.options_by_backend.items():
            fields = backend_config(name).model_fields  # an unknown backend name: the error names the valid ones
            unknown = sorted(set(given) - set(fields))
            if unknown:  # checked whichever backend generates, so a recipe fails here, not first on another machine
                raise ValueError(f"options_by_backend.{name}: {name} takes no option {', '.join(unknown)} (it takes {', '.join(sorted(set(fields) - {'model'}))})")
        options = {"model": self.model, **self.backend_options}
        # `auto` is resolved here, once per eval: the run uses and records this choice (backend.auto in config.json)
        chosen, reason = resolve_backend(options) if self.backend == "auto" else (self.backend, None)
        self._backend_choice = (chosen, reason)
        validate_config(backend_config(chosen), chosen, self.backend_config_options())
        return self

    def backend_choice(self) -> tuple[str, str | None]:
        """(the backend that generates, why `auto` chose it — None when the spec names it)."""
        return self._backend_choice

    def method_config_options(self) -> dict[str, Any]:
        task = self.load_task()
        default = {"prompt": task.prompt} if task is not None and task.prompt else {}  # the task's own prompt, unless set
        return {"seed": self.seed, **default, **self.method_options}

    def load_task(self) -> Any:
        from tinyreason.tasks import get_task

        return get_task(self.task) if self.task else None

    def dataset(self) -> Any:
        from tinyreason.data import load_problems
        from tinyreason.tasks import load_task

        if self.task and self.task != "gsm8k":
            return load_task(self.load_task(), skip_bad_rows=self.skip_bad_rows)
        return load_problems(self.data, self.split, skip_bad_rows=self.skip_bad_rows)

    def backend_config_options(self) -> dict[str, Any]:
        """The options of the chosen backend's Config: model, that backend's entry of options_by_backend, then
        backend_options (which win)."""
        return {"model": self.model, **self.options_by_backend.get(self._backend_choice[0], {}), **self.backend_options}

    def build_method(self) -> Any:
        from tinyreason.methods import create_method

        return create_method(self.method, **self.method_config_options())

    def run_dir(self) -> Path:
        if self.out is not None:
            return self.out
        source = Path(self.task).stem if self.task else self.split if self.data is None else Path(self.data).stem
        return Path("runs") / f"{slug(self.model)}-{self.method}-{source}{self.limit}-s{self.seed}"


def _backend_plan(spec: EvalSpec) -> tuple[type, Any, dict[str, Any] | None]:
    """(backend class, its validated Config, what it will describe() — None when only the loaded backend
    knows), for the backend the spec resolved to."""
    from tinyreason.backends.base import backend_class, validate_config

    chosen, reason = spec.backend_choice()
    cls = backend_class(chosen)
    config = validate_config(cls.Config, chosen, spec.backend_config_options())
    describe = getattr(cls, "describe_config", None)
    described = describe(config) if describe is not None else None
    if described is not None and reason is not None:
        described = {**described, "auto": {"chosen": chosen, "reason": reason}}
    return cls, config, described


def planned(spec: EvalSpec, *, without_data: bool = False) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The config the spec's run will write, as known before any model loads, and how to compare it with a
    stored one (runs.compare_run): what `run_eval` checks, and what reproduce's state of the row reads.
    `without_data`: the data cannot be read now (a missing file), so the questions are left out of the
    comparison (`run_eval` never does this: it needs the data)."""
    from tinyreason.data import Dataset
    from tinyreason.evaluate import planned_config

    _, _, described = _backend_plan(spec)
    dataset = Dataset(source="", split=spec.split, problems=[]) if without_data else spec.dataset()
    config, how = planned_config(spec.build_method(), dataset, model=spec.model, backend_name=spec.backend_choice()[0], backend=described,
                                 limit=spec.limit, seed=spec.seed, from_end=spec.subset_from == "end")
    if without_data:
        how = {**how, "unknown": (*how["unknown"], "data", "subset", "skipped_rows", "task")}
    return config, how


def planned_backend(spec: EvalSpec) -> dict[str, Any] | None:
    """What the spec's backend will describe(), as far as its config says before loading (None: only the loaded
    backend knows, e.g. a server)."""
    return _backend_plan(spec)[2]


def refusal(spec: EvalSpec) -> str | None:
    """Why the eval would refuse to run, as far as that is known before any model loads: an adapter folder
    without its weights (a clean clone's trained run), else its method's preflight (sc-verifier's gate, pal's
    sandbox); None when it would run, or when only the loaded backend can say."""
    adapter = spec.backend_config_options().get("adapter")
    if adapter:
        from tinyreason.models import check_adapter_folder

        try:
            check_adapter_folder(adapter)
        except FileNotFoundError as e:
            return str(e)
    described = planned_backend(spec)
    if described is None:
        return None
    try:
        spec.build_method().preflight(described, planned=True)
    except ValueError as e:
        return getattr(e, "why", None) or str(e)
    return None


def run_eval(spec: EvalSpec, *, progress: bool = True, warn: Any = None) -> tuple[dict[str, Any], Path]:
    """Run (or resume) the evaluation the spec describes; returns (metrics, run directory). `warn` gets
    warnings meant for the user (default: printed to stderr)."""
    from tinyreason.backends.auto import AutoBackend
    from tinyreason.evaluate import check_before_loading, evaluate

    warn = warn or _print_warning
    method = spec.build_method()
    dataset = spec.dataset()
    out = spec.run_dir()
    options = spec.backend_config_options()
    adapter = options.get("adapter")
    if adapter:
        from tinyreason.models import check_adapter_folder

        check_adapter_folder(adapter)  # before anything loads or is compared
    backend_cls, config, described = _backend_plan(spec)
    check_before_loading(out, described, method, dataset, model=spec.model, backend_name=spec.backend_choice()[0], limit=spec.limit, seed=spec.seed,
                         from_end=spec.subset_from == "end")
    if adapter:
        from tinyreason.train.sft import adapter_prompt_warning

        message = adapter_prompt_warning(adapter, method.templates()[0])
        if message:
            warn(message)
    if described is not None:
        method.preflight(described, planned=True)  # a refusal (sc-verifier's gate, pal's sandbox) comes before the model loads
    backend = backend_cls(config)
    chosen, reason = spec.backend_choice()
    if reason is not None:
        backend = AutoBackend.around(backend, chosen, reason)  # describe() records the choice
    batch_size = options.get("batch_size") or getattr(backend, "batch_size", 16)
    metrics = evaluate(backend, method, dataset, out, limit=spec.limit, seed=spec.seed, batch_size=batch_size, progress=progress,
                       from_end=spec.subset_from == "end", max_errors=spec.max_errors)
    return metrics, out


def error_summary(metrics: dict[str, Any]) -> str | None:
    """One line saying that (and how) generations failed, or None for a run without errors."""
    if not metrics.get("errors"):
        return None
    first = metrics.get("first_error") or {}
    line = (f"{metrics['errors']} question(s) failed to generate (not graded; answered {metrics['answered']} of {metrics['expected_total']}); "
            f"first error (id {first.get('id')}): {first.get('error')}")
    if metrics.get("stopped"):
        line += f"; {metrics['stopped']}"
    return line + ". Rerun the same command to retry them (errors.jsonl in the run directory has each one)."


def _print_warning(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]WARNING:[/] {message}")
