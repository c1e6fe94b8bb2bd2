"""Reading memorization audits: a terminal table per run, and results/OVERFIT_REPORT.md across runs.

    tinyreason inspect-memorization --experiment-id 5_20ep --print-raw     # runs/5_20ep/memorization.json
    tinyreason report overfit runs/5_20ep runs/2_1ep --out results/        # -> results/OVERFIT_REPORT.md
    tinyreason report overfit --out results/                               # every audit under runs/

Rendered only from the files `tinyreason memorize` wrote (memorization.json, train_report.json), so a report
can be regenerated without a model.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from tinyreason.train.memorize import MEMORIZATION, load_record
from tinyreason.train.sft import TRAIN_REPORT

REPORT_NAME = "OVERFIT_REPORT.md"


def _shown(token: str) -> str:
    return json.dumps(token, ensure_ascii=False)  # quotes make spaces and newlines visible


def _div(d: dict[str, Any] | None) -> str:
    return "—" if d is None else f"token {d['index']}: {_shown(d['expected'])} → {_shown(d['generated'])}"


def print_inspection(record: dict[str, Any], console: Console, print_raw: bool = False) -> None:
    s = record["summary"]
    title = (f"{record['experiment_id']}: {s['verdict']} — pass@1 {s['passed']}/{s['k']}, exact chain {s['exact']}/{s['k']}, "
             f"final train loss {record['final_train_loss']:.4f}")
    table = Table(title=title, show_lines=False)
    for col in ("Example", "Expected", "Generated", "Match", "Exact chain", "NLL", "First divergence"):
        table.add_column(col, overflow="fold")
    for r in record["examples"]:
        q = r["question"] if len(r["question"]) <= 60 else r["question"][:57] + "..."
        table.add_row(Text(f"#{r['id']} {q}"), r["gold"], str(r["answer"]), "✓" if r["pass"] else "✗",
                      "yes" if r["exact"] else "no", f"{r['nll']:.4f}", Text(_div(r["divergence"])))
    console.print(table)
    if not print_raw:
        return
    for r in record["examples"]:
        console.print(Panel(Text(r["target"]), title=f"#{r['id']} expected (training target)", border_style="green"))
        style = "green" if r["exact"] else "red"
        console.print(Panel(Text(r["generated"]), title=f"#{r['id']} generated ({r['finish_reason']})", border_style=style))


def find_audits(paths: list[Path]) -> list[Path]:
    """Run directories holding a memorization.json: each path is one, or a folder of them."""
    found: list[Path] = []
    for p in paths:
        if (p / MEMORIZATION).is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(d.parent for d in p.glob(f"*/{MEMORIZATION}"))
        else:
            raise FileNotFoundError(f"{p}: no such run directory")
    if not found:
        raise FileNotFoundError(f"no memorization audits ({MEMORIZATION}) in {', '.join(map(str, paths))}; run `tinyreason memorize` first")
    return found


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", "⏎")


def _checks(run: Path) -> str:
    path = run / TRAIN_REPORT
    if not path.is_file():
        return "no train_report.json"
    checks = json.loads(path.read_text()).get("checks", {})
    return ", ".join(f"{name} {'ok' if c.get('ok') else 'FAILED'}" for name, c in checks.items())


def last_epoch_loss(run: Path, epochs: float) -> float | None:
    """Mean training loss over the last epoch's logged steps (loss.json). With a batch of one example the
    final step's loss is one example's, which can be near zero while others are not."""
    path = run / "loss.json"
    if not path.is_file():
        return None
    last = [p["loss"] for p in json.loads(path.read_text()) if p.get("epoch", 0) > epochs - 1 and "loss" in p]
    return sum(last) / len(last) if last else None


def _summary_rows(runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    lines = ["| run | model | k | epochs | optimizer steps | LR | train loss, last epoch (last step) | mean NLL | pass@1 | exact chain | "
             "verdict | pipeline checks |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run, r in runs:
        c, s = r["config"], r["summary"]
        epoch_loss = last_epoch_loss(run, c["epochs"])
        loss = f"{epoch_loss:.4f} ({r['final_train_loss']:.4f})" if epoch_loss is not None else f"— ({r['final_train_loss']:.4f})"
        lines.append(
            f"| {_md(r['experiment_id'])} | {_md(Path(c['model']).name)} | {s['k']} | {c['epochs']:g} | {r['optimizer_steps']} | "
            f"{c['learning_rate']:g} | {loss} | {s['mean_nll']:.4f} | {s['passed']}/{s['k']} | "
            f"{s['exact']}/{s['k']} | {s['verdict']} | {_md(_checks(run))} |"
        )
    return lines


LOW_NLL = 0.05  # per-token NLL under which a target is "learned" (every token's probability near 1 on average)


def nll_split(r: dict[str, Any]) -> str:
    """Where the reproduced and the missed chains sit in NLL: a chain missed at a low NLL is exposure bias (fit
    under teacher forcing, lost in free generation); one missed at a high NLL was simply not learned."""
    exact = sorted(e["nll"] for e in r["examples"] if e["exact"])
    missed = sorted(e["nll"] for e in r["examples"] if not e["exact"])
    parts = [f"{len(exact)} exact chain(s) at NLL ≤ {exact[-1]:.3f}" if exact else "no exact chain"]
    if missed:
        low = sum(n < LOW_NLL for n in missed)
        parts.append(f"{len(missed)} missed at NLL {missed[0]:.3f}–{missed[-1]:.3f} (median {missed[len(missed) // 2]:.3f}), "
                     f"{low} of them below {LOW_NLL} (learned under teacher forcing, lost when generating)")
    return "; ".join(parts)


def _example_rows(r: dict[str, Any]) -> list[str]:
    lines = ["| example | gold | generated answer | pass | exact chain | NLL | first divergence |", "|---|---|---|---|---|---|---|"]
    for e in r["examples"]:
        lines.append(f"| {e['id']} | {_md(e['gold'])} | {_md(e['answer'])} | {'✓' if e['pass'] else '✗'} | "
                     f"{'yes' if e['exact'] else 'no'} | {e['nll']:.4f} | {_md(_div(e['divergence']))} |")
    return lines


def _reading(runs: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    memorized = [r["experiment_id"] for _, r in runs if r["summary"]["verdict"] == "memorized"]
    other = [f"{r['experiment_id']} ({r['summary']['verdict']})" for _, r in runs if r["summary"]["verdict"] != "memorized"]
    out = []
    if memorized:
        out.append(f"- Reproduced every training chain token for token: {', '.join(memorized)}. The pipeline (prompt rendering, "
                   "completion-only loss, adapter saving and loading at eval) can fit what it is shown, so an SFT result "
                   "below the base model is about the data or recipe, not the plumbing.")
    if other:
        out.append(f"- Did not reproduce every chain: {', '.join(other)}. Either the run was under-trained (few steps, low LR) "
                   "or the pipeline is broken; see the first divergences above before trusting any SFT number from it.")
    out += [f"- {r['experiment_id']}: {nll_split(r)}." for _, r in runs]
    return out


def overfit_report(run_dirs: list[Path]) -> str:
    runs = [(d, load_record(d)) for d in run_dirs]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Memorization audit (overfit report)", "",
        f"Generated by `tinyreason report overfit` on {when} from {len(runs)} run(s); regenerate rather than edit.", "",
        "Each run fine-tunes a LoRA adapter on k GSM8K train examples for E epochs through the same code path as "
        "`tinyreason train sft`, loads the saved adapter the way `tinyreason eval --adapter` does, and asks the same k "
        "questions greedily. *NLL* is the teacher-forced mean negative log-likelihood per target token (EOS included); "
        "*pass@1* grades the generated answer with the project's one grader; *exact chain* requires the generated text "
        "to equal the training target character for character; *first divergence* is the first token where greedy "
        "generation leaves the target.", "",
        "## Summary", "", *_summary_rows(runs), "", "## Reading", "", *_reading(runs), "",
    ]
    for run, r in runs:
        lines += [f"## {r['experiment_id']}", "", f"Run directory: `{run}` · backend: `{_md(json.dumps(r['backend']))}`", ""]
        lines += [*_example_rows(r), ""]
    return "\n".join(lines)


def write_report(run_dirs: list[Path], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REPORT_NAME
    path.write_text(overfit_report(run_dirs))
    return path
