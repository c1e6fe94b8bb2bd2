"""The evaluation loop: subset -> method.solve in batches -> samples.jsonl -> metrics.json.

    from tinyreason.evaluate import evaluate
    metrics = evaluate(backend, method, dataset, out="runs/greedy", limit=600, seed=42)

Pending questions are ordered by question length (similar lengths share a batch: less padding) and given
to the method a batch at a time; each finished batch is appended to samples.jsonl before the next starts,
so Ctrl-C, a crash or kill -9 loses at most the batch in flight, and rerunning the same command resumes.

An error is not an answer. A question any of whose generations failed (the backend's error completion:
connection refused, timeout, 5xx/429 after the retries, a malformed response) or whose method raised (a
backend crash, out of memory at batch 1, a sandbox that could not start) goes to errors.jsonl, whole — a
multi-call method never keeps half a question — and is never graded: the accuracy, its interval and pass@k
are over the answered questions only, metrics.json says `complete: false` with `errors`, and a rerun asks
exactly those questions again. After `max_errors` failed questions in a row the run stops (the server is
down: no point paying 600 timeouts). A FatalBackendError (a bad API key, an unknown model) stops the run at
once with its message: every question would hit it.
"""

from __future__ import annotations

import threading
import time
import traceback
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from tinyreason.answers import answers_match
from tinyreason.backends.base import Backend, FatalBackendError
from tinyreason.data import Dataset, select
from tinyreason.methods.base import Method
from tinyreason.metrics import compute_metrics
from tinyreason.plugins import records as plugin_records
from tinyreason.progress import listening
from tinyreason.runs import RunDir, check_resume, environment, now
from tinyreason.types import Prediction, Problem, to_jsonable

console = Console(stderr=True, soft_wrap=True)  # paths in messages stay whole (copyable)


def build_config(method: Method, dataset: Dataset, problems: list[Problem], limit: int | None, seed: int, *,
                 backend: dict[str, Any] | None, example_prompt: str | None, from_end: bool = False) -> dict[str, Any]:
    """The identity of a run (what resuming compares); `backend` is the backend's describe()."""
    subset: dict[str, Any] = {"limit": limit, "seed": seed, **({"from": "end"} if from_end else {}), "ids": [p.id for p in problems]}
    used = {("method", method.name), *(("prompt", t.name) for t in method.templates()), *((("backend", backend["backend"]),) if backend else ()),
            *((("task", dataset.task["name"]),) if dataset.task else ())}
    plugins = plugin_records(used)  # the plug-ins this run uses: an edited one makes another run
    return {
        "kind": "eval",
        "method": {"name": method.name, **method.config.model_dump()},
        "prompts": {t.name: t.record() for t in method.templates()},
        "example_prompt": example_prompt,
        "backend": backend,
        "data": {"source": dataset.source, "split": dataset.split, "fingerprint": dataset.fingerprint(), "rows": len(dataset.problems)},
        "subset": subset,
        "skipped_rows": dataset.skipped,
        **({"task": dataset.task} if dataset.task else {}),  # a task file's fields (GSM8K runs keep their old identity)
        **({"plugins": plugins} if plugins else {}),
    }


def planned_config(method: Method, dataset: Dataset, *, model: str, backend_name: str, backend: dict[str, Any] | None,
                   limit: int | None, seed: int, from_end: bool = False) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    """The config a run will write, as far as it is known before any model loads, and how to compare it
    (runs.compare_run's `unknown` / `partial`): `backend` is the part of describe() known before loading
    (describe_config), or None when only the loaded backend knows — then its name and model; either way it is
    compared key by key, and evaluate compares the whole description once the backend has loaded."""
    problems = select(dataset, limit, seed, from_end=from_end) if dataset.problems else []  # no questions: data not read (spec.planned)
    config = build_config(method, dataset, problems, limit, seed,
                          backend=backend if backend is not None else {"backend": backend_name, "model": model}, example_prompt=None, from_end=from_end)
    return config, {"unknown": ("example_prompt",), "partial": ("backend",)}  # the backend as far as it is known before loading


