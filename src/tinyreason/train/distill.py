"""Teacher distillation: ask a stronger model for structured traces of train questions, keep the valid ones.

    tinyreason distill generate --teacher openai:Qwen/Qwen2.5-7B-Instruct@http://127.0.0.1:8000/v1 \\
        --data ../shared/data/gsm8k/train.jsonl --n 100 --out traces.jsonl
    tinyreason distill generate --teacher hf:/path/to/model --n 20 --data train.jsonl --out traces.jsonl
    tinyreason train sft --traces traces.jsonl ...          # then fine-tune a student on them

The teacher sees the `distill_trace` prompt (prompts.py) and must answer in five labelled sections,
Facts -> Relationships -> Calculations -> Verification -> Answer. Each trace is validated:

    backend_error        the backend gave up on the question (retries used up); retried on a rerun
    truncated            the trace hit --max-new-tokens
    missing_labels       a section label is absent (a label starts its line: "Facts:", "**Facts:**", "### Facts")
    labels_out_of_order  all five present, but not in that order
    empty_section        a section has no content
    no_answer            no number after the Answer label (read with the grader's extract_answer)
    wrong_answer         the answer does not match the gold answer (the grader's answers_match)
    bare_guess           (format: free) right, but under 20 tokens stating no computation: not a chain
    false_arithmetic     (check_arithmetic) right, but a stated computation is false ("120 + 40 + 40 = 180"):
                         right by accident, a chain that would teach a slip (analysis.claims, conservative)

Files (OUT = traces.jsonl):
    traces.jsonl          accepted traces, one per line: id, question, gold, completion, answer, teacher, ...
                          (`train sft --traces` reads id / question / gold / completion)
    traces.rejects.jsonl  rejected attempts with `reason` and `detail`
    traces.config.json    teacher describe(), prompt text, sampling, data fingerprint, seed
    traces.summary.json   counts and reject reasons, recomputed from the two JSONL files

Rejection sampling (self-distillation, STaR / RFT: Zelikman et al. 2022, Yuan et al. 2023): `samples: k`
asks k completions per question (at the teacher's temperature) and keeps the first valid one; a question
with none is rejected with the count of each reason (`detail`: "0 of 4 valid: wrong_answer 3, truncated 1").
`format: free` drops the five-label check (the model's own chains under an eval prompt, e.g. `prompt: cot`):
a completion is then valid when it is finished, the grader's answer matches gold, and it is a chain: a right
answer under 20 generated tokens stating no computation (the taxonomy's bare guess, `#### 18` and little
else) is rejected as bare_guess, so the student never learns to guess. `check_arithmetic: true` also
rejects a right answer whose chain states a false computation (the taxonomy's claim checker: any reasonable
reading, rounding and running totals pass): the grader checks only the answer, and a right answer reached
through "15 + 30 + 60 = 120" is not a chain to learn from. The teacher may be any
backend spec, the student's own model through openvino included (`openvino:PATH`): no server needed.

Train questions are drawn in the seeded subset order (data.select) until --n traces are accepted or
--max-attempts questions have been asked; a batch never asks for more questions than traces still
needed, so the result is the first n accepted questions in that order whatever the batch size.
Resume: rerunning the same command continues (finished questions are skipped; a larger --n asks for
more); a different teacher, prompt, sampling, seed or data is an error naming the fields.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tinyreason.analysis.claims import false_claims
from tinyreason.analysis.taxonomy import is_guess
from tinyreason.answers import answers_match, extract_answer
from tinyreason.backends.base import Backend
from tinyreason.data import Dataset, select
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.runs import config_diff, environment
from tinyreason.types import Completion, Problem, SamplingParams

LABELS = ("Facts", "Relationships", "Calculations", "Verification", "Answer")
_NAMES = "(" + "|".join(LABELS) + ")"
_LABEL = re.compile(  # "Facts:", "**Facts:**", "- Facts:", "1. Facts:", or a markdown heading "### 1. Facts" (colon optional)
    r"^[ \t>#*_-]*(?:\d+[.)][ \t]*)?[*_]*" + _NAMES + r"[*_]*[ \t]*:"
    r"|^[ \t]*#{1,6}[ \t]*(?:\d+[.)][ \t]*)?[*_]*" + _NAMES + r"[*_]*[ \t]*:?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
console = Console(stderr=True)


class DistillError(RuntimeError):
    pass


class DistillOptions(BaseModel):
    """How to distill. Fields that change what is generated are stored in the config and checked on resume."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(100, ge=1, description="accepted traces wanted")
    max_attempts: int | None = Field(None, ge=1, description="most questions to ask in total (default 10 x n)")
    seed: int = Field(42, description="question order (seeded subset order) and teacher sampling seed")
    prompt: str = Field("distill_trace", description="teacher prompt template name")
    temperature: float = Field(0.0, ge=0, description="teacher sampling temperature (0 = greedy)")
    top_p: float = Field(1.0, gt=0, le=1, description="teacher nucleus sampling threshold")
    max_new_tokens: int = Field(1024, ge=1, description="teacher generation budget; longer traces are rejected as truncated")
    batch_size: int = Field(16, ge=1, description="questions per teacher call")
    samples: int = Field(1, ge=1, description="completions per question (rejection sampling: the first valid one is kept; >1 needs temperature > 0)")
    format: Literal["structured", "free"] = Field("structured", description="structured: the five labelled sections; free: any finished chain whose answer matches gold")
    check_arithmetic: bool = Field(False, description="also reject a right answer whose chain states a false computation (analysis.claims)")
    max_consecutive_errors: int = Field(10, ge=1, description="stop after this many backend errors in a row")


