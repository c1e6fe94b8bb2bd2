"""`tinyreason distill generate`: structured teacher traces of GSM8K train questions (see train/distill.py).

    tinyreason distill generate --teacher openai:MODEL@http://127.0.0.1:8000/v1 --n 100 \\
        --data ../shared/data/gsm8k/train.jsonl --out traces.jsonl          # key from $OPENAI_API_KEY
    tinyreason distill generate --teacher hf:/path/to/model --n 20 --data train.jsonl --out traces.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import app, console, fail

distill_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Teacher distillation: generate validated traces.")
app.add_typer(distill_app, name="distill")


def _teacher_options(spec: str, batch_size: Optional[int], concurrency: int, api_key_env: str, timeout: float, max_retries: int) -> dict[str, Any]:
    """Flags that apply to the spec's backend only (the others must not change a local teacher)."""
    from tinyreason.backends.spec import parse_backend_spec

    name, _ = parse_backend_spec(spec)
    if name == "openai":
        return {"concurrency": concurrency, "api_key_env": api_key_env, "timeout": timeout, "max_retries": max_retries}
    if name == "hf":
        return {"batch_size": batch_size}
    return {}


@distill_app.command("generate")
def generate_cmd(
    teacher: str = typer.Option(..., help="teacher backend spec: openai:MODEL@URL, hf:MODEL, scripted:RULES.json"),
    out: Path = typer.Option(..., help="accepted traces (.jsonl); .rejects.jsonl, .config.json, .summary.json go beside it"),
    n: int = typer.Option(100, help="accepted traces wanted"),
    max_attempts: Optional[int] = typer.Option(None, help="most questions to ask in total (default 10 x n)"),
    data: Optional[str] = typer.Option(None, help="local GSM8K train .jsonl (default: openai/gsm8k from the Hub)"),
    split: str = typer.Option("train", help="Hub split (distillation refuses test)"),
    seed: int = typer.Option(42, help="question order and teacher sampling seed"),
    temperature: float = typer.Option(0.0, help="teacher sampling temperature (0 = greedy)"),
    max_new_tokens: int = typer.Option(1024, help="teacher budget per trace; longer ones are rejected as truncated"),
    prompt: str = typer.Option("distill_trace", help="teacher prompt: a name from `tinyreason prompts` or a YAML prompt file"),
    samples: int = typer.Option(1, help="completions per question: rejection sampling keeps the first valid one (needs --temperature > 0)"),
    format: str = typer.Option("structured", "--format", help="structured (the five labelled sections) or free (any finished chain whose answer matches gold)"),
    check_arithmetic: bool = typer.Option(False, "--check-arithmetic", help="also reject a right answer whose chain states a false computation"),
    batch_size: Optional[int] = typer.Option(None, help="questions per teacher call (default: the backend's batch size)"),
    concurrency: int = typer.Option(8, help="requests in flight at once (openai teacher)"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="environment variable holding the API key (openai teacher; never stored)"),
    timeout: float = typer.Option(600.0, help="seconds per request before it is retried (openai teacher)"),
    max_retries: int = typer.Option(5, help="retries on 429/5xx/timeouts before a question is rejected as backend_error (openai teacher)"),
) -> None:
    """Ask a teacher for Facts -> Relationships -> Calculations -> Verification -> Answer traces of train
    questions, keep those that are well-formed and correct. Rerun the same command to resume."""
    from tinyreason.backends.spec import create_backend_from_spec
    from tinyreason.data import DataError, load_problems
    from tinyreason.train.distill import DistillError, DistillOptions, distill

    try:
        ds = load_problems(data, split)
        backend = create_backend_from_spec(teacher, **_teacher_options(teacher, batch_size, concurrency, api_key_env, timeout, max_retries))
        opts = DistillOptions(n=n, max_attempts=max_attempts, seed=seed, temperature=temperature, max_new_tokens=max_new_tokens,
                              prompt=prompt, batch_size=batch_size or getattr(backend, "batch_size", 16), samples=samples, format=format,
                              check_arithmetic=check_arithmetic)
        summary = distill(backend, ds, out, opts)
    except (ValueError, KeyError, DataError, DistillError, FileNotFoundError, ImportError) as e:
        fail(str(e).strip("'\""))
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished traces are saved in {out}; rerun the same command to resume")
        raise typer.Exit(130) from None
    rate = summary["acceptance_rate"]
    reasons = ", ".join(f"{k} {v}" for k, v in summary["rejects_by_reason"].items()) or "none"
    console.print(f"[bold green]{summary['accepted']} traces accepted[/] of {summary['attempted']} asked"
                  + (f" ({rate:.0%})" if rate is not None else "") + f" · rejects: {reasons}\ntraces: {out}")
    if not summary["complete"]:
        if summary["data_exhausted"]:
            console.print(f"[yellow]only {summary['accepted']} of {n} wanted[/]: every one of the data's {summary['questions_available']} "
                          "questions was asked; a larger --max-attempts cannot help (a stronger teacher, more --samples, or more data can)")
        else:
            console.print(f"[yellow]only {summary['accepted']} of {n} wanted[/]: the attempt cap ran out; "
                          "rerun with a larger --max-attempts to continue")
        raise typer.Exit(1)
