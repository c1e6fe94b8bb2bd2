"""`tinyreason eval`, `metrics`, `methods` and `backends`: evaluate a model with one method, and list the plug-ins.

    tinyreason eval                                   # Qwen/Qwen2.5-0.5B-Instruct, GSM8K test, 600 questions, seed 42, greedy
    tinyreason eval --method sc --n 5 --temperature 0.7
    tinyreason eval --model ./qwen-dir --data ../shared/data/gsm8k/test.jsonl --limit 50 --out runs/local
    tinyreason eval --backend openai --model M --base-url http://127.0.0.1:8000/v1 --timeout 60
    tinyreason eval --backend openvino --model ./qwen-dir -b weight_format=int8 -b num_threads=2
    tinyreason eval --config eval.yaml --limit 50      # an EvalSpec in YAML (a recipe row's `config:`); flags win
    tinyreason metrics runs/local                      # recompute metrics.json from samples.jsonl

The flags are generated from EvalSpec's fields (tinyreason.spec, documented once there) as for `train sft`,
with two mapping fields filled by flags of their own: method_options by the common method options below
(`--n`, `--temperature`, ...) and `-o KEY=VALUE`, backend_options by the common backend options (`--adapter`,
`--dtype`, `--base-url`, ...) and `-b KEY=VALUE`. Each one given sets that key; the method's or backend's own
Config validates them, so an option the chosen plug-in does not take is an error naming the ones it does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from pydantic import BaseModel, Field
from rich.markup import escape

from tinyreason.cli.app import app, console, fail, print_metrics
from tinyreason.cli.config_flags import OptionFlags, config_flags
from tinyreason.config_io import ConfigSource, problem_line
from tinyreason.spec import EvalSpec


def load_plugins(include: list[str]) -> None:
    """Entry-point plug-ins and the --include files, before anything looks a name up (an error: exit 2)."""
    from tinyreason.plugins import PluginError, load

    try:
        load(include)
    except PluginError as e:
        fail(str(e))


def _from(kind: str, name: str) -> str:
    from tinyreason.plugins import origin

    where = origin(kind, name)
    return "" if where == "built-in" else f" [dim](plug-in: {escape(where)})[/]"


class MethodFlags(BaseModel):
    """Method options with a flag of their own (`--n 5` is `-o n=5`); the method's Config checks each one given."""

    n: Optional[int] = Field(None, description="samples per question (sampling methods; sc default 5)")
    temperature: Optional[float] = Field(None, description="sampling temperature (sampling methods; default 0.7)")
    top_p: Optional[float] = Field(None, description="nucleus sampling threshold (sampling methods; default 1: off)")
    max_new_tokens: Optional[int] = Field(None, description="generation budget per completion (default 512)")
    prompt: Optional[str] = Field(None, description="answer prompt: a name from `tinyreason prompts` or a YAML prompt file (default: the method's, `cot` for most)")
    force: Optional[bool] = Field(None, description="sc-verifier: run without a passing verifier audit (recorded in the run config)")


class BackendFlags(BaseModel):
    """Backend options with a flag of their own (`--dtype float32` is `-b dtype=float32`); the backend's Config
    checks each one given, so one the chosen backend does not take is an error naming those it does."""

    adapter: Optional[str] = Field(None, description="PEFT adapter folder to load on top of --model")
    device: Optional[str] = Field(None, description="auto (cuda > mps > cpu), cuda, cuda:1, mps, cpu")
    dtype: Optional[str] = Field(None, description="auto, bfloat16, float16, float32")
    batch_size: Optional[int] = Field(None, description="sequences per generate call (default: the backend's)")
    base_url: Optional[str] = Field(None, description="server URL, e.g. http://127.0.0.1:8000/v1 (openai backend)")
    api_key_env: Optional[str] = Field(None, description="environment variable holding the API key (openai backend; never stored)")
    concurrency: Optional[int] = Field(None, description="requests in flight at once (openai backend)")
    timeout: Optional[float] = Field(None, description="seconds one request may take before it is retried, then recorded as an error (openai backend; default 120)")


EVAL_OPTIONS = {
    "method_options": OptionFlags(MethodFlags, ("--option", "-o"), "any method option KEY=VALUE (JSON value), repeatable; see `tinyreason methods`"),
    "backend_options": OptionFlags(BackendFlags, ("--backend-option", "-b"), "any backend option KEY=VALUE (JSON value), repeatable; see `tinyreason backends`"),
}