@dataclass(frozen=True)
class Verdict:
    reason: str | None  # None = accepted
    detail: str = ""
    answer: str | None = None
    answer_strict: str | None = None


@dataclass(frozen=True)
class Validation:
    """What makes a completion a trace: the format, and whether its stated computations must be true."""

    form: str = "structured"
    arithmetic: bool = False

    @classmethod
    def of(cls, opts: DistillOptions) -> Validation:
        return cls(opts.format, opts.check_arithmetic)

    def record(self) -> dict[str, Any]:
        """As traces.config.json records it (without check_arithmetic, as before it existed: old runs keep their identity)."""
        out: dict[str, Any] = (
            {"labels": list(LABELS), "answer": "extract_answer(flexible) of the text after the last Answer label, answers_match gold"}
            if self.form == "structured" else {"labels": None, "answer": "extract_answer(flexible) of the whole completion, answers_match gold"})
        if self.arithmetic:
            out["arithmetic"] = "every stated computation true under some reasonable reading (analysis.claims.false_claims)"
        return out


def check_trace(c: Completion, gold: str, form: str = "structured", arithmetic: bool = False) -> Verdict:
    """Validate one teacher completion against the trace format (unless `form` is free), the gold answer and,
    with `arithmetic`, the computations the chain states."""
    v = _checked(c, gold, form)
    if v.reason is None and arithmetic:
        false = false_claims(c.text)
        if false:
            shown = "; ".join(f"{f.expr} = {f.stated}" for f in false[:3])
            return Verdict("false_arithmetic", f"right, but {len(false)} false computation{'s' * (len(false) > 1)}: {shown}", v.answer, v.answer_strict)
    return v


def _checked(c: Completion, gold: str, form: str) -> Verdict:
    if c.finish_reason == "error":
        return Verdict("backend_error", c.error or "the backend returned an error")
    if c.finish_reason == "length":
        return Verdict("truncated", f"hit the generation budget after {c.n_tokens} tokens")
    if form == "free":
        v = _graded(c.text, gold)
        if v.reason is None and is_guess({"text": c.text, "n_tokens": c.n_tokens}):  # the analysis's rule: no chain to learn from
            return Verdict("bare_guess", f"right, but {c.n_tokens} tokens stating no computation: a guess, not a chain", v.answer, v.answer_strict)
        return v
    first: dict[str, tuple[int, int]] = {}
    answer_at = -1
    for m in _LABEL.finditer(c.text):
        label = (m[1] or m[2]).capitalize()
        first.setdefault(label, (m.start(), m.end()))
        if label == "Answer":
            answer_at = m.end()  # the last Answer label: the final one is the answer
    missing = [lab for lab in LABELS if lab not in first]
    if missing:
        return Verdict("missing_labels", "missing: " + ", ".join(missing))
    order = sorted(LABELS, key=lambda lab: first[lab][0])
    if order != list(LABELS):
        return Verdict("labels_out_of_order", "found in order: " + " -> ".join(order))
    ends = [first[lab][1] for lab in LABELS]
    starts = [first[lab][0] for lab in LABELS[1:]]
    empty = [lab for lab, a, b in zip(LABELS, ends, starts) if not c.text[a:b].strip()]
    if empty:
        return Verdict("empty_section", "empty: " + ", ".join(empty))
    return _graded(c.text[answer_at:], gold, "no number after the Answer label")


