"""Load run directories and align two runs on the questions they share.

    run = load_run("runs/greedy")                 # config + samples (metrics recomputed from the samples)
    pair = align(load_run(a), load_run(b))        # shared ids in A's subset order; gold checked

Everything here reads only config.json and samples.jsonl: the method that produced a run does not matter.
The *subset order* (config.subset.ids) is the order the mirage check uses, never the file order (samples
are appended in batch order, sorted by question length).

Different question sets are compared on their intersection and `Paired.note` says so; the same id with
a different gold answer means the runs are on different data, which is an error (AnalysisError).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinyreason.metrics import compute_metrics
from tinyreason.runs import RunDir, RunError

# method options that are defaults of every method: left out of a run's label
_QUIET = {"name": None, "seed": None, "prompt": "cot", "max_new_tokens": 512, "top_p": 1.0, "workers": None}  # workers: how many programs run at once, never what they answer
_SHORT = {"temperature": "T", "max_new_tokens": "max_tok"}


class AnalysisError(RunError):
    """Runs that cannot be analysed together (or at all), with the reason and the fix."""


@dataclass
class Run:
    path: Path
    config: dict[str, Any]
    samples: dict[int, dict[str, Any]]  # id -> sample
    order: list[int]  # ids present, in subset order (config.subset.ids), then any extra ids
    expected: int  # questions in the run's subset
    errors: int = 0  # questions whose generation failed (errors.jsonl; never graded): the run is incomplete

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def method(self) -> str:
        return str(self.config.get("method", {}).get("name", "?"))

    @property
    def label(self) -> str:
        """Method plus the options that matter, e.g. 'sc n=5 T=0.7'."""
        return self.label_without()

    def label_without(self, *keys: str) -> str:
        """The label less some options (e.g. "prompt": the method and its settings, whatever it was asked under)."""
        opts = []
        for k, v in self.config.get("method", {}).items():
            if k in keys or (k in _QUIET and (_QUIET[k] is None or _QUIET[k] == v)):
                continue
            opts.append(f"{_SHORT.get(k, k)}={v}")
        return " ".join([self.method, *opts])

    @property
    def prompt(self) -> tuple[str, str]:
        """The answer prompt the run asked under: its name and its text as config.json keeps it (a prompt file
        edited between two runs is two prompts)."""
        name = str(self.config.get("method", {}).get("prompt", _QUIET["prompt"]))
        return name, json.dumps(self.config.get("prompts", {}).get(name), sort_keys=True)

    @property
    def base_model(self) -> str:
        """The model's folder or Hub name, without its adapter."""
        return Path(str(self.config.get("backend", {}).get("model", "?")).rstrip("/")).name

    @property
    def model(self) -> str:
        adapter = self.config.get("backend", {}).get("adapter")
        return self.base_model + (f" + {Path(str(adapter)).name}" if adapter else "")

    @property
    def complete(self) -> bool:
        return len(self.samples) >= self.expected and not self.errors

    @property
    def status(self) -> str:
        """'' for a complete run, else what it lacks: 'incomplete 412/600' (+ ', 3 errors')."""
        if self.complete:
            return ""
        return f"incomplete {len(self.samples)}/{self.expected}" + (f", {self.errors} error{'s' * (self.errors != 1)}" if self.errors else "")

    def metrics(self) -> dict[str, Any]:
        return compute_metrics([self.samples[i] for i in self.order], expected_total=self.expected)

    def correct(self, i: int) -> bool:
        return bool(self.samples[i]["correct"])


def load_run(path: str | Path) -> Run:
    run = RunDir(path)
    config = run.config()
    samples = {int(s["id"]): s for s in run.iter_samples() if not s.get("error")}  # an error is never an answer
    errors = len(run.errors(set(samples)))
    if not samples:
        raise AnalysisError(f"{path}: no finished questions in samples.jsonl (run `tinyreason eval` first)")
    ids = [int(i) for i in config.get("subset", {}).get("ids", [])]
    order = [i for i in ids if i in samples]
    seen = set(order)
    order += sorted(i for i in samples if i not in seen)
    return Run(Path(path), config, samples, order, expected=len(ids) or len(samples), errors=errors)


@dataclass
class Paired:
    """Two runs on their shared questions, in A's subset order."""

    a: Run
    b: Run
    ids: list[int]
    only_a: list[int] = field(default_factory=list)
    only_b: list[int] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def same_questions(self) -> bool:
        return not self.only_a and not self.only_b

    @property
    def note(self) -> str | None:
        if self.same_questions:
            return None
        return (
            f"DIFFERENT QUESTION SETS: comparing only the {len(self.ids)} shared questions "
            f"({self.a.name}: {len(self.a.samples)}, {self.b.name}: {len(self.b.samples)}; "
            f"{len(self.only_a)} only in {self.a.name}, {len(self.only_b)} only in {self.b.name})"
        )


def align(a: Run, b: Run) -> Paired:
    """Shared questions of two runs; AnalysisError when an id has different gold answers in the two."""
    from tinyreason.answers import answers_match

    shared = [i for i in a.order if i in b.samples]
    bad = [i for i in shared if not answers_match(str(a.samples[i]["gold"]), str(b.samples[i]["gold"]))]
    if bad:
        i = bad[0]
        raise AnalysisError(
            f"{a.path} and {b.path} disagree on the gold answer of {len(bad)} question(s), e.g. id {i}: "
            f"{a.samples[i]['gold']!r} vs {b.samples[i]['gold']!r}. They were run on different data "
            f"(data.fingerprint {a.config.get('data', {}).get('fingerprint', '?')[:12]} vs "
            f"{b.config.get('data', {}).get('fingerprint', '?')[:12]}); compare runs of the same dataset."
        )
    if not shared:
        raise AnalysisError(f"{a.path} and {b.path} share no question ids: nothing to compare")
    warnings = []
    differ = [i for i in shared if a.samples[i].get("question") != b.samples[i].get("question")]
    if differ:
        warnings.append(f"{len(differ)} shared id(s) have different question text (e.g. id {differ[0]}): same gold, edited question?")
    for r in (a, b):
        if not r.complete:
            warnings.append(f"{r.name} is {r.status} questions: rerun its eval command to finish it")
    return Paired(a, b, shared, [i for i in a.order if i not in b.samples], [i for i in b.order if i not in a.samples], warnings)