def _load_includes(include: list[str], **_: Any) -> None:
    load_plugins(include)


def spec_errors(errors: list[Any], source: ConfigSource) -> str:
    """An EvalSpec's validation errors as one line, a problem after another. Each bad value is named where it was
    set ('--n 0', '-b batch_size=0', 'eval.yaml:4: n 0'), with its valid range and help; an option the method or
    backend does not take, by the options it does."""
    from tinyreason.options import OptionsError, problems

    lines = []
    for err in errors:
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, OptionsError):  # the method's or the backend's Config refused its options
            placed = [(p, _place(source, ("method_options", p.field), ("backend_options", p.field), (p.field,))) for p in cause.problems]
            lines += [_bad_value(where, p) for p, where in placed if p.valid and where]
            rest = [p for p, where in placed if not (p.valid and where)]
            files = sorted({where for p, where in placed if p in rest and where and not where.startswith("-")})
            if rest:
                lines.append("".join(f"{w}: " for w in files) + (cause.describe(rest) if len(rest) < len(placed) else str(cause)))
        elif err["loc"]:
            (p,) = problems(EvalSpec, [err])
            where = _place(source, tuple(err["loc"]))
            lines.append(_bad_value(where, p) if p.valid and where else problem_line(EvalSpec, source.doc, err))
        else:
            lines.append(err["msg"].removeprefix("Value error, "))
    return "; ".join(lines)


def _place(source: ConfigSource, *paths: tuple[Any, ...]) -> str | None:
    """Where the first of `paths` that was set was set: '--n', '-o n=', 'FILE:LINE'; None when none was."""
    return next((source.doc.where[path] for path in paths if path in source.doc.where), None)


def _bad_value(where: str, p: Any) -> str:
    said = f"{where}{p.value}" if where.endswith("=") else f"{where} {p.value}" if where.startswith("-") else f"{where}: {p.field} {p.value}"
    return f"{said}: must be {p.valid} — {p.help}"