def _graded(section: str, gold: str, none: str = "no number in the completion") -> Verdict:
    answer, strict = extract_answer(section, "flexible"), extract_answer(section, "strict")
    if answer is None:
        return Verdict("no_answer", none, None, strict)
    if not answers_match(answer, gold):
        return Verdict("wrong_answer", f"answer {answer} != gold {gold}", answer, strict)
    return Verdict(None, "", answer, strict)


def pick(completions: list[Completion], gold: str, checks: Validation) -> tuple[Completion, Verdict, int]:
    """The first valid completion of a question's samples (and its index); else the first one with a verdict
    that counts every sample's reason."""
    verdicts = [check_trace(c, gold, checks.form, checks.arithmetic) for c in completions]
    for i, (c, v) in enumerate(zip(completions, verdicts)):
        if v.reason is None:
            return c, v, i
    if len(completions) == 1:
        return completions[0], verdicts[0], 0
    counts = Counter(v.reason for v in verdicts)
    reason = "backend_error" if counts.get("backend_error") == len(verdicts) else verdicts[0].reason
    detail = f"0 of {len(verdicts)} valid: " + ", ".join(f"{r} {k}" for r, k in counts.most_common())
    return completions[0], Verdict(reason, detail, verdicts[0].answer, verdicts[0].answer_strict), 0


@dataclass(frozen=True)
class TraceFiles:
    """traces.jsonl and its siblings (see module docstring)."""

    traces: Path

    def _sibling(self, suffix: str) -> Path:
        return self.traces.with_name(self.traces.with_suffix("").name + suffix)

    @property
    def rejects(self) -> Path:
        return self._sibling(".rejects.jsonl")

    @property
    def config(self) -> Path:
        return self._sibling(".config.json")

    @property
    def summary(self) -> Path:
        return self._sibling(".summary.json")

    def open(self, config: dict[str, Any]) -> None:
        """Write the config, or check that the stored one describes the same distillation."""
        self.traces.parent.mkdir(parents=True, exist_ok=True)
        if self.config.exists():
            diffs = config_diff(_as_run(json.loads(self.config.read_text())), _as_run(config))
            if diffs:
                raise DistillError(
                    f"{self.config} belongs to a different distillation; refusing to mix traces. Differences:\n  "
                    + "\n  ".join(diffs[:20])
                    + "\nUse another --out (or delete these files to start over)."
                )
            return
        for p in (self.traces, self.rejects):
            if p.exists() and p.stat().st_size:
                raise DistillError(f"{p} exists but {self.config.name} does not: refusing to append to traces of unknown origin")
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, self.config)


