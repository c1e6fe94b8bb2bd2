"""Training examples: (question, target completion) pairs, their seeded selection, and the prompt they train on.

    examples = human_examples(load_problems("/work/shared/data/gsm8k/train.jsonl"))   # GSM8K's own solutions
    examples = load_traces("traces.jsonl")                                             # e.g. from `distill generate`
    chosen = select_examples(examples, n=2000, seed=42)
    prompt = render_prompt(tokenizer, get_prompt("cot"), question)   # exactly what eval's HFBackend feeds the model

Human traces are GSM8K solutions with the `<<48/2=24>>` calculator annotations removed (a model at eval time
never writes them, and the grader's text after them is unchanged), ending with the `#### N` line that the
`cot` prompt asks for. A traces file is JSONL, one object per line:

    {"id": 17, "question": "...", "gold": "72", "completion": "... #### 72", ...any extra keys}

`id` is the GSM8K train row index, `gold` the normalized answer; a bad line is an error naming file:line:field.
Selection uses data.subset_ids, so `--train-n 100 --seed 42` picks the same examples on every machine and a
smaller n is a prefix of a larger one.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyreason.answers import normalize_number
from tinyreason.data import DataError, Dataset, subset_ids
from tinyreason.prompts import PromptTemplate

_CALCULATOR = re.compile(r"<<[^<>\n]*>>")
TRACE_FIELDS = {"id": int, "question": str, "gold": str, "completion": str}


@dataclass(frozen=True)
class TrainExample:
    id: int  # GSM8K train row index
    question: str
    gold: str
    completion: str  # the target the model learns to write after the prompt (no EOS: the trainer adds it)


def strip_calculator(solution: str) -> str:
    """GSM8K solution -> the text a model should write: '48/2 = <<48/2=24>>24' -> '48/2 = 24'."""
    return _CALCULATOR.sub("", solution).strip()


def human_examples(dataset: Dataset) -> list[TrainExample]:
    return [TrainExample(p.id, p.question, p.gold, strip_calculator(p.solution)) for p in dataset.problems if p.solution]


def _trace(row: Any, where: str) -> TrainExample:
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    for key, typ in TRACE_FIELDS.items():
        if key not in row:
            raise DataError(f"{where}: field '{key}' is missing (a trace needs {', '.join(TRACE_FIELDS)})")
        val = row[key]
        if typ is int and (isinstance(val, bool) or not isinstance(val, int) or val < 0):
            raise DataError(f"{where}: field 'id' must be a non-negative integer (the GSM8K train row), got {val!r}")
        if typ is str and (not isinstance(val, str) or not val.strip()):
            raise DataError(f"{where}: field '{key}' must be a non-empty string")
    gold = normalize_number(row["gold"])
    if gold is None:
        raise DataError(f"{where}: field 'gold' is not a number: {row['gold']!r}")
    return TrainExample(row["id"], row["question"].strip(), gold, row["completion"].strip())


def load_traces(path: str | Path) -> list[TrainExample]:
    """A traces JSONL file, validated line by line (see module docstring for the format)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such traces file")
    out: list[TrainExample] = []
    seen: dict[int, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            where = f"{path}:{lineno}"
            if not line.strip():
                continue  # a trailing blank line is harmless here: traces are not positional
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
            ex = _trace(row, where)
            if ex.id in seen:
                raise DataError(f"{where}: field 'id' {ex.id} already used on line {seen[ex.id]} (one trace per question)")
            seen[ex.id] = lineno
            out.append(ex)
    if not out:
        raise DataError(f"{path}: no traces")
    return out


def select_examples(examples: list[TrainExample], n: int | None, seed: int) -> list[TrainExample]:
    """The seeded subset of `examples` by id, in subset order (the same order data.select uses)."""
    if n is not None and n < 1:
        raise ValueError(f"--train-n must be >= 1, got {n}")
    by_id = {e.id: e for e in examples}
    chosen = [by_id[i] for i in subset_ids(max(by_id) + 1, None, seed) if i in by_id]
    return chosen if n is None else chosen[:n]


def render_prompt(tokenizer: Any, template: PromptTemplate, question: str) -> str:
    """The training prompt: the eval template through the model's chat template, generation prompt included."""
    from tinyreason.models import render_prompt as render_chat

    return render_chat(tokenizer, template.render(question=question))


def to_records(examples: list[TrainExample], tokenizer: Any, template: PromptTemplate) -> list[dict[str, Any]]:
    """Rows in TRL's prompt-completion format (plain text: the chat template is applied here, once, exactly as
    eval applies it; TRL then masks the prompt tokens out of the loss and appends EOS to the completion)."""
    return [{"id": e.id, "prompt": render_prompt(tokenizer, template, e.question), "completion": e.completion} for e in examples]
