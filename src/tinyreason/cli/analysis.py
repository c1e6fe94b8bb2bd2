"""Analysis commands: everything computed from run directories, no model needed.

    tinyreason compare runs/greedy runs/reflect                 # transition matrix, McNemar p, fixed/regressed ids
    tinyreason leaderboard runs/* --baseline runs/greedy --out results/
    tinyreason mirage runs/greedy [runs/structured-sc]         # first 100 vs all, minimum detectable effect
    tinyreason regressions runs/greedy runs/reflect --sample 50 --seed 42 --out results/
    tinyreason show runs/reflect --id 1005                      # every completion of one question
"""

from __future__ import annotations

import json

from pathlib import Path
from typing import Optional

import typer

from tinyreason.cli.app import app, console, fail


def _load(paths: list[Path]):
    from tinyreason.analysis.loading import load_run

    return [load_run(p) for p in paths]


def _guard(fn):
    """Run fn; turn analysis errors into an actionable message and exit code 2."""
    from tinyreason.runs import RunError

    try:
        return fn()
    except RunError as e:
        fail(str(e))


@app.command("compare")
def compare_cmd(run_a: Path = typer.Argument(..., help="run A (the reference)"), run_b: Path = typer.Argument(..., help="run B")) -> None:
    """Transition matrix of B vs A (both right / fixed / regressed / both wrong), exact McNemar p, ids."""
    from rich.table import Table

    from tinyreason.analysis.loading import align
    from tinyreason.analysis.mirage import pct, pp
    from tinyreason.analysis.paired import transitions, verdict

    def go() -> None:
        a, b = _load([run_a, run_b])
        pair = align(a, b)
        if pair.note:
            console.print(f"[bold yellow on red] WARNING [/] [bold yellow]{pair.note}[/]")
        for w in pair.warnings:
            console.print(f"[yellow]warning:[/] {w}")
        t = transitions(pair)
        name_a, name_b = (str(a.path), str(b.path)) if a.name == b.name else (a.name, b.name)  # runs, not methods, are the sides
        table = Table("", f"B right ({name_b})", f"B wrong ({name_b})", title=f"B = {name_b} ({b.label}) vs A = {name_a} ({a.label}), {t.n} questions")
        table.add_row(f"A right ({name_a})", f"{t.both_right} both right", f"[red]{t.regressed} regressed[/]")
        table.add_row(f"A wrong ({name_a})", f"[green]{t.fixed} fixed[/]", f"{t.both_wrong} both wrong")
        console.print(table)
        console.print(
            f"A {pct(t.acc_a)} → B {pct(t.acc_b)}: Δ {pp(t.delta)}, exact McNemar p = {t.p_value:.4g} "
            f"({t.fixed} fixed vs {t.regressed} regressed) → [bold]{verdict(t)}[/]"
        )
        console.print(f"fixed ids: {', '.join(map(str, t.fixed_ids)) or '—'}")
        console.print(f"regressed ids: {', '.join(map(str, t.regressed_ids)) or '—'}")

    _guard(go)


def _not_a_run(path: Path) -> str | None:
    """Why `path` is not an eval run directory (None when it is one)."""
    if not path.is_dir():
        return "not a directory"
    config = path / "config.json"
    if not config.is_file():
        return "not a run directory (no config.json: a training, protocol or audit folder?)"
    try:
        kind = json.loads(config.read_text()).get("kind", "eval")
    except (json.JSONDecodeError, AttributeError):
        return None  # load_run says what is wrong with it
    return None if kind == "eval" else f"not an eval run directory (its config.json is a {kind} run's)"


@app.command("leaderboard")
def leaderboard_cmd(
    runs: list[Path] = typer.Argument(..., help="run directories"),
    baseline: Optional[Path] = typer.Option(None, help="baseline run (default: the first RUN)"),
    out: Path = typer.Option(Path("results"), help="output folder for LEADERBOARD.md, leaderboard.csv and PNGs"),
    include_incomplete: bool = typer.Option(False, help="give incomplete runs (missing or failed questions) a verdict too, marked incomplete"),
) -> None:
    """LEADERBOARD.md + CSV + PNGs: accuracy with Wilson CI, Δ vs baseline with McNemar p, cost, mirage."""
    from tinyreason.analysis.leaderboard import write_leaderboard
    from tinyreason.analysis.mirage import pct, pp

    def go() -> None:
        dirs = [r for r in runs if _not_a_run(r) is None]
        for r in runs:
            if r not in dirs:  # a log file, a training run, a protocol or audit folder caught by results/runs/*
                console.print(f"[yellow]warning:[/] skipping {r}: {_not_a_run(r)}")
        if not dirs:
            fail("no run directories given")
        loaded = _load(dirs)
        base = loaded[0]
        if baseline is not None:
            resolved = [r.path.resolve() for r in loaded]
            if baseline.resolve() in resolved:
                base = loaded[resolved.index(baseline.resolve())]
            else:
                base = _load([baseline])[0]
                loaded.insert(0, base)
        rows, files = write_leaderboard(loaded, base, out, include_incomplete)
        for r in rows:
            d = "baseline" if r.delta is None else f"Δ {pp(r.delta)} p={r.p_value:.3g} {r.verdict}"
            console.print(f"{r.name:30s} {r.run.label:24s} {pct(r.accuracy):>6s} ({r.correct}/{r.n})  {d}  {r.tokens:.0f} tok/q")
        console.print("wrote " + ", ".join(str(p) for p in files.values()))

    _guard(go)


