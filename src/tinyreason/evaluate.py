"""The evaluation loop: subset -> method.solve in batches -> samples.jsonl -> metrics.json.

    from tinyreason.evaluate import evaluate
    metrics = evaluate(backend, method, dataset, out="runs/greedy", limit=600, seed=42)

Pending questions are ordered by question length (similar lengths share a batch: less padding) and given
to the method a batch at a time; each finished batch is appended to samples.jsonl before the next starts,
so Ctrl-C, a crash or kill -9 loses at most the batch in flight, and rerunning the same command resumes.
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from tinyreason.answers import answers_match
from tinyreason.backends.base import Backend
from tinyreason.data import Dataset, select
from tinyreason.methods.base import Method
from tinyreason.metrics import compute_metrics
from tinyreason.progress import listening
from tinyreason.runs import RunDir, check_resume, environment
from tinyreason.types import Prediction, Problem, to_jsonable

console = Console(stderr=True, soft_wrap=True)  # paths in messages stay whole (copyable)


def build_config(method: Method, dataset: Dataset, problems: list[Problem], limit: int | None, seed: int, *,
                 backend: dict[str, Any] | None, example_prompt: str | None, from_end: bool = False) -> dict[str, Any]:
    """The identity of a run (what resuming compares); `backend` is the backend's describe()."""
    subset: dict[str, Any] = {"limit": limit, "seed": seed, **({"from": "end"} if from_end else {}), "ids": [p.id for p in problems]}
    return {
        "kind": "eval",
        "method": {"name": method.name, **method.config.model_dump()},
        "prompts": {t.name: t.record() for t in method.templates()},
        "example_prompt": example_prompt,
        "backend": backend,
        "data": {"source": dataset.source, "split": dataset.split, "fingerprint": dataset.fingerprint(), "rows": len(dataset.problems)},
        "subset": subset,
        "skipped_rows": dataset.skipped,
    }


def check_before_loading(out: str | Path, backend: dict[str, Any] | None, method: Method, dataset: Dataset, *, limit: int | None,
                         seed: int, from_end: bool = False) -> None:
    """Refuse (RunMismatch) a rerun into `out` that could not continue the run there, before any model loads.
    `backend`: what the backend will describe() (None when only the loaded backend knows; evaluate checks it)."""
    config = build_config(method, dataset, select(dataset, limit, seed, from_end=from_end), limit, seed, backend=backend, example_prompt=None,
                          from_end=from_end)
    check_resume(out, config, unknown=("example_prompt",) if backend is not None else ("example_prompt", "backend"))


def _example_prompt(backend: Backend, method: Method, problems: list[Problem]) -> str | None:
    render = getattr(backend, "render", None)
    return render(method.templates()[0].render(question=problems[0].question)) if render is not None and problems else None


def sample_record(p: Problem, pred: Prediction, wall_s: float) -> dict[str, Any]:
    sample_answers = [g.answer for g in pred.generations if g.stage == "sample"]
    return {
        "id": p.id,
        "question": p.question,
        "gold": p.gold,
        "prediction": pred.prediction,
        "correct": answers_match(pred.prediction, p.gold),
        "prediction_strict": pred.prediction_strict,
        "correct_strict": answers_match(pred.prediction_strict, p.gold),
        # oracle over the samples of a multi-sample method: the ceiling any selection rule could reach
        "pass_at_k": any(answers_match(a, p.gold) for a in sample_answers) if len(sample_answers) > 1 else None,
        "calls": pred.calls,
        "prompt_tokens": pred.prompt_tokens,
        "generated_tokens": pred.generated_tokens,
        "truncated": any(g.finish_reason == "length" for g in pred.generations),
        "error": next((g.extra["error"] for g in pred.generations if g.extra.get("error")), None),
        "wall_s": round(wall_s, 4),
        "generations": [to_jsonable(g) for g in pred.generations],
        "extra": pred.extra,
    }


