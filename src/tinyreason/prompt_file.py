"""Prompt templates as the user's data: a YAML file wherever a prompt name is accepted.

    # my-prompt.yaml
    system: You are a helpful assistant.       # a string, or null for the model's default system prompt
    user: "{question}\\nSolve it step by step and end with '#### <number>'."
    exemplars:                                 # optional: few-shot examples, rendered as prior chat turns
      - question: "Tom has 3 apples and buys 2 more. How many apples does he have?"
        answer: "3 + 2 = 5.\\n#### 5"
    source: "my lab's protocol v2"             # optional: where the text comes from (shown by `tinyreason prompts`)

    tinyreason eval --prompt my-prompt.yaml
    tinyreason eval --method reflect -o reflect_prompt=review.yaml   # a method's other prompts too

`user` must contain `{question}` (a method's other prompts also name their own fields, e.g. `{solution}`);
literal braces are written `{{` and `}}` (Python str.format). The run's config.json stores the full text,
so editing the file later never mixes two runs: a rerun with the edited file is refused as another run.
Every problem is reported with the file and line.
"""

from __future__ import annotations

import string
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tinyreason.config_io import ConfigFileError, read_mapping, validate
from tinyreason.prompts import Exemplar, PromptTemplate

SUFFIXES = (".yaml", ".yml")


class PromptFileError(ValueError):
    """A prompt file that cannot be read, with its file and line."""


class ExemplarModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, description="the example's question (rendered through `user`)")
    answer: str = Field(min_length=1, description="the assistant's answer to it")


class PromptFileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    system: str | None = Field(None, description="system prompt (null: the model's chat template default)")
    user: str = Field(min_length=1, description="the user turn, a str.format template with {question}")
    exemplars: list[ExemplarModel] = Field(default_factory=list, description="few-shot examples as prior turns")
    source: str = Field("", description="where the text comes from")
    used_by: str = Field("", description="which methods it is for")


def is_prompt_path(name: str) -> bool:
    return name.endswith(SUFFIXES) or Path(name).is_file()


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}


def load_prompt_file(path: str | Path) -> PromptTemplate:
    """The template a prompt file holds, named by its path as given (what the run config records)."""
    p = Path(path)
    if not p.is_file():
        raise PromptFileError(f"{path}: no such prompt file (a prompt is a registered name, see `tinyreason prompts`, or a YAML file)")
    try:
        doc = read_mapping(p)
        model = validate(PromptFileModel, doc)
    except ConfigFileError as e:
        raise PromptFileError(str(e)) from None
    try:
        fields = _fields(model.user)
    except ValueError as e:  # a lone brace
        raise PromptFileError(f"{doc.at(('user',))}: user: not a valid template ({e}); write literal braces as {{{{ and }}}}") from None
    if "question" not in fields:
        raise PromptFileError(f"{doc.at(('user',))}: user: must contain {{question}} (where the question goes); it names {sorted(fields) or 'no field'}")
    return PromptTemplate(name=str(path), user=model.user, system=model.system, used_by=model.used_by or f"prompt file {path}",
                          exemplars=tuple(Exemplar(e.question, e.answer) for e in model.exemplars), source=model.source or str(p.resolve()))
