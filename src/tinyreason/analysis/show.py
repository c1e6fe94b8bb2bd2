"""Read the raw generations of one question: `tinyreason show RUN --id N`.

    tinyreason show RUN --id N                 # one question of an eval run
    tinyreason train grpo-show RUN [--id N]    # a GRPO run's watched dev questions, evaluation by evaluation

Prints the question and gold answer, a table of every completion (stage, tokens, finish reason, flexible and
strict extracted answers, right or wrong), each completion's full text, and the final decision with the
method's own record (`extra`: votes, triggers, ...). A program completion (pal, pal-sc, hybrid-sc) is followed
by the program that was run and what the sandbox made of it: status, time, answer, stdout, error. Works for
any method: it only reads the sample record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tinyreason.analysis.loading import AnalysisError, Run, load_run
from tinyreason.answers import answers_match


def _mark(answer: Any, gold: str) -> str:
    if answer is None:
        return "[yellow]none[/]"
    return "[green]✓[/]" if answers_match(str(answer), gold) else "[red]✗[/]"


def sample_of(run: Run, qid: int) -> dict[str, Any]:
    if qid not in run.samples:
        some = ", ".join(map(str, run.order[:10]))
        raise AnalysisError(f"{run.path}: no question with id {qid}; its ids (subset order) start {some} …")
    return run.samples[qid]


def _cut(text: str, max_chars: int | None) -> str:
    if max_chars is not None and len(text) > max_chars:
        return text[:max_chars] + f"\n… [{len(text) - max_chars} more characters]"
    return text


def _program_panel(extra: dict[str, Any], max_chars: int | None) -> Panel:
    """The program a completion held, and its run: status, seconds, answer (source), stdout, error."""
    if extra.get("program") is None:
        return Panel(Text(str(extra.get("program_error"))), title="program: none found", title_align="left", border_style="yellow")
    parts: list[Text] = [Text(_cut(extra["program"], max_chars))]
    if extra.get("program_stdout"):
        parts.append(Text("stdout:\n" + _cut(extra["program_stdout"], max_chars), style="cyan"))
    if extra.get("program_error"):
        parts.append(Text("error: " + str(extra["program_error"]), style="red"))
    title = (f"program · {extra.get('program_status')} · {extra.get('program_elapsed_s')} s · answer "
             f"{extra.get('program_answer')!r} from {extra.get('program_source')}")  # fmt: skip
    return Panel(Group(*parts), title=title, title_align="left", border_style="green" if extra.get("program_status") == "ok" else "red")


def render(run: Run, qid: int, console: Console, max_chars: int | None = None) -> None:
    s = sample_of(run, qid)
    gold = str(s["gold"])
    pos = run.order.index(qid) + 1
    console.print(Panel(Text(str(s.get("question", ""))), title=f"{run.name} · id {qid} · #{pos} of {len(run.order)} in subset order · {run.label}"),
                  soft_wrap=False)  # the question wraps inside its panel, whole
    console.print(f"gold: [bold]{gold}[/]")
    table = Table("#", "stage", "tokens", "prompt tok", "finish", "answer", "strict", "", title="completions")
    gens = s.get("generations") or []
    for k, g in enumerate(gens, 1):
        finish = g.get("finish_reason")
        table.add_row(str(k), str(g.get("stage")), str(g.get("n_tokens")), str(g.get("prompt_tokens")),
                      f"[red]{finish}[/]" if finish != "stop" else str(finish), str(g.get("answer")),
                      str(g.get("answer_strict")), _mark(g.get("answer"), gold))  # fmt: skip
    console.print(table)
    for k, g in enumerate(gens, 1):
        text = _cut(g.get("text") or "", max_chars)
        title = f"#{k} {g.get('stage')} · {g.get('n_tokens')} tokens · {g.get('finish_reason')} · answer {g.get('answer')}"
        extra = {key: v for key, v in (g.get("extra") or {}).items() if not key.startswith("program")}
        body = Group(Text(text), Text(json.dumps(extra, ensure_ascii=False), style="dim")) if extra else Text(text)
        console.print(Panel(body, title=title, title_align="left"))
        if "program_status" in (g.get("extra") or {}):
            console.print(_program_panel(g["extra"], max_chars))
    verdict = "[bold green]RIGHT[/]" if s.get("correct") else "[bold red]WRONG[/]"
    console.print(
        f"final decision: [bold]{s.get('prediction')}[/] (strict {s.get('prediction_strict')}) → {verdict} · "
        f"calls {s.get('calls')} · generated {s.get('generated_tokens')} tok · truncated {s.get('truncated')}"
        + (f" · error {s.get('error')}" if s.get("error") else "")
    )
    if s.get("extra"):
        console.print(Panel(Text(json.dumps(s["extra"], indent=1, ensure_ascii=False)), title="method record (extra)", title_align="left"))


def render_training_watch(run_dir: Path, console: Console, qid: int | None = None, max_chars: int | None = 600) -> None:
    """How a GRPO run's answers to its watched dev questions changed: for each evaluated step, the greedy
    completion (dev/step-N) and the sampled ones (watch/step-N), each with its answer and right/wrong."""
    steps = sorted((run_dir / "watch").glob("step-*")) if (run_dir / "watch").is_dir() else []
    if not steps:
        raise AnalysisError(f"{run_dir}: no watch/step-* evaluations (a `train grpo` run with watch_questions > 0 writes them)")
    first = load_run(steps[0])
    ids = [qid] if qid is not None else first.order
    for i in ids:
        s = sample_of(first, i)
        console.print(Panel(Text(str(s.get("question", ""))), title=f"{run_dir.name} · dev question id {i} · gold {s['gold']}"), soft_wrap=False)
        for step_path in steps:
            _render_step(run_dir, step_path, i, console, max_chars)


def _render_step(run_dir: Path, step_path: Path, qid: int, console: Console, max_chars: int | None) -> None:
    step = int(step_path.name.split("-")[1])
    s = sample_of(load_run(step_path), qid)
    gens = s.get("generations") or []
    right = sum(answers_match(str(g.get("answer")), str(s["gold"])) for g in gens if g.get("answer") is not None)
    console.print(f"[bold]step {step}[/]: {right}/{len(gens)} sampled completions right · "
                  f"mean {sum(g.get('n_tokens') or 0 for g in gens) / max(1, len(gens)):.0f} tokens")
    greedy_dir = run_dir / "dev" / step_path.name
    if greedy_dir.is_dir():
        g = sample_of(load_run(greedy_dir), qid)["generations"][0]
        console.print(Panel(Text(_cut(g.get("text") or "", max_chars)), title=f"step {step} · greedy · answer {g.get('answer')} "
                            f"{_mark(g.get('answer'), str(s['gold']))}", title_align="left"))
    for k, g in enumerate(gens, 1):
        title = f"step {step} · sample {k} · {g.get('n_tokens')} tok · {g.get('finish_reason')} · answer {g.get('answer')} {_mark(g.get('answer'), str(s['gold']))}"
        console.print(Panel(Text(_cut(g.get("text") or "", max_chars)), title=title, title_align="left"))