class _Generated:
    """Sequences and tokens generated in this session: reported live by the backend (tinyreason.progress),
    and at least what each finished batch holds (for backends that report nothing), with the rate."""

    def __init__(self) -> None:
        self.tokens = self.sequences = 0
        self.start = time.perf_counter()
        self._lock = threading.Lock()

    def __call__(self, tokens: int, sequences: int) -> None:
        with self._lock:
            self.tokens += tokens
            self.sequences += sequences

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.tokens, self.sequences

    def settle(self, before: tuple[int, int], rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self.tokens = max(self.tokens, before[0] + sum(r["generated_tokens"] for r in rows))
            self.sequences = max(self.sequences, before[1] + sum(len(r["generations"]) for r in rows))

    def __str__(self) -> str:
        tokens, sequences = self.snapshot()
        return f"{sequences} seq · {tokens} tok · {tokens / max(time.perf_counter() - self.start, 1e-9):.1f} tok/s"


class _GeneratedColumn(ProgressColumn):
    def __init__(self, generated: _Generated) -> None:
        super().__init__()
        self.generated = generated

    def render(self, task: Task) -> Text:
        return Text(str(self.generated))


def _progress(generated: _Generated) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=10),  # leaves room for the generated-tokens column in 80 columns
        MofNCompleteColumn(),
        TextColumn("acc {task.fields[acc]}"),
        _GeneratedColumn(generated),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def evaluate(
    backend: Backend,
    method: Method,
    dataset: Dataset,
    out: str | Path,
    *,
    limit: int | None = 600,
    seed: int = 42,
    batch_size: int = 16,
    progress: bool = True,
    from_end: bool = False,
) -> dict[str, Any]:
    problems = select(dataset, limit, seed, from_end=from_end)
    checked = method.preflight(backend)  # before the run directory exists: a refused run leaves nothing behind
    config = build_config(method, dataset, problems, limit, seed, backend=backend.describe(), example_prompt=_example_prompt(backend, method, problems),
                          from_end=from_end)
    run = RunDir.open(out, {**config, **environment(), "preflight": checked})
    done = _saved(run, len(problems), announce=progress)
    pending = sorted((p for p in problems if p.id not in done), key=lambda p: len(p.question))
    per_batch = max(1, batch_size // max(1, method.samples_per_question))
    generated = _Generated()
    with _progress(generated) if progress else _NullProgress() as bar, listening(generated) if progress else nullcontext():
        task = bar.add_task(f"{method.name}", total=len(problems), completed=len(done), acc=_accuracy(done))
        for start in range(0, len(pending), per_batch):
            rows = _solve(backend, method, pending[start : start + per_batch], generated)
            run.append(rows)
            done.update((r["id"], r) for r in rows)
            bar.update(task, completed=len(done), acc=_accuracy(done))
    metrics = compute_metrics([done[p.id] for p in problems], expected_total=len(problems))
    metrics["skipped_rows"] = len(dataset.skipped)
    run.write_metrics(metrics)
    return metrics


def _saved(run: RunDir, total: int, *, announce: bool) -> dict[int, dict[str, Any]]:
    """The questions already finished in this run directory (repairing a torn last line, out loud)."""
    cut = run.repair_torn_tail()
    if cut:
        console.print(f"[yellow]repaired[/] {run.samples_path}: cut off a half-written last line ({cut} bytes; the process stopped "
                      "mid-write), so that question will be asked again")
    done = {s["id"]: s for s in run.iter_samples()}
    if done and announce:
        console.print(f"resuming: {len(done)}/{total} questions done in {run.path}")
    return done


def _solve(backend: Backend, method: Method, chunk: list[Problem], generated: _Generated) -> list[dict[str, Any]]:
    before = generated.snapshot()
    t0 = time.perf_counter()
    preds = method.solve(backend, chunk)
    wall = (time.perf_counter() - t0) / len(chunk)
    rows = [sample_record(p, pred, wall) for p, pred in zip(chunk, preds, strict=True)]
    generated.settle(before, rows)
    return rows


def _accuracy(done: dict[int, dict[str, Any]]) -> str:
    return f"{sum(bool(s['correct']) for s in done.values()) / max(1, len(done)):.1%}"


class _NullProgress:
    def __enter__(self) -> "_NullProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *a: object, **k: object) -> int:
        return 0

    def update(self, *a: object, **k: object) -> None:
        return None
