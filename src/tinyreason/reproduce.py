"""Run a recipe: what is missing runs, what is partial resumes, what is done is skipped; then the pages.

    recipe = load_recipe("recipes/tinyreason.yaml", {"model": "./qwen-dir"})
    rows = survey(recipe)                       # the dry run: each experiment's state and estimated cost
    report = reproduce(recipe, only=["sc"])     # runs sc (and what it needs), then renders every page
    report.ok                                   # False when an experiment or a page failed

Experiments run in dependency order, in this process, one at a time. One that raises is recorded as failed
(the traceback goes to <runs>/reproduce.log) and the others go on; those that need it are "blocked". An
`optional` experiment whose method or trainer this install lacks is "skipped", as is whatever needs it.
Ctrl-C stops everything; what finished is on disk, and the same command resumes.

The pages are rendered only from run directories, by the analysis functions the single commands use:
results/LEADERBOARD.md + leaderboard.csv + PNGs (tinyreason leaderboard, against the recipe's baseline),
results/PROTOCOL.md (the protocol experiments: every candidate prompt on the dev slice, and the choice),
results/FIDELITY.md (each eval with `same_as:` against its twin: agreement, the noise floor),
results/site/ (`tinyreason view` of every run: a static site to browse; rebuilt here, not committed),
results/INFERENCE_ANALYSIS.md (tinyreason regressions: baseline vs every other eval) and
results/OVERFIT_REPORT.md (tinyreason report overfit: the memorize experiments). Every eval experiment with
at least one finished question is on them, whichever experiments this call ran.
"""

from __future__ import annotations

import functools
import gc
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable

from tinyreason.backends.base import engine_name
from tinyreason.experiments import Log, State, Yardstick, eval_token_stats
from tinyreason.recipes import Experiment, Recipe
from tinyreason.runs import RunDir, RunError, now

FINISHED = ("done", "ran", "resumed")
LOG_NAME = "reproduce.log"


@dataclass(frozen=True)
class Outcome:
    """What happened to one experiment (or page): status and a one-line detail."""

    name: str
    kind: str
    status: str  # done (already) | ran | resumed | failed | blocked | skipped  — pages: written | skipped | failed
    detail: str
    wall_s: float = 0.0


@dataclass
class Report:
    outcomes: list[Outcome]
    pages: list[Outcome] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # experiments run because a selected one needs them

    @property
    def ok(self) -> bool:
        return not any(o.status in ("failed", "blocked") for o in [*self.outcomes, *self.pages])


@dataclass(frozen=True)
class SurveyRow:
    name: str
    kind: str
    state: str
    cost: str
    needs: list[str]


def yardstick(recipe: Recipe) -> Yardstick:
    """What the recipe's eval runs measured so far: tokens per completion over all of them, and generated tokens
    per second of generation by (engine, method) from their samples' timings."""
    completions = tokens = 0
    by: dict[tuple[str, str], list[float]] = {}  # (engine, method) -> [tokens, seconds]
    for e in recipe.experiments:
        if e.kind != "eval":
            continue
        stats = eval_token_stats(e.out)
        if stats is None:
            continue
        completions, tokens = completions + stats.completions, tokens + stats.tokens
        try:
            config = RunDir(e.out).config()
        except (RunError, OSError, ValueError):
            continue
        key = (engine_name(config.get("backend")), str(config.get("method", {}).get("name", "?")))
        acc = by.setdefault(key, [0.0, 0.0])
        acc[0], acc[1] = acc[0] + stats.tokens, acc[1] + stats.wall_s
    rates = {k: t / w for k, (t, w) in by.items() if w > 0}
    return Yardstick(tokens / completions if completions else None, rates)