def check_before_loading(out: str | Path, backend: dict[str, Any] | None, method: Method, dataset: Dataset, *, model: str,
                         backend_name: str, limit: int | None, seed: int, from_end: bool = False) -> None:
    """Refuse (RunMismatch) a rerun into `out` that could not continue the run there, before any model loads."""
    config, how = planned_config(method, dataset, model=model, backend_name=backend_name, backend=backend, limit=limit, seed=seed, from_end=from_end)
    check_resume(out, config, **how)


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
    max_errors: int = 5,
) -> dict[str, Any]:
    problems = select(dataset, limit, seed, from_end=from_end)
    described = backend.describe()
    checked = method.preflight(described)  # before the run directory exists: a refused run leaves nothing behind
    config = build_config(method, dataset, problems, limit, seed, backend=described, example_prompt=_example_prompt(backend, method, problems),
                          from_end=from_end)
    per_batch = max(1, batch_size // max(1, method.samples_per_question))
    env = environment()
    env["runtime"] = {**env["runtime"], "batch_size": batch_size, "questions_per_batch": per_batch}  # greedy text can depend on the batch
    run = RunDir.open(out, {**config, **env, "preflight": checked})
    done = _saved(run, len(problems), announce=progress)
    errors = run.errors(set(done))
    if errors and progress:
        console.print(f"retrying {len(errors)} question(s) whose generation failed before (errors.jsonl)")
    pending = sorted((p for p in problems if p.id not in done), key=lambda p: len(p.question))
    generated = _Generated()
    failed_in_a_row, stopped = 0, None
    with _progress(generated) if progress else _NullProgress() as bar, listening(generated) if progress else nullcontext():
        task = bar.add_task(f"{method.name}", total=len(problems), completed=len(done), acc=_accuracy(done))
        for start in range(0, len(pending), per_batch):
            rows = _solve(backend, method, pending[start : start + per_batch], generated)
            graded = [r for r in rows if not r.get("error")]
            failed = {r["id"]: _error_row(r) for r in rows if r.get("error")}
            run.append(graded)
            run.append_errors(list(failed.values()))
            done.update((r["id"], r) for r in graded)
            for r in rows:
                failed_in_a_row = failed_in_a_row + 1 if r["id"] in failed else 0
                errors.pop(r["id"], None)
            errors.update(failed)
            bar.update(task, completed=len(done), acc=_accuracy(done))
            if max_errors and failed_in_a_row >= max_errors and start + per_batch < len(pending):
                stopped = f"stopped after {failed_in_a_row} failed questions in a row (--max-errors {max_errors}): is the server or backend up?"
                break
    metrics = compute_metrics([done[p.id] for p in problems if p.id in done], expected_total=len(problems), errors=list(errors.values()))
    metrics["skipped_rows"] = len(dataset.skipped)
    if stopped:
        metrics["stopped"] = stopped
    run.write_metrics(metrics)
    return metrics


def _error_row(r: dict[str, Any]) -> dict[str, Any]:
    """What errors.jsonl keeps of a failed question: which one, when, the error, and what was generated."""
    return {"id": r["id"], "question": r["question"], "error": r["error"], "at": now(), "calls": r.get("calls"),
            **({"traceback": r["traceback"]} if r.get("traceback") else {}),
            "generations": [{k: g.get(k) for k in ("stage", "finish_reason", "n_tokens", "extra")} for g in r.get("generations", [])]}


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
    try:
        preds = method.solve(backend, chunk)
    except FatalBackendError:  # a bad key or model: every question would fail the same way, so stop now, saying why
        raise
    except Exception as e:  # noqa: BLE001 — a backend crash, OOM at batch 1, a sandbox that did not start: the chunk's questions are errors
        text = f"{type(e).__name__}: {str(e).strip()[:2000]}"
        return [{"id": p.id, "question": p.question, "error": text, "traceback": traceback.format_exc(), "calls": None, "generations": []} for p in chunk]
    wall = (time.perf_counter() - t0) / len(chunk)
    rows = [sample_record(p, pred, wall) for p, pred in zip(chunk, preds, strict=True)]
    generated.settle(before, rows)
    return rows


def _accuracy(done: dict[int, dict[str, Any]]) -> str:
    return f"{sum(bool(s['correct']) for s in done.values()) / len(done):.1%}" if done else "—"


class _NullProgress:
    def __enter__(self) -> "_NullProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *a: object, **k: object) -> int:
        return 0

    def update(self, *a: object, **k: object) -> None:
        return None