@app.command("eval")
@config_flags(EvalSpec, into=EVAL_OPTIONS, prepare=_load_includes, explain=spec_errors)
def eval_cmd(
    spec: EvalSpec,
    include: list[str] = typer.Option([], "--include", help="a plug-in file (.py) registering methods, prompts, tasks or backends; repeatable"),
) -> None:
    """Evaluate a model with one method on a seeded GSM8K subset. Rerun the same command to resume."""
    from tinyreason.data import DataError
    from tinyreason.runs import RunError
    from tinyreason.spec import run_eval

    try:
        metrics, out_dir = run_eval(spec)
    except (ValueError, DataError, RunError, OSError, ImportError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: {saved_note(spec.run_dir())}; rerun the same command to resume")
        raise typer.Exit(130) from None
    print_metrics(metrics, out_dir)
    exit_on_errors(metrics)


ERRORS_EXIT = 3  # generations failed: the run is incomplete (130 is an interruption, 2 a usage error, 1 a failure)


def exit_on_errors(metrics: dict[str, Any]) -> None:
    from tinyreason.spec import error_summary

    line = error_summary(metrics)
    if line:
        console.print(f"[bold red]incomplete[/]: {line}", highlight=False)
        raise typer.Exit(ERRORS_EXIT)


def saved_note(run_dir: Path) -> str:
    """What an interrupted run kept: how many questions are saved, of how many."""
    from tinyreason.runs import RunDir, RunError

    run = RunDir(run_dir)
    try:
        total = len(run.config().get("subset", {}).get("ids", []))
        kept = sum(1 for _ in run.iter_samples())
    except (RunError, OSError):
        return f"nothing was saved yet (no run in {run_dir})"
    return f"{kept} of {total} questions are saved in {run_dir}" + (" (a batch in flight is asked again)" if kept < total else "")


@app.command("metrics")
def metrics_cmd(run_dir: Path = typer.Argument(..., help="run directory")) -> None:
    """Recompute metrics.json from samples.jsonl (no model needed)."""
    from tinyreason.metrics import compute_metrics
    from tinyreason.runs import RunDir, RunError

    try:
        run = RunDir(run_dir)
        cfg = run.config()
        samples = run.samples()
        m = compute_metrics(samples, expected_total=len(cfg["subset"]["ids"]), errors=list(run.errors({int(s["id"]) for s in samples}).values()))
        m["skipped_rows"] = len(cfg.get("skipped_rows", []))
        run.write_metrics(m)
    except RunError as e:
        fail(str(e))
    print_metrics(m, run_dir)
    exit_on_errors(m)


INCLUDE = typer.Option([], "--include", help="a plug-in file (.py) to load first; repeatable")


@app.command("methods")
def methods_cmd(include: list[str] = INCLUDE) -> None:
    """List the inference methods (built-in and plug-ins) and their options."""
    from tinyreason.methods import method_names
    from tinyreason.methods.base import method_class

    load_plugins(include)
    for name in method_names():
        cls = method_class(name)
        console.print(f"[bold]{name}[/]{_from('method', name)} — {escape(first_paragraph(cls.__doc__ or sys.modules[cls.__module__].__doc__))}", highlight=False)
        for field, info in cls.Config.model_fields.items():
            console.print(f"    {field} = {info.get_default(call_default_factory=True)!r}: {info.description}", highlight=False, markup=False)


def first_paragraph(doc: str | None) -> str:
    """A docstring's first paragraph as one line (a sentence that runs over lines is kept whole)."""
    lines = (doc or "").strip().split("\n\n", 1)[0].splitlines()
    return " ".join(line.strip() for line in lines)


@app.command("prompts")
def prompts_cmd(name: Optional[str] = typer.Argument(None, help="one prompt (a name or a YAML prompt file) to show in full"),
                include: list[str] = INCLUDE) -> None:
    """List the prompt templates: name, what uses it, its source, and its text (system and user turns)."""
    from tinyreason.prompts import PROMPTS, get_prompt

    load_plugins(include)
    try:
        templates = [get_prompt(name)] if name else [PROMPTS[k] for k in sorted(PROMPTS)]
    except ValueError as e:
        fail(str(e))
    for t in templates:
        console.print(f"[bold]{escape(t.name)}[/]{_from('prompt', t.name)} — {escape(t.used_by)}" + (f" [dim](source: {escape(t.source)})[/]" if t.source else ""),
                      highlight=False, markup=True)
        system = "(the model's default)" if t.system is None else repr(t.system)
        console.print(f"    system: {system}", highlight=False, markup=False)
        text = t.user if name else (t.user if len(t.user) <= 400 else t.user[:400] + f"… ({len(t.user)} characters; `tinyreason prompts {t.name}` shows all)")
        console.print("    user: " + text.replace("\n", "\n          "), highlight=False, markup=False)
        if t.exemplars:
            console.print(f"    exemplars: {len(t.exemplars)} (rendered as prior user/assistant turns)", highlight=False, markup=False)


@app.command("tasks")
def tasks_cmd(include: list[str] = INCLUDE) -> None:
    """List the tasks (datasets with their question and gold fields): built-in and plug-ins."""
    from tinyreason.tasks import get_task, task_names

    load_plugins(include)
    for name in task_names():
        t = get_task(name)
        where = f"data {t.data}" if t.data else f"hub {t.hub} ({t.config}, {t.split})"
        console.print(f"[bold]{name}[/]{_from('task', name)} — {escape(t.description)}", highlight=False)
        console.print(f"    {where}; question {t.question!r}; gold {t.answer_field} ({t.answer_parse})", highlight=False, markup=False)


@app.command("backends")
def backends_cmd(include: list[str] = INCLUDE) -> None:
    """List the generation backends, whether each is installed, and its options (-b KEY=VALUE)."""
    from tinyreason.backends.auto import installed
    from tinyreason.backends.base import MissingDependency, backend_class, backend_names

    load_plugins(include)
    for name in backend_names():
        try:
            cls = backend_class(name)
        except MissingDependency as e:
            console.print(f"[bold]{name}[/] [yellow](not installed)[/] — {e}", highlight=False)
            continue
        ok, how = installed(name)
        state = "[green](installed)[/]" if ok else f"[yellow](not installed: {escape(how)})[/]"
        console.print(f"[bold]{name}[/]{_from('backend', name)} {state} — {escape(first_paragraph(cls.__doc__ or sys.modules[cls.__module__].__doc__))}",
                      highlight=False)
        for field, info in cls.Config.model_fields.items():
            default = "required" if info.is_required() else repr(info.get_default(call_default_factory=True))
            console.print(f"    {field} = {default}: {info.description}", highlight=False, markup=False)