def survey(recipe: Recipe, only: list[str] | None = None) -> tuple[list[SurveyRow], list[str]]:
    """The dry run: every planned experiment's state and estimated cost, touching nothing."""
    order, added = recipe.plan(only)
    yard = yardstick(recipe)
    rows, unavailable, done, gpu_skipped = [], set(), set(), set()
    for e in order:
        missing = e.unavailable or next((f"needs {n}, which is unavailable" for n in e.needs if n in unavailable), None)
        if missing:
            unavailable.add(e.name)
            rows.append(SurveyRow(e.name, e.kind, f"unavailable: {missing}", "—", e.needs))
            continue
        if e.waiting:
            rows.append(SurveyRow(e.name, e.kind, f"waiting: {e.waiting}", "known once it has run", e.needs))
            continue
        try:
            state = e.runner.state(e.config, e.out)
            if state.status == "done" and not state.stale:
                done.add(e.name)
            elif (e.gpu and no_gpu()) or any(n in gpu_skipped for n in e.needs):
                gpu_skipped.add(e.name)
                why = no_gpu() if e.gpu else f"needs {next(n for n in e.needs if n in gpu_skipped)}, which {no_gpu()}"
                state = replace(state, note="; ".join(filter(None, (state.note, f"skipped here: {why}"))))
            elif not state.stale and all(n in done for n in e.needs):  # what it needs is there: would it run now?
                why = e.runner.refusal(e.config)
                if why:
                    state = replace(state, note="; ".join(filter(None, (state.note, f"will refuse: {why}"))))
            rows.append(SurveyRow(e.name, e.kind, str(state), e.runner.estimate(e.config, e.out, state, yard), e.needs))
        except (RunError, OSError, ValueError) as ex:
            rows.append(SurveyRow(e.name, e.kind, f"unreadable: {ex}", "unknown", e.needs))
    return rows, added


def _append_log(recipe: Recipe, text: str) -> None:
    recipe.runs.mkdir(parents=True, exist_ok=True)
    with (recipe.runs / LOG_NAME).open("a", encoding="utf-8") as fh:
        fh.write(f"{now()} {text.rstrip()}\n")


def sittings(log_text: str, name: str, end: str) -> tuple[float, int, bool]:
    """(wall seconds, sittings, complete) of experiment `name`'s run that finishes at `end` (an ISO time), from
    reproduce.log: its latest `start` line and, before it, each earlier sitting (a `start` ended by
    `interrupted` or `FAILED`), back to its first start (state `missing`) or its last `finished`. A sitting with
    no end line (kill -9, a lost machine) cannot be timed: complete is False and the total counts the others.
    Time spent on work redone after an interruption is in the total: it is the time the run cost."""
    events = []
    for line in log_text.splitlines():
        stamp, _, text = line.partition(" ")
        for word in ("start", "interrupted", "FAILED", "finished"):
            if text.startswith(f"{word} {name} ") or text.startswith(f"{word} {name};") or text.startswith(f"{word} {name}:"):
                try:
                    events.append((word, datetime.fromisoformat(stamp), text))
                except ValueError:
                    pass
    total, count, complete, until = 0.0, 0, True, datetime.fromisoformat(end)
    for word, at, text in reversed(events):
        if word == "finished":
            break
        if word == "start":
            if until is None:
                complete = False  # this sitting's end was never written
            else:
                total += (until - at).total_seconds()
            count += 1
            until = None
            if text.endswith(": missing"):
                break
        elif until is None:  # interrupted / FAILED: the end of the sitting before it
            until = at
        else:
            complete = False  # two ends in a row: a start line is missing
    return total, count, complete


@functools.cache
def no_gpu() -> str | None:
    """Why a GPU-sized experiment (`gpu: true`) cannot run here, or None where CUDA is available."""
    try:
        import torch
    except ImportError:
        return "needs a CUDA GPU (torch is not installed)"
    return None if torch.cuda.is_available() else "needs a CUDA GPU, which this machine lacks"


def _waiting_on(e: Experiment, results: dict[str, Outcome]) -> Outcome | None:
    """skipped / blocked when a need did not finish; None when every need is done."""
    for need in e.needs:
        o = results[need]
        if o.status == "skipped":
            return Outcome(e.name, e.kind, "skipped", f"needs {need}, which is not available")
        if o.status not in FINISHED:
            return Outcome(e.name, e.kind, "blocked", f"needs {need}, which {o.status}")
    return None


