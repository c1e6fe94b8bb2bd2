"""The contract every part of tinyreason speaks: small, typed, frozen.

    data     -> Problem
    prompts  -> Chat (a list of {"role", "content"} messages)
    backends -> Backend.generate(list[Chat], SamplingParams) -> list[list[Completion]]
    methods  -> Prediction (the final answer plus every Generation that led to it)
    runs     -> one Sample line per question in samples.jsonl

A backend only generates; a method only composes generate -> grade -> select; the run store only stores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

FinishReason = Literal["stop", "length", "error"]


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


Chat = list[Message]


@dataclass(frozen=True)
class Problem:
    """One question. `id` is the row index in its split, stable across machines."""

    id: int
    question: str
    gold: str  # normalized numeric string (see answers.normalize_number)
    solution: str = ""  # the reference worked solution (GSM8K `answer` field), for training


@dataclass(frozen=True)
class SamplingParams:
    """How to draw completions. temperature == 0 means greedy (and requires n == 1)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0, got {self.temperature}")
        if self.temperature == 0 and self.n > 1:
            raise ValueError("greedy decoding (temperature 0) gives n identical samples: set temperature > 0 for n > 1")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass(frozen=True)
class Completion:
    """One generated continuation, as a backend returns it."""

    text: str
    n_tokens: int  # generated tokens, EOS included, padding excluded
    finish_reason: FinishReason  # "length" = hit max_new_tokens (truncated); "error" = backend gave up
    prompt_tokens: int = 0
    error: str | None = None


@dataclass
class Generation:
    """A completion inside a method, labelled with its stage and graded."""

    stage: str  # e.g. "answer", "sample", "reflect", "verify"
    text: str
    n_tokens: int
    prompt_tokens: int
    finish_reason: FinishReason
    answer: str | None  # flexible extraction
    answer_strict: str | None  # strict (#### only) extraction
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """What a method decided for one problem, with everything needed to explain it."""

    prediction: str | None
    prediction_strict: str | None
    generations: list[Generation]
    calls: int  # model calls (prompts sent) for this problem
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific record (votes, triggers, ...)

    @property
    def prompt_tokens(self) -> int:
        return sum(g.prompt_tokens for g in self.generations)

    @property
    def generated_tokens(self) -> int:
        return sum(g.n_tokens for g in self.generations)


def to_jsonable(obj: Any) -> Any:
    """dataclass -> plain dict, for JSONL lines."""
    return asdict(obj)
