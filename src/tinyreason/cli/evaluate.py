"""`tinyreason eval`, `metrics`, `methods` and `backends`: evaluate a model with one method, and list the plug-ins.

    tinyreason eval                                   # Qwen/Qwen2.5-0.5B-Instruct, GSM8K test, 600 questions, seed 42, greedy
    tinyreason eval --method sc --n 5 --temperature 0.7
    tinyreason eval --model ./qwen-dir --data ../shared/data/gsm8k/test.jsonl --limit 50 --out runs/local
    tinyreason eval --backend openai --model M --base-url http://127.0.0.1:8000/v1 --timeout 60
    tinyreason eval --backend openvino --model ./qwen-dir -b weight_format=int8 -b num_threads=2
    tinyreason metrics runs/local                      # recompute metrics.json from samples.jsonl

Backend options come from the common flags below that were *given* plus `-b KEY=VALUE`; the backend's own
Config validates them, so a flag the chosen backend does not take is an error naming the ones it does.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from rich.markup import escape

from tinyreason.cli.app import app, console, fail, parse_key_values, print_metrics
from tinyreason.spec import DEFAULT_MODEL


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


def method_options(option: list[str], **given: Any) -> dict[str, Any]:
    """Method options from the flags that were given (None = not given) and repeatable --option KEY=VALUE."""
    return {**{k: v for k, v in given.items() if v is not None}, **parse_key_values(option, "--option")}


def backend_options(backend_option: list[str], **given: Any) -> dict[str, Any]:
    """Backend options from the flags that were given (None = not given) and repeatable -b KEY=VALUE."""
    return {**{k: v for k, v in given.items() if v is not None}, **parse_key_values(backend_option, "--backend-option")}


@app.command("eval")
def eval_cmd(
    model: str = typer.Option(DEFAULT_MODEL, help="Hub id, local model folder, local .gguf file, or `reference` (see `tinyreason fetch-model`)"),
    method: str = typer.Option("greedy", help="inference method (see `tinyreason methods`)"),
    n: Optional[int] = typer.Option(None, help="samples per question (sampling methods; sc default 5)"),
    temperature: Optional[float] = typer.Option(None, help="sampling temperature (sampling methods; default 0.7)"),
    top_p: Optional[float] = typer.Option(None, help="nucleus sampling threshold"),
    max_new_tokens: int = typer.Option(512, help="generation budget per completion"),
    prompt: Optional[str] = typer.Option(None, help="answer prompt: a name from `tinyreason prompts` or a YAML prompt file (default: the method's, `cot` for most)"),
    option: list[str] = typer.Option([], "--option", "-o", help="extra method option KEY=VALUE (JSON value), repeatable"),
    limit: int = typer.Option(600, help="questions in the seeded subset (>= the split size takes all)"),
    seed: int = typer.Option(42, help="subset and sampling seed"),
    subset_from: str = typer.Option("start", help="start, or end: read the seeded order from its end (a dev slice of train disjoint from what training takes)"),
    data: Optional[str] = typer.Option(None, help="local GSM8K .jsonl, or gsm8k:test / gsm8k:train (the copy shipped with tinyreason); default: the Hub's openai/gsm8k when reachable, else the shipped copy"),
    split: str = typer.Option("test", help="Hub split: test or train"),
    task: Optional[str] = typer.Option(None, help="a task instead of GSM8K: a name from `tinyreason tasks` or a task YAML file (its data, question template, gold field)"),
    include: list[str] = typer.Option([], "--include", help="a plug-in file (.py) registering methods, prompts, tasks or backends; repeatable"),
    out: Optional[Path] = typer.Option(None, help="run directory (default runs/<model>-<method>-<split><limit>-s<seed>)"),
    backend: str = typer.Option("auto", help="generation backend (see `tinyreason backends`); auto: vllm on CUDA, openvino on CPU, llamacpp for .gguf, if installed, else hf"),
    backend_option: list[str] = typer.Option([], "--backend-option", "-b", help="backend option KEY=VALUE (JSON value), repeatable; see `tinyreason backends`"),
    adapter: Optional[str] = typer.Option(None, help="PEFT adapter folder to load on top of --model"),
    device: Optional[str] = typer.Option(None, help="auto (cuda > mps > cpu), cuda, cuda:1, mps, cpu"),
    dtype: Optional[str] = typer.Option(None, help="auto, bfloat16, float16, float32"),
    batch_size: Optional[int] = typer.Option(None, help="sequences per generate call (default: the backend's)"),
    skip_bad_rows: bool = typer.Option(False, help="skip malformed data rows (counted in metrics) instead of failing"),
    max_errors: int = typer.Option(5, help="stop after this many failed questions in a row (0: never); a rerun retries every failed question"),
    base_url: Optional[str] = typer.Option(None, help="server URL, e.g. http://127.0.0.1:8000/v1 (openai backend)"),
    api_key_env: Optional[str] = typer.Option(None, help="environment variable holding the API key (openai backend; never stored)"),
    concurrency: Optional[int] = typer.Option(None, help="requests in flight at once (openai backend)"),
    timeout: Optional[float] = typer.Option(None, help="seconds one request may take before it is retried, then recorded as an error (openai backend; default 120)"),
    force: bool = typer.Option(False, "--force", help="sc-verifier: run without a passing verifier audit (recorded in the run config)"),
) -> None:
    """Evaluate a model with one method on a seeded GSM8K subset. Rerun the same command to resume."""
    from pydantic import ValidationError

    from tinyreason.data import DataError
    from tinyreason.runs import RunError
    from tinyreason.spec import EvalSpec, run_eval

    load_plugins(include)
    m_flags = dict(max_new_tokens=max_new_tokens, prompt=prompt, n=n, temperature=temperature, top_p=top_p)
    b_flags = dict(adapter=adapter, device=device, dtype=dtype, batch_size=batch_size, base_url=base_url, api_key_env=api_key_env,
                   concurrency=concurrency, timeout=timeout)
    m_opts = method_options(option, **m_flags)
    if force:
        m_opts["force"] = True  # only methods with a gate take it: any other says so (unknown option)
    b_opts = backend_options(backend_option, **b_flags)
    try:
        spec = EvalSpec(model=model, method=method, method_options=m_opts, backend=backend, backend_options=b_opts, data=data,
                        split=split, task=task, limit=limit, seed=seed, subset_from=subset_from, skip_bad_rows=skip_bad_rows, out=out,
                        max_errors=max_errors)
    except ValidationError as e:
        fail(spec_errors(e, {**given_as(m_flags, option, "-o"), **given_as(b_flags, backend_option, "-b")}))
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


def given_as(flags: dict[str, Any], pairs: list[str], short: str) -> dict[str, str]:
    """How each option was given, to name it in errors: '--batch-size ' for a flag, '-b batch_size=' for KEY=VALUE."""
    named = {k: f"--{k.replace('_', '-')} " for k, v in flags.items() if v is not None}
    named.update({kv.partition("=")[0]: f"{short} {kv.partition('=')[0]}=" for kv in pairs})
    return named


def spec_errors(e: Any, given: dict[str, str]) -> str:
    """A pydantic ValidationError of an EvalSpec as one line per problem. A value out of its range is named
    by the flag it came from (`given`: option -> '--flag ' or '-b key='), with the valid range."""
    from tinyreason.options import OptionsError, problems
    from tinyreason.spec import EvalSpec

    lines = []
    for err in e.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, OptionsError):
            named = [p for p in cause.problems if p.valid and p.field in given]
            lines += [f"{given[p.field]}{p.value}: must be {p.valid} — {p.help}" for p in named]
            rest = [p for p in cause.problems if p not in named]
            lines += [(cause.describe(rest) if named else str(cause))] if rest else []
        elif err["loc"]:
            (p,) = problems(EvalSpec, [err])
            flag = f"--{p.field.replace('_', '-')}"
            lines.append(f"{flag} {p.value}: must be {p.valid} — {p.help}" if p.valid else f"{flag}: {p.message}")
        else:
            lines.append(err["msg"].removeprefix("Value error, "))
    return "; ".join(lines)


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