def run_experiment(recipe: Recipe, e: Experiment, results: dict[str, Outcome], log: Log, progress: bool) -> Outcome:
    if e.unavailable:
        return Outcome(e.name, e.kind, "skipped", f"not available: {e.unavailable}")
    waiting = _waiting_on(e, results)
    if waiting is not None:
        return waiting
    if e.waiting:  # its needs finished, and yet the choice it waits for is not there
        return Outcome(e.name, e.kind, "blocked", e.waiting)
    t0 = time.perf_counter()
    state: State | None = None
    try:
        state = e.runner.state(e.config, e.out)
        if state.status == "done":
            return Outcome(e.name, e.kind, "done", f"already done: {state}")
        if e.gpu and no_gpu():
            return Outcome(e.name, e.kind, "skipped", f"{no_gpu()}: {state}")
        if state.stale:
            return Outcome(e.name, e.kind, "failed", f"{e.out}: {state}")
        log(f"▶ {e.name} ({e.kind}): {state}")
        _append_log(recipe, f"start {e.name} ({e.kind}): {state}")
        detail = e.runner.run(e.config, e.out, state, log, progress)
        after = e.runner.state(e.config, e.out)
        if after.status != "done":
            raise RunError(f"it returned, but its run directory is {after}: {detail}")
    except KeyboardInterrupt:
        _append_log(recipe, f"interrupted {e.name}; the same command resumes it")
        raise
    except Exception as ex:  # noqa: BLE001 — one experiment's failure must not stop the others; the traceback is logged
        _append_log(recipe, f"FAILED {e.name}:\n{traceback.format_exc()}")
        return Outcome(e.name, e.kind, "failed", f"{type(ex).__name__}: {str(ex).strip()}", time.perf_counter() - t0)
    finally:
        gc.collect()  # one experiment's model must be gone before the next one loads its own
    wall = time.perf_counter() - t0
    whole = ""
    if state.status == "partial":  # resumed: what the whole run cost, from the log's earlier sittings
        log_file = recipe.runs / LOG_NAME
        total, count, complete = sittings(log_file.read_text(encoding="utf-8") if log_file.is_file() else "", e.name, now())
        if count > 1:
            whole = f" ({'' if complete else '≥ '}{total:.0f} s over {count} sittings)"
    _append_log(recipe, f"finished {e.name} in {wall:.0f} s{whole}: {detail}")
    return Outcome(e.name, e.kind, "resumed" if state.status == "partial" else "ran", detail, wall)


def reproduce(recipe: Recipe, only: list[str] | None = None, *, log: Log = print, progress: bool = True) -> Report:
    """Visit every planned experiment in dependency order, then render the pages."""
    order, added = recipe.plan(only)
    results: dict[str, Outcome] = {}
    for i, e in enumerate(order):
        if e.waiting:  # a protocol it needs has run since the recipe was read: read it again for the choice
            recipe = recipe.reload()
            e = order[i] = recipe.get(e.name)
        results[e.name] = run_experiment(recipe, e, results, log, progress)
        o = results[e.name]
        log(f"{o.name}: {o.status} — {o.detail}")
    return Report([results[e.name] for e in order], render_pages(recipe), added)


def _page(name: str, render: Callable[[], str]) -> Outcome:
    try:
        return Outcome(name, "page", "written", render())
    except (RunError, ValueError, OSError, KeyError) as ex:  # AnalysisError is a RunError
        return Outcome(name, "page", "failed", f"{type(ex).__name__}: {ex}")


