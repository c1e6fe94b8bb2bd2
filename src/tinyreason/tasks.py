"""Tasks as data: which dataset, which fields make the question and the gold answer — a YAML file, or a name.

    # svamp.yaml                                  (any numeric-answer math set)
    name: svamp
    data: svamp.jsonl                             # local JSONL / CSV / Parquet, relative to this file (or hub: + config: + split:)
    id_field: ID                                  # optional: an integer column (default: the row index)
    question: "{Body} {Question}"                 # a template over the row's fields
    answer_field: Answer
    answer_parse: number                          # number (the field is the number) | gsm8k ('... #### N')
    prompt: cot                                   # optional: the task's default answer prompt

    tinyreason eval --task svamp.yaml --limit 300
    tinyreason tasks                              # the registered tasks (gsm8k is built in, in this format)

The seeded subset, the fingerprint and the one grader work unchanged for any numeric-answer task: a row
whose gold does not parse is a bad row, reported with its file, line and field (or skipped and counted with
--skip-bad-rows), as for GSM8K. Plug-ins register tasks with `register_task(Task(...))`.
"""

from __future__ import annotations

import csv
import json
import string
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tinyreason.answers import normalize_number, parse_gold
from tinyreason.config_io import ConfigFileError, read_mapping, validate
from tinyreason.data import Dataset, DataError
from tinyreason.types import Problem


class Task(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="the task's name (what runs and listings call it)")
    description: str = Field("", description="one line for people")
    data: str | None = Field(None, description="local .jsonl, .csv or .parquet (relative to the task file)")
    hub: str | None = Field(None, description="a Hugging Face Hub dataset id (instead of data)")
    config: str | None = Field(None, description="the Hub dataset's configuration")
    split: str = Field("test", description="the Hub split")
    id_field: str | None = Field(None, description="an integer column that identifies a row (default: the row index)")
    question: str = Field("{question}", description="template of the question over the row's fields, e.g. '{Body} {Question}'")
    answer_field: str = Field("answer", description="the column holding the gold answer")
    answer_parse: Literal["number", "gsm8k"] = Field("number", description="number: the field is the number; gsm8k: '... #### N'")
    prompt: str | None = Field(None, description="the task's default answer prompt (a name or a prompt file)")
    source_file: str | None = Field(None, description="the task file it was read from (set when loading)")

    @model_validator(mode="after")
    def _one_source(self) -> "Task":
        if (self.data is None) == (self.hub is None):
            raise ValueError("a task names exactly one of data: (a local file) or hub: (a Hub dataset id)")
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(self.question) if f]
        except ValueError as e:
            raise ValueError(f"question: not a valid template ({e})") from None
        if not fields:
            raise ValueError("question: the template names no field of the row, e.g. '{question}'")
        return self

    def fields(self) -> list[str]:
        return [f for _, f, _, _ in string.Formatter().parse(self.question) if f]


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    if task.name in _TASKS:
        raise ValueError(f"task '{task.name}' is already registered")
    _TASKS[task.name] = task
    return task


def task_names() -> list[str]:
    return sorted(_TASKS)


def load_task_file(path: str | Path) -> Task:
    p = Path(path)
    try:
        doc = read_mapping(p)
        task = validate(Task, doc)
    except ConfigFileError as e:
        raise DataError(str(e)) from None
    data = task.data if task.data is None or Path(task.data).is_absolute() else str((p.parent / task.data).resolve())
    return task.model_copy(update={"data": data, "source_file": str(p.resolve())})


def get_task(name: str) -> Task:
    if name in _TASKS:
        return _TASKS[name]
    if name.endswith((".yaml", ".yml")) or Path(name).is_file():
        return load_task_file(name)
    raise DataError(f"unknown task '{name}': choose one of {', '.join(task_names())}, or give a task file (YAML; see docs/extending.md)")


def _local_rows(path: Path) -> Iterator[tuple[str, Any]]:
    """(where, row) for each row of a local file; `where` is file:line."""
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        # a file iterates on "\n" (and "\r\n"): a row whose text holds U+2028 or another character str.splitlines
        # breaks on stays one row, and its line number stays the editor's
        with path.open(encoding="utf-8") as fh:
            lines = list(fh)
        for lineno, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield f"{path}:{lineno}", json.loads(line)
                except json.JSONDecodeError as e:
                    yield f"{path}:{lineno}", DataError(f"not valid JSON ({e.msg} at column {e.colno})")
    elif path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield f"{path}:{reader.line_num}", row
    elif path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(path).to_pylist()):
            yield f"{path} row {i}", row
    else:
        raise DataError(f"{path}: a task's data is .jsonl, .csv or .parquet")


def _hub_rows(task: Task) -> Iterator[tuple[str, Any]]:
    from tinyreason.hub import HubUnreachable, require_hub

    try:
        require_hub(f"the dataset {task.hub}")
    except HubUnreachable as e:
        raise DataError(str(e)) from None
    import datasets

    for i, row in enumerate(datasets.load_dataset(task.hub, task.config, split=task.split)):
        yield f"{task.hub}[{task.split}] row {i}", row


def _gold(task: Task, value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return parse_gold(text) if task.answer_parse == "gsm8k" else normalize_number(text)


def load_task(task: Task, *, skip_bad_rows: bool = False) -> Dataset:
    rows = _local_rows(Path(task.data)) if task.data else _hub_rows(task)
    problems: list[Problem] = []
    skipped: list[str] = []

    def bad(where: str, reason: str) -> None:
        if not skip_bad_rows:
            raise DataError(f"{where}: {reason} (fix the row, or pass --skip-bad-rows to skip and count it)")
        skipped.append(f"{where}: {reason}")

    for index, (where, row) in enumerate(rows):
        if isinstance(row, DataError):
            bad(where, str(row))
            continue
        if not isinstance(row, dict):
            bad(where, f"expected an object with fields, got {type(row).__name__}")
            continue
        missing = [f for f in [*task.fields(), task.answer_field, *([task.id_field] if task.id_field else [])] if f not in row]
        if missing:
            bad(where, f"missing field {', '.join(repr(m) for m in missing)} (the task {task.name} uses them)")
            continue
        gold = _gold(task, row[task.answer_field])
        if gold is None:
            bad(where, f"field '{task.answer_field}' holds no number ({task.answer_parse} answers): {str(row[task.answer_field])[:60]!r}")
            continue
        try:
            pid = int(row[task.id_field]) if task.id_field else index
        except (TypeError, ValueError):
            bad(where, f"field '{task.id_field}' is not an integer id: {row[task.id_field]!r}")
            continue
        question = task.question.format(**{k: str(v).strip() for k, v in row.items() if isinstance(k, str)}).strip()
        problems.append(Problem(id=pid, question=question, gold=gold, solution=str(row[task.answer_field])))
    if not problems:
        raise DataError(f"task {task.name}: no usable rows")
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise DataError(f"task {task.name}: id_field '{task.id_field}' repeats ids (e.g. {next(i for i in ids if ids.count(i) > 1)})")
    source = task.data or f"hub:{task.hub}/{task.config or 'default'}"
    return Dataset(source=f"task {task.name}: {source}", split=task.split if task.hub else Path(task.data or "").stem, problems=problems,
                   skipped=skipped, task={"name": task.name, "question": task.question, "answer_field": task.answer_field,
                                          "answer_parse": task.answer_parse, "id_field": task.id_field})


GSM8K = register_task(Task(name="gsm8k", description="GSM8K (Cobbe et al. 2021): grade-school math, '#### N' golds", hub="openai/gsm8k",
                           config="main", split="test", question="{question}", answer_field="answer", answer_parse="gsm8k"))
