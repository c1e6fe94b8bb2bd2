"""The Typer app every command module registers on, and what the commands share (errors, metrics line).

Command modules import `app` from here, and `tinyreason.cli` (the package) imports every command module:
no module imports the package that imports it, so there is no import circle.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

# rich_markup_mode=None: click's plain help. Typer's rich help (typer 0.29 with click 8.5) shows every flag as
# `--version <bool>`, as if it took a value; the plain help shows flags as flags.
app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="Can a small instruct LLM be made to reason? Measure it.")
console = Console(soft_wrap=True)  # never hard-wrap messages: paths in them must stay copyable, and tests must not depend on terminal width
from tinyreason.spec import DEFAULT_MODEL, slug  # noqa: F401  (re-exported for the command modules)


def _print_version(given: bool) -> None:
    if given:
        from importlib import metadata

        try:
            version = metadata.version("tinyreason")
        except metadata.PackageNotFoundError:
            version = "unknown (not installed: pip install -e .)"
        console.print(f"tinyreason {version}")
        raise typer.Exit()


def _sigterm_as_ctrl_c(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
    raise KeyboardInterrupt


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="print the installed version and exit"),
) -> None:
    """Options of `tinyreason` itself (the app's help text is the one above). SIGTERM (`kill`, a job scheduler,
    a container stopping) is handled like Ctrl-C: every command then saves what finished, says how to resume and
    exits 130, and `reproduce` logs the interruption. A background job started with `&` ignores SIGINT, so
    SIGTERM is the way to stop one; before this, SIGTERM killed the process without those words."""
    previous = signal.signal(signal.SIGTERM, _sigterm_as_ctrl_c)
    ctx.call_on_close(lambda: signal.signal(signal.SIGTERM, previous))  # in-process callers (tests) get theirs back


def fail(msg: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(2)


def parse_key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """Repeatable KEY=VALUE flags; a VALUE that parses as JSON is taken as JSON (numbers, true, lists)."""
    opts: dict[str, Any] = {}
    for kv in pairs:
        key, sep, val = kv.partition("=")
        if not sep or not key:
            fail(f"{flag} takes KEY=VALUE, got '{kv}'")
        try:
            opts[key] = json.loads(val)
        except json.JSONDecodeError:
            opts[key] = val
    return opts


def print_metrics(m: dict[str, Any], out: Path) -> None:
    lo, hi = m["ci95"]
    line = f"accuracy {m['accuracy']:.1%} ({m['correct']}/{m['total']}, 95% CI {lo:.1%}–{hi:.1%})"
    expected = m.get("expected_total")
    if expected and m.get("answered", m["total"]) < expected:
        line += f" · answered {m.get('answered', m['total'])} of {expected} (incomplete)"
    line += f" · strict {m['strict']['accuracy']:.1%}"
    if "pass_at_k" in m:
        line += f" · pass@k {m['pass_at_k']['accuracy']:.1%}"
    cost = f"cost {m['generated_tokens_per_question']:.0f} gen tok/q · {m.get('prompt_tokens_per_question', 0):.0f} prompt tok/q"
    cost += f" · {m['calls_per_question']:.2f} calls/q · wall {m.get('wall_time_s', 0):.0f} s"
    if m.get("tokens_per_s"):
        cost += f" · {m['tokens_per_s']:.1f} tok/s"
    console.print(f"[bold green]{line}[/]\n{cost} · truncated {m['truncated_questions']} · no answer {m['no_answer']}")
    from tinyreason.metrics import summary_lines

    for extra in summary_lines(m):
        console.print(extra)
    console.print(f"run directory: {out}")
