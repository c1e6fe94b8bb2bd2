"""CLI commands of the inference-time methods: the verifier audit that gates `sc-verifier`.

    tinyreason audit-verifier --run runs/sc                        # model and backend: the run's own
    tinyreason audit-verifier --run runs/sc --size 200 --seed 1 --gate 0.6 --prompt verify
    tinyreason eval --method sc-verifier --model SAME_MODEL        # now finds the audit (if it passed)

See tinyreason.verifier for how the audit set is built and where the result is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from tinyreason.cli.app import app, console, fail, parse_key_values


def _print_audit(result: dict[str, Any], path: Path) -> None:
    from rich.table import Table

    lo, hi = result["ci95"]
    console.print(f"[bold]verifier accuracy {result['accuracy']:.1%}[/] ({result['correct']}/{result['total']}, 95% CI {lo:.1%}–{hi:.1%})"
                  f" · unparseable {result['unparseable']} ({result['unparseable_rate']:.1%}, scored wrong)")
    table = Table("chain \\ verdict", "CORRECT", "INCORRECT", "unparseable")
    for row, counts in result["confusion"].items():
        table.add_row(row.replace("_", " "), *(str(counts[k]) for k in ("CORRECT", "INCORRECT", "unparseable")))
    console.print(table)
    verdict = "[green]PASSED[/]" if result["passed"] else "[red]FAILED[/]"
    console.print(f"gate {result['gate']:.0%}: {verdict} — sc-verifier {'may' if result['passed'] else 'will refuse to'} run for this model and prompt")
    console.print(f"audit written to {path}")


@app.command("audit-verifier")
def audit_verifier_cmd(
    run: Path = typer.Option(..., "--run", help="run directory whose chains make the audit set"),
    size: int = typer.Option(100, help="audit set size (half correct, half incorrect chains)"),
    seed: int = typer.Option(42, help="seed of the audit-set draw"),
    model: Optional[str] = typer.Option(None, help="verifier model (default: the run's model and adapter)"),
    backend: Optional[str] = typer.Option(None, help="generation backend (default: the run's)"),
    prompt: str = typer.Option("verify", help="verifier prompt template (fields: question, solution)"),
    gate: float = typer.Option(0.6, min=0.0, max=1.0, help="accuracy the verifier must reach for sc-verifier to run"),
    max_new_tokens: int = typer.Option(32, help="generation budget of one verdict"),
    audit_dir: Path = typer.Option(Path("runs/verifier-audits"), help="where audit results are written (sc-verifier's audit_dir)"),
    device: Optional[str] = typer.Option(None, help="auto, cuda, mps, cpu (backends that take it)"),
    dtype: Optional[str] = typer.Option(None, help="auto, bfloat16, float16, float32 (backends that take it)"),
    batch_size: Optional[int] = typer.Option(None, help="sequences per generate call"),
    backend_option: list[str] = typer.Option([], "--backend-option", "-b", help="backend option KEY=VALUE, repeatable"),
) -> None:
    """Audit a prompted verifier on a balanced set of a run's own chains; write the result sc-verifier checks."""
    from pydantic import ValidationError

    from tinyreason.runs import RunError
    from tinyreason.verifier import AuditConfig, AuditError, run_audit

    given = {"device": device, "dtype": dtype, "batch_size": batch_size}
    options = {**{k: v for k, v in given.items() if v is not None}, **parse_key_values(backend_option, "--backend-option")}
    try:
        cfg = AuditConfig(run=run, size=size, seed=seed, model=model, backend=backend, backend_options=options, prompt=prompt,
                          gate=gate, max_new_tokens=max_new_tokens, audit_dir=audit_dir)
        result, path = run_audit(cfg, progress=lambda line: console.print(line, highlight=False))
    except ValidationError as e:
        fail("; ".join(f"--{'.'.join(map(str, err['loc'])).replace('_', '-')}: {err['msg']}" for err in e.errors()))
    except (RunError, AuditError, KeyError, ValueError, FileNotFoundError, ImportError) as e:
        fail(str(e).strip("'\""))
    _print_audit(result, path)