@app.command("mirage")
def mirage_cmd(run: Path = typer.Argument(..., help="run (or the base of a pair)"), other: Optional[Path] = typer.Argument(None, help="second run of a pair")) -> None:
    """First 100 questions vs all, and the minimum detectable effect at this n (paired for a pair)."""
    from tinyreason.analysis.loading import align
    from tinyreason.analysis.mirage import pair_mirage, run_mirage

    def go() -> None:
        runs = _load([run] if other is None else [run, other])
        for r in runs:
            console.print(f"[bold]{r.name}[/] ({r.label})")
            for line in run_mirage(r).lines():
                console.print(f"  {line}")
        if other is not None:
            pair = align(*runs)
            console.print(f"[bold]{runs[1].name} vs {runs[0].name}[/]")
            if pair.note:
                console.print(f"  [bold yellow]{pair.note}[/]")
            for line in pair_mirage(pair).lines():
                style = "[bold yellow]" if "noise" in line or "mirage" in line else ""
                console.print(f"  {style}{line}{'[/]' if style else ''}")

    _guard(go)


@app.command("regressions")
def regressions_cmd(
    base: Path = typer.Argument(..., help="base run"),
    others: list[Path] = typer.Argument(..., help="run(s) to compare against the base"),
    sample: int = typer.Option(50, min=1, help="regressions to sample and classify per pair"),
    seed: int = typer.Option(42, help="sampling seed"),
    out: Path = typer.Option(Path("results"), help="output folder for INFERENCE_ANALYSIS.md and heat maps"),
    judge_model: Optional[str] = typer.Option(None, help="optional LLM judge for relationship vs unit errors (model for --judge-backend)"),
    judge_backend: str = typer.Option("hf", help="backend of the LLM judge"),
) -> None:
    """Base-right / other-wrong questions, sampled and classified, side by side: INFERENCE_ANALYSIS.md."""
    from tinyreason.analysis.regressions import write_report

    def go() -> None:
        b, *rest = _load([base, *others])
        judge = None
        if judge_model is not None:
            from tinyreason.backends import create_backend

            try:
                judge = create_backend(judge_backend, model=judge_model)
            except (ValueError, ImportError, OSError) as e:
                fail(f"cannot start the judge ({judge_backend} {judge_model}): {e}")
        path = write_report(b, rest, out, sample=sample, seed=seed, judge=judge)
        console.print(f"wrote {path}")

    _guard(go)


@app.command("show")
def show_cmd(
    run: Path = typer.Argument(..., help="run directory"),
    id: int = typer.Option(..., "--id", help="question id (row index in the split)"),
    max_chars: Optional[int] = typer.Option(None, help="cut each completion after this many characters"),
) -> None:
    """Print one question's every completion with its extracted answer, and the final decision."""
    from tinyreason.analysis.show import render

    _guard(lambda: render(_load([run])[0], id, console, max_chars))


@app.command("view")
def view_cmd(
    runs: list[Path] = typer.Argument(..., help="run directories (eval, training, or a folder of eval runs such as a protocol's)"),
    out: Path = typer.Option(Path("site"), help="folder for the site (index.html and its pages)"),
    baseline: Optional[Path] = typer.Option(None, help="baseline run (default: the run named greedy, else the first)"),
    compare: Optional[list[Path]] = typer.Option(None, help="two runs to put side by side (repeat: --compare A --compare B)"),
    serve: bool = typer.Option(False, "--serve", help="serve the site on 127.0.0.1 (loopback only) until Ctrl-C"),
    port: int = typer.Option(8000, help="port for --serve"),
) -> None:
    """A static site of the runs: leaderboard, every question's raw generations, two runs side by side, training
    curves. Self-contained (no network): open OUT/index.html from disk, or --serve it on loopback."""
    from tinyreason.site import build_site

    def go() -> None:
        if compare is not None and len(compare) not in (0, 2):
            fail("--compare takes two runs: --compare A --compare B")
        index, skipped = build_site(runs, out, baseline=baseline, compare=tuple(compare) if compare else None)  # type: ignore[arg-type]
        for s in skipped:
            console.print(f"[yellow]warning:[/] skipped {s}")
        console.print(f"wrote {index}")
        if serve:
            _serve(out, port)

    _guard(go)


def _serve(folder: Path, port: int) -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        console.print(f"serving {folder} on http://127.0.0.1:{port}/ (Ctrl-C stops)")
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
