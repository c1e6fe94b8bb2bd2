"""What a method is, and the registry of methods.

A method is a composition  backend.generate -> answers (the grader) -> selection,  over a chunk of
problems. It holds no backend code and the backend holds no method logic.

    method = create_method("sc", n=5, temperature=0.7)
    predictions = method.solve(backend, problems)      # one Prediction per problem, same order

Each method declares a pydantic Config (fields carry their help text; unknown fields are an error, so a
flag that a method does not use can never be silently ignored) and the prompt templates it uses (stored
verbatim in the run config).
"""

from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from tinyreason.answers import extract_answer
from tinyreason.backends.base import Backend
from tinyreason.options import validate_options
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.types import Completion, Generation, Prediction, Problem, SamplingParams


class MethodConfig(BaseModel):
    """Fields every method has."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field("cot", description="answer prompt: a registered name (`tinyreason prompts`) or a YAML prompt file")
    max_new_tokens: int = Field(512, ge=1, description="generation budget per completion; longer ones are marked truncated")
    seed: int = Field(42, description="sampling seed (combined with the problem ids of each batch)")

    @field_validator("*")
    @classmethod
    def _prompt_exists(cls, value: Any, info: ValidationInfo) -> Any:
        """Every *prompt field (prompt, reflect_prompt, program_prompt, ...) names a template or a prompt file."""
        if info.field_name and info.field_name.endswith("prompt") and isinstance(value, str):
            get_prompt(value)  # UnknownPrompt / PromptFileError: a ValueError naming the valid choices
        return value


class SampledConfig(MethodConfig):
    """Fields of methods that sample several completions."""

    n: int = Field(5, ge=1, description="samples per question")
    temperature: float = Field(0.7, gt=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling threshold (1 = off)")


class Method:
    name: ClassVar[str]
    Config: ClassVar[type[MethodConfig]] = MethodConfig
    # what its records add to metrics.json and the summary (tinyreason.methods.records.Section); metrics.py
    # aggregates every registered method's, naming none
    record_sections: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, config: MethodConfig) -> None:
        self.config = config

    @property
    def samples_per_question(self) -> int:
        """Completions per question in the first call (sets how many questions share a batch)."""
        return getattr(self.config, "n", 1)

    def templates(self) -> list[PromptTemplate]:
        return [get_prompt(self.config.prompt)]

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        raise NotImplementedError

    def preflight(self, backend: dict[str, Any], planned: bool = False) -> dict[str, Any]:
        """Checks before any question is asked (e.g. sc-verifier's audit gate, pal's sandbox), given what the
        backend describes: `Backend.describe()` (`planned` False, from `evaluate`; what it returns is stored
        in the run config as "preflight"), or, before the model loads, the part its config already says
        (`planned` True, from `run_eval` and reproduce's dry run: refuse only what the loaded backend's
        description could not change). Raise ValueError with the fix to refuse the run."""
        return {}

    # -- helpers shared by methods ------------------------------------------------------------------
    def sampling(self, problems: list[Problem], *, n: int = 1, temperature: float = 0.0, top_p: float = 1.0) -> SamplingParams:
        return SamplingParams(
            n=n,
            temperature=temperature,
            top_p=top_p,
            max_new_tokens=self.config.max_new_tokens,
            seed=batch_seed(self.config.seed, problems),
        )

    def draw_samples(self, backend: Backend, problems: list[Problem]) -> list[list[Generation]]:
        """The self-consistency draw (needs a SampledConfig): config.n samples of the answer prompt
        (templates()[0]) at config.temperature / top_p, each graded, stage "sample"."""
        c = self.config
        params = self.sampling(problems, n=c.n, temperature=c.temperature, top_p=c.top_p)
        return self.ask(backend, self.templates()[0], problems, params, "sample")

    def ask(self, backend: Backend, template: PromptTemplate, problems: list[Problem], params: SamplingParams, stage: str, **fields: list[str]) -> list[list[Generation]]:
        """Render `template` for each problem (question plus any per-problem `fields`), generate, grade."""
        chats = [template.render(question=p.question, **{k: v[i] for k, v in fields.items()}) for i, p in enumerate(problems)]
        outs = backend.generate(chats, params)
        return [[grade(c, stage) for c in comps] for comps in outs]


def grade(c: Completion, stage: str) -> Generation:
    return Generation(
        stage=stage,
        text=c.text,
        n_tokens=c.n_tokens,
        prompt_tokens=c.prompt_tokens,
        finish_reason=c.finish_reason,
        answer=extract_answer(c.text, "flexible"),
        answer_strict=extract_answer(c.text, "strict"),
        extra={"error": c.error} if c.error else {},
    )


def batch_seed(seed: int, problems: list[Problem]) -> int:
    """A sampling seed that depends on the run seed and on which problems share the batch, so that a
    resumed run draws the same samples for the same batch of questions."""
    key = f"{seed}:" + ",".join(str(p.id) for p in problems)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big")


_REGISTRY: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    if cls.name in _REGISTRY:
        raise ValueError(f"method '{cls.name}' is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def method_names() -> list[str]:
    return sorted(_REGISTRY)


def method_class(name: str) -> type[Method]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown method '{name}': choose one of {', '.join(method_names())}")
    return _REGISTRY[name]


def create_method(name: str, **options: Any) -> Method:
    cls = method_class(name)
    return cls(validate_options(cls.Config, f"method '{name}'", options))
