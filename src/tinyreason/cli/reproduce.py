"""`tinyreason reproduce`: the whole study from a recipe, resumable, then every results page.

    tinyreason reproduce --dry-run                                  # state and estimated cost of each experiment
    tinyreason reproduce --model ./qwen-dir --var test_data=gsm8k/test.jsonl --var train_data=gsm8k/train.jsonl
    tinyreason reproduce --only greedy,sc --limit 50 --runs runs/try50    # a quick subset in its own folder
    tinyreason reproduce --only grpo --set grpo.max_steps=20 --set grpo.dev_n=20   # one experiment's field, changed
    tinyreason reproduce --pages-only                               # re-render the pages from the run directories

See tinyreason.recipes for the recipe format and tinyreason.reproduce for what runs when.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import app, console, fail


def _variables(model: Optional[str], backend: Optional[str], limit: Optional[int], var: list[str]) -> dict[str, Any]:
    from tinyreason.config_io import parse_value

    values: dict[str, Any] = {}
    for kv in var:
        key, sep, text = kv.partition("=")
        if not sep or not key:
            fail(f"--var takes KEY=VALUE, got '{kv}'")
        values[key] = parse_value(text)
    given = {"model": model, "backend": backend, "limit": limit}
    return {**values, **{k: v for k, v in given.items() if v is not None}}


def _settings(items: list[str]) -> dict[str, dict[str, Any]]:
    """--set EXPERIMENT.FIELD=VALUE (FIELD may be dotted: method_options.n) -> {experiment: {field: value}}."""
    from tinyreason.config_io import parse_value

    out: dict[str, dict[str, Any]] = {}
    for kv in items:
        key, sep, text = kv.partition("=")
        name, dot, field = key.partition(".")
        if not sep or not dot or not name or not field:
            fail(f"--set takes EXPERIMENT.FIELD=VALUE (e.g. grpo.max_steps=20), got '{kv}'")
        out.setdefault(name, {})[field] = parse_value(text)
    return out


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*row)
    console.print(table)


_STYLE = {"failed": "red", "blocked": "red", "skipped": "yellow", "ran": "green", "resumed": "green", "written": "green"}


def _status(s: str) -> str:
    return f"[{_STYLE[s]}]{s}[/]" if s in _STYLE else s


@app.command("reproduce")
def reproduce_cmd(
    recipe: Path = typer.Option(Path("recipes/tinyreason.yaml"), help="recipe index file"),
    model: Optional[str] = typer.Option(None, help="model of every experiment (the recipe's ${model})"),
    backend: Optional[str] = typer.Option(None, help="backend of every eval (the recipe's ${backend})"),
    limit: Optional[int] = typer.Option(None, help="questions in the seeded subset (the recipe's ${limit})"),
    var: list[str] = typer.Option([], "--var", help="recipe variable KEY=VALUE (a YAML value), repeatable"),
    set_: list[str] = typer.Option([], "--set", help="one experiment's config field EXPERIMENT.FIELD=VALUE (a YAML value), over its file; repeatable"),
    only: list[str] = typer.Option([], "--only", help="experiments to visit, comma-separated or repeated; what they need is added"),
    runs: Optional[Path] = typer.Option(None, help="root of the run directories (default: the recipe's `runs`)"),
    results: Optional[Path] = typer.Option(None, help="folder for the pages (default: the recipe's `results`)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print each experiment's state and estimated cost; run nothing"),
    pages_only: bool = typer.Option(False, "--pages-only", help="run nothing; render the pages from the run directories"),
    progress: bool = typer.Option(True, help="progress bars while experiments run"),
    include: list[str] = typer.Option([], "--include", help="a plug-in file (.py) to load first (also the recipe's `include:`); repeatable"),
) -> None:
    """Run a recipe: what is missing runs, what is partial resumes, what is done is skipped; a failed
    experiment is reported and the rest go on. Then render LEADERBOARD.md, INFERENCE_ANALYSIS.md, OVERFIT_REPORT.md."""
    from tinyreason.config_io import ConfigFileError
    from tinyreason.recipes import load_recipe
    from tinyreason.reproduce import render_pages, reproduce, survey

    from tinyreason.cli.evaluate import load_plugins

    load_plugins(include)
    names = [n.strip() for item in only for n in item.split(",") if n.strip()] or None
    try:
        loaded = load_recipe(recipe, _variables(model, backend, limit, var), runs=runs, results=results, settings=_settings(set_))
        plan_rows, added = survey(loaded, names)
    except ConfigFileError as e:
        fail("\n  ".join([f"invalid recipe {recipe}:", *e.problems]))
    if added:
        console.print(f"also visiting what the selected experiments need: {', '.join(added)}")
    if dry_run:
        _table(f"{recipe}: runs in {loaded.runs}", ["experiment", "kind", "needs", "state", "estimated cost"],
               [[r.name, r.kind, ", ".join(r.needs) or "—", r.state, r.cost] for r in plan_rows])
        return
    if pages_only:
        report_pages = render_pages(loaded)
        _table("pages", ["page", "status", "detail"], [[p.name, _status(p.status), p.detail] for p in report_pages])
        raise typer.Exit(1 if any(p.status == "failed" for p in report_pages) else 0)
    try:
        report = reproduce(loaded, names, log=lambda line: console.print(line, highlight=False, markup=False), progress=progress)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: finished work is saved under {loaded.runs}; rerun the same command to resume")
        raise typer.Exit(130) from None
    _table("experiments", ["experiment", "kind", "result", "detail", "wall"],
           [[o.name, o.kind, _status(o.status), o.detail, f"{o.wall_s:.0f} s" if o.wall_s else "—"] for o in report.outcomes])
    _table("pages", ["page", "status", "detail"], [[p.name, _status(p.status), p.detail] for p in report.pages])
    if not report.ok:
        console.print(f"[bold red]some experiments or pages failed[/]: see the table above and {loaded.runs / 'reproduce.log'}; fix and rerun")
        raise typer.Exit(1)