def read_jsonl(path: Path, *, repair: bool = True) -> list[dict[str, Any]]:
    """Rows of an append-only JSONL file, split on "\n" alone (a row's text may hold U+2028 and other characters
    `str.splitlines` would break on). A torn last line (killed mid-write) is not a row: with `repair` it is cut
    off the file (a resuming writer does this); without, the file is left as it is (a reader that only looks,
    such as `reproduce --dry-run` beside a running job, must not cut a line being written)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()
    if tail and repair:
        with path.open("r+b") as fh:
            fh.truncate(len(data) - len(tail))
    rows = []
    for lineno, raw in enumerate(lines, start=1):
        try:
            row = json.loads(raw)
            row["id"] = int(row["id"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise DistillError(f"{path}:{lineno}: broken line ({e}); fix or delete it") from None
        rows.append(row)
    return rows


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with path.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def sampling_params(opts: DistillOptions) -> SamplingParams:
    return SamplingParams(n=opts.samples, temperature=opts.temperature, top_p=opts.top_p, max_new_tokens=opts.max_new_tokens, seed=opts.seed)


def generation_config(template: PromptTemplate, params: SamplingParams, dataset: Dataset, checks: Validation = Validation()) -> dict[str, Any]:
    """What traces.config.json records besides the teacher and the environment: all that is known before the
    teacher loads (reproduce's state compares it with a stored distillation)."""
    sampling = {"temperature": params.temperature, "top_p": params.top_p, "max_new_tokens": params.max_new_tokens, "seed": params.seed}
    return {
        "prompt": {"name": template.name, "system": template.system, "user": template.user},
        "sampling": {**sampling, **({"samples_per_question": params.n} if params.n > 1 else {})},  # (a single sample keeps old runs' identity)
        "validation": checks.record(),
        "data": {"source": dataset.source, "split": dataset.split, "fingerprint": dataset.fingerprint(), "rows": len(dataset.problems)},
    }


def build_config(teacher: Backend, template: PromptTemplate, params: SamplingParams, dataset: Dataset, checks: Validation = Validation()) -> dict[str, Any]:
    return {"kind": "distill", "teacher": teacher.describe(), **generation_config(template, params, dataset, checks), **environment()}


def stored_differences(stored: dict[str, Any], template: PromptTemplate, params: SamplingParams, dataset: Dataset, checks: Validation) -> list[str]:
    """How a stored traces.config.json differs from a distillation of these settings, the teacher aside (its
    identity is known once it loads, where TraceFiles.open compares it): the data by content, not by path."""
    from tinyreason.identity import diff

    now = generation_config(template, params, dataset, checks)
    out: list[str] = []
    for key, value in now.items():
        if key == "data":
            if (stored.get("data") or {}).get("fingerprint") != value["fingerprint"]:
                out.append(f"data: stored {(stored.get('data') or {}).get('source')} holds other questions than now {value['source']}")
            continue
        out += diff(stored.get(key), value, key)
    return out


def _as_run(config: dict[str, Any]) -> dict[str, Any]:
    """A distillation config as runs.identity reads a run's: the teacher is its backend (its provenance, such
    as how `auto` chose it, is not identity)."""
    out = {k: v for k, v in config.items() if k != "teacher"}
    return {**out, "backend": config.get("teacher")}


def trace_row(p: Problem, c: Completion, v: Verdict, teacher: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"id": p.id, "question": p.question, "gold": p.gold, "completion": c.text.strip()}
    if v.reason is not None:
        row.update(reason=v.reason, detail=v.detail, error=c.error)
    row.update(answer=v.answer, answer_strict=v.answer_strict, finish_reason=c.finish_reason,
               n_tokens=c.n_tokens, prompt_tokens=c.prompt_tokens, teacher=teacher)
    return row


def summarize(accepted: dict[int, dict], rejected: dict[int, dict], wanted: int, teacher: dict[str, Any], cap: int | None = None,
              available: int | None = None) -> dict[str, Any]:
    """`cap`: max_attempts; `available`: questions in the data. Either bounds what can be asked: once every
    question it allows was answered with fewer than `wanted` accepted, the budget is spent."""
    bounds = [b for b in (cap, available) if b is not None]
    final_rejects = [r for i, r in rejected.items() if i not in accepted]  # a retried backend error may succeed
    attempted = len(accepted) + len(final_rejects)
    settled = attempted - sum(r["reason"] == "backend_error" for r in final_rejects)  # a backend error is asked again
    return {
        "wanted": wanted,
        "accepted": len(accepted),
        "attempted": attempted,
        "acceptance_rate": len(accepted) / attempted if attempted else None,
        "rejects_by_reason": dict(Counter(r["reason"] for r in final_rejects).most_common()),
        "complete": len(accepted) >= wanted,
        "max_attempts": cap,
        "questions_available": available,
        "budget_spent": bool(bounds) and len(accepted) < wanted and settled >= min(bounds),  # every question the budget allows was answered
        "data_exhausted": available is not None and len(accepted) < wanted and settled >= available,
        "teacher": teacher,
    }


class _Run:
    """The state of one distill call: what is done, what is pending, and the batch loop."""

    def __init__(self, teacher: Backend, dataset: Dataset, files: TraceFiles, opts: DistillOptions) -> None:
        self.teacher, self.files, self.opts = teacher, files, opts
        self.who = teacher.describe()
        self.template = get_prompt(opts.prompt)
        if opts.samples > 1 and opts.temperature == 0:
            raise DistillError(f"samples {opts.samples} at temperature 0 would draw the same completion {opts.samples} times: set a temperature > 0")
        self.params = sampling_params(opts)
        self.checks = Validation.of(opts)
        files.open(build_config(teacher, self.template, self.params, dataset, self.checks))
        self.accepted = {r["id"]: r for r in read_jsonl(files.traces)}
        self.rejected = {r["id"]: r for r in read_jsonl(files.rejects)}  # later lines win
        self.tried = set(self.accepted) | set(self.rejected)
        retry = {i for i, r in self.rejected.items() if r["reason"] == "backend_error" and i not in self.accepted}
        self.pending = deque(p for p in select(dataset, None, opts.seed) if p.id not in self.tried or p.id in retry)
        self.cap = opts.max_attempts or 10 * opts.n
        self.errors_in_a_row = 0

    def next_batch(self) -> list[Problem]:
        """Up to batch_size pending questions, never more than traces still needed, within the attempt cap."""
        size = min(self.opts.batch_size, self.opts.n - len(self.accepted))
        budget = self.cap - len(self.tried)
        batch: list[Problem] = []
        while self.pending and len(batch) < size:
            if self.pending[0].id not in self.tried:
                if budget == 0:
                    break
                budget -= 1
            batch.append(self.pending.popleft())
        return batch

    def run_batch(self, batch: list[Problem]) -> None:
        outs = self.teacher.generate([self.template.render(question=p.question) for p in batch], self.params)
        good, bad = [], []
        for p, comps in zip(batch, outs, strict=True):
            c, v, k = pick(comps, p.gold, self.checks)
            row = trace_row(p, c, v, self.who)
            if len(comps) > 1:
                row["sample"] = k  # which of the question's samples was kept (or judged)
            (good if v.reason is None else bad).append(row)
            self.errors_in_a_row = self.errors_in_a_row + 1 if v.reason == "backend_error" else 0
        append_jsonl(self.files.traces, good)
        append_jsonl(self.files.rejects, bad)
        self.accepted.update((r["id"], r) for r in good)
        self.rejected.update((r["id"], r) for r in bad)
        self.tried.update(p.id for p in batch)
        if self.errors_in_a_row >= self.opts.max_consecutive_errors:
            last = bad[-1]["detail"]
            raise DistillError(
                f"the teacher failed on {self.errors_in_a_row} questions in a row (last error: {last}). "
                "They are recorded as backend_error rejects and are asked again when you rerun: fix the server, then rerun."
            )


def distill(teacher: Backend, dataset: Dataset, out: str | Path, opts: DistillOptions, *, progress: bool = True) -> dict[str, Any]:
    """Generate, validate and store teacher traces until opts.n are accepted. Returns the summary."""
    if dataset.split == "test":
        raise DistillError(f"{dataset.source}: refusing to distill test questions (the traces would leak the benchmark into training); use the train split")
    get_prompt(opts.prompt)  # an unknown prompt fails before any file is written
    files = TraceFiles(Path(out))
    run = _Run(teacher, dataset, files, opts)
    bar = Progress(TextColumn("[bold]distill"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                   TimeElapsedColumn(), console=console, disable=not progress)
    info = lambda: f"accepted · {len(run.tried)} asked · {len(run.rejected)} rejected"  # noqa: E731
    try:
        with bar:
            task = bar.add_task("distill", total=opts.n, completed=min(opts.n, len(run.accepted)), info=info())
            while len(run.accepted) < opts.n:
                batch = run.next_batch()
                if not batch:
                    break
                run.run_batch(batch)
                bar.update(task, completed=min(opts.n, len(run.accepted)), info=info())
    finally:
        summary = summarize(run.accepted, run.rejected, opts.n, run.who, run.cap, len(dataset.problems))
        files.summary.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
