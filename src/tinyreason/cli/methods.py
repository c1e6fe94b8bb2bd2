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


def _backend_for(run_cfg: dict[str, Any], model: Optional[str], backend: Optional[str], given: dict[str, Any], backend_option: list[str]) -> Any:
    """The run's own backend and model (its adapter too, unless --model names another model), with the flags
    that were given on top; the backend's Config rejects what it does not take."""
    from tinyreason.backends import create_backend

    stored = run_cfg.get("backend", {})
    name = backend or stored.get("backend", "hf")
    opts: dict[str, Any] = {"model": model or stored.get("model")}
    if not opts["model"]:
        fail("the run config names no model: pass --model")
    if model is None and stored.get("adapter") and name == stored.get("backend"):
        opts["adapter"] = stored["adapter"]
    opts.update({k: v for k, v in given.items() if v is not None}, **parse_key_values(backend_option, "--backend-option"))
    return create_backend(name, **opts)


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
    from tinyreason.prompts import get_prompt
    from tinyreason.runs import RunDir, RunError, now
    from tinyreason.types import SamplingParams
    from tinyreason.verifier import AuditError, audit_path, build_audit_set, parse_verdict, prompt_hash, score_audit, write_audit

    try:
        rd = RunDir(run)
        items, note = build_audit_set(rd.samples(), size, seed)
        template = get_prompt(prompt)
        b = _backend_for(rd.config(), model, backend, {"device": device, "dtype": dtype, "batch_size": batch_size}, backend_option)
    except (RunError, AuditError, KeyError, ValueError, FileNotFoundError, ImportError) as e:
        fail(str(e).strip("'\""))
        return
    if note:
        console.print(f"[yellow]note:[/] {note}")
    chats = [template.render(question=it["question"], solution=it["text"]) for it in items]
    params = SamplingParams(max_new_tokens=max_new_tokens)
    step = batch_size or getattr(b, "batch_size", 16)
    texts: list[str] = []
    for start in range(0, len(chats), step):
        texts += [outs[0].text for outs in b.generate(chats[start : start + step], params)]
        console.print(f"verdicts {len(texts)}/{len(chats)}", highlight=False)
    verdicts = [parse_verdict(t) for t in texts]
    result = score_audit(items, verdicts, gate)
    desc = b.describe()
    path = audit_path(audit_dir, desc, template)
    result.update(
        kind="verifier-audit", created=now(), backend=desc, source_run=str(run.resolve()), seed=seed, size_requested=size, note=note,
        prompt={"name": template.name, "system": template.system, "user": template.user, "sha256_16": prompt_hash(template)},
        max_new_tokens=max_new_tokens,
        items=[{**{k: it[k] for k in ("id", "gold", "answer", "label")}, "verdict": v, "reply": t} for it, v, t in zip(items, verdicts, texts, strict=True)],
    )
    write_audit(path, result)
    _print_audit(result, path)