def render_pages(recipe: Recipe) -> list[Outcome]:
    """LEADERBOARD.md (+ CSV, PNGs), INFERENCE_ANALYSIS.md and OVERFIT_REPORT.md from the run directories."""
    from tinyreason.analysis.leaderboard import write_leaderboard
    from tinyreason.analysis.loading import load_run
    from tinyreason.analysis.regressions import write_report as write_regressions
    from tinyreason.train.memorize import MEMORIZATION
    from tinyreason.train.overfit import write_report as write_overfit

    out = recipe.results
    runs, pages = [], []
    for e in recipe.experiments:
        if e.kind != "eval" or e.config is None and not e.out.is_dir():
            continue
        try:
            if eval_token_stats(e.out) is not None:  # a run with at least one finished question
                runs.append(load_run(e.out))
        except RunError as ex:  # one unreadable run is reported; the pages show the others
            pages.append(Outcome(e.name, "page", "failed", f"left off the pages: {ex}"))
    for root in recipe.also_runs:  # eval runs of another run root (the study under another prompt), beside these
        for d in sorted(p for p in root.iterdir() if (p / "samples.jsonl").is_file()) if root.is_dir() else []:
            try:
                runs.append(load_run(d))
            except RunError as ex:
                pages.append(Outcome(str(d), "page", "failed", f"left off the pages: {ex}"))
    base = next((r for r in runs if r.name == recipe.baseline and r.path.parent == recipe.runs), None)
    if base is None:
        why = f"no run of the baseline '{recipe.baseline}' yet" if recipe.baseline else "the recipe names no baseline"
        pages += [Outcome(p, "page", "skipped", why) for p in ("LEADERBOARD.md", "INFERENCE_ANALYSIS.md")]
    else:
        pages.append(_page("LEADERBOARD.md", lambda: _files(write_leaderboard(runs, base, out)[1].values(), len(runs), "runs")))
        others = [r for r in runs if r is not base]
        if others:
            pages.append(_page("INFERENCE_ANALYSIS.md", lambda: _files([write_regressions(base, others, out)], len(others), "pairs")))
        else:
            pages.append(Outcome("INFERENCE_ANALYSIS.md", "page", "skipped", "only the baseline has a run"))
    by_name = {r.path: r for r in runs}
    twins = [(by_name[recipe.get(n).out], by_name[e.out]) for e in recipe.experiments for n in e.same_as
             if e.out in by_name and recipe.get(n).out in by_name]
    if twins:
        from tinyreason.analysis.fidelity import agreement, write_fidelity

        pages.append(_page("FIDELITY.md", lambda: _files([write_fidelity([agreement(a, b) for a, b in twins], out)], len(twins), "pairs")))
    protocols = [(e.name, e.config, e.out) for e in recipe.experiments if e.kind == "protocol" and e.config is not None and e.out.is_dir()]
    if protocols:
        from tinyreason.protocol import write_protocol_page

        pages.append(_page("PROTOCOL.md", lambda: _files([write_protocol_page(protocols, out)], len(protocols), "protocols")))
    site_dirs = [e.out for e in recipe.experiments if e.out.is_dir() and e.kind in ("eval", "protocol", "sft", "grpo", "memorize")]
    site_dirs += [r.path for r in runs if r.path.parent != recipe.runs]  # the also_runs
    if site_dirs:
        from tinyreason.site import build_site

        base_dir = recipe.get(recipe.baseline).out if recipe.baseline else None
        pages.append(_page("site/index.html", lambda: f"{len(site_dirs)} run folders: {build_site(site_dirs, out / 'site', baseline=base_dir)[0]}"))
    audits = [e.out for e in recipe.experiments if e.kind == "memorize" and (e.out / MEMORIZATION).is_file()]
    if audits:
        pages.append(_page("OVERFIT_REPORT.md", lambda: _files([write_overfit(audits, out)], len(audits), "audits")))
    else:
        pages.append(Outcome("OVERFIT_REPORT.md", "page", "skipped", "no memorize experiment has finished"))
    return pages


def _files(paths: Iterable[Path], n: int, what: str) -> str:
    return f"{n} {what}: " + ", ".join(str(p) for p in paths)
