"""The leaderboard: every run against one baseline, with intervals, paired tests and the mirage check.

    tinyreason leaderboard runs/greedy runs/sc runs/reflect --baseline runs/greedy --out results/
    -> results/LEADERBOARD.md, results/leaderboard.csv, results/leaderboard.png, results/pareto.png

Per run: method (with its key options), model, questions, accuracy with its 95% Wilson interval, Δ vs the
baseline on the questions both answered with the exact McNemar p-value, generated tokens and model calls per
question, and the mirage column (first 100 vs all, minimum detectable effect).

Ordering never turns noise into a win: runs significantly better than the baseline (McNemar p < 0.05) come
first, then the baseline, then runs not significantly different (marked "n.s.", whatever their accuracy),
then runs significantly worse; accuracy orders runs within a group. A run that is incomplete (questions
missing, or generations that failed: errors.jsonl) is listed last with its Δ and p but no verdict, unless
`include_incomplete` asks for one (then it is still marked incomplete).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from tinyreason.analysis.loading import Run, align
from tinyreason.analysis.mirage import pair_mirage, pct, pp, run_mirage
from tinyreason.analysis.paired import transitions, verdict
from tinyreason.analysis.plots import Point, accuracy_bars, pareto
from tinyreason.stats import wilson_interval

_GROUP = {"better": 0, "baseline": 1, "n.s.": 2, "worse": 3, "incomplete": 4}
_COLOR = {"better": "#55A868", "baseline": "#8C8C8C", "n.s.": "#4C72B0", "worse": "#C44E52", "incomplete": "#BBBBBB"}


@dataclass
class Row:
    run: Run
    name: str
    correct: int
    n: int
    lo: float
    hi: float
    tokens: float
    calls: float
    verdict: str  # baseline / better / worse / n.s.
    delta: float | None = None
    p_value: float | None = None
    shared: int | None = None
    mirage: str = ""
    mirage_lines: tuple[str, ...] = ()

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def point(self) -> Point:
        return Point(self.name, self.accuracy, self.lo, self.hi, self.tokens, _COLOR[self.verdict], self.n)


def _names(runs: list[Run]) -> list[str]:
    names = [r.name for r in runs]
    return [str(r.path) if names.count(r.name) > 1 else r.name for r in runs]


def build(runs: list[Run], baseline: Run, include_incomplete: bool = False) -> list[Row]:
    rows = []
    for run, name in zip(runs, _names(runs)):
        m = run.metrics()
        lo, hi = wilson_interval(m["correct"], m["total"])
        row = Row(run, name, m["correct"], m["total"], lo, hi, m["generated_tokens_per_question"], m["calls_per_question"], "baseline")
        if run is baseline:
            rm = run_mirage(run)
            row.mirage, row.mirage_lines = rm.short, tuple(rm.lines())
        else:
            pair = align(baseline, run)
            t = transitions(pair)
            pm = pair_mirage(pair)
            judged = verdict(t) if run.complete or include_incomplete else "incomplete"
            row.verdict, row.delta, row.p_value, row.shared = judged, t.delta, t.p_value, t.n
            row.mirage, row.mirage_lines = pm.short, tuple(([pair.note] if pair.note else []) + pm.lines())
        rows.append(row)
    return sorted(rows, key=lambda r: (_GROUP[r.verdict], -r.accuracy))


def _cell(s: str) -> str:
    return s.replace("|", "\\|")


_SEED = re.compile(r"^(?P<base>.+)-s(?P<seed>\d+)$")


def replicated(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """Rows that are one experiment under several seeds (named BASE-s1, BASE-s2, ...), grouped by BASE; only
    groups of two or more. A replicated result is read as its mean and spread, never as its best seed."""
    groups: dict[str, list[Row]] = {}
    for r in rows:
        m = _SEED.match(r.name)
        if m:
            groups.setdefault(m["base"], []).append(r)
    return [(base, sorted(g, key=lambda r: int(_SEED.match(r.name)["seed"]))) for base, g in groups.items() if len(g) > 1]


def replicated_lines(rows: list[Row]) -> list[str]:
    out = []
    for base, group in replicated(rows):
        accs = [r.accuracy for r in group]
        mean = sum(accs) / len(accs)
        sd = (sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) ** 0.5
        each = ", ".join(f"{r.name} {pct(r.accuracy)}" + (f" (p = {r.p_value:.2g}, {r.verdict})" if r.p_value is not None else "") for r in group)
        better = sum(r.verdict == "better" for r in group)
        out.append(f"- **{base}** over {len(group)} seeds: mean {pct(mean)}, sd {100 * sd:.1f} pp, range {pct(min(accs))}–{pct(max(accs))}; "
                   f"{better} of {len(group)} seeds significantly better than the baseline — {each}")
    return out


def markdown(rows: list[Row], plots: dict[str, str]) -> str:
    base = next(r for r in rows if r.verdict == "baseline")
    out = [
        "# Leaderboard",
        "",
        f"Baseline: **{base.name}** ({base.run.label}). Δ is the accuracy difference on the questions both runs answered, "
        "tested with the exact McNemar test; **n.s.** (p ≥ 0.05) means not significantly different from the baseline — "
        "not a win, whatever the accuracy. Order: significantly better, baseline, n.s., significantly worse; an incomplete "
        "run (questions missing or failed to generate) last, with no verdict.",
        "",
        "| run | method | model | questions | accuracy | 95% CI | Δ vs baseline | McNemar p | verdict | gen tok/q | calls/q | mirage |",
        "|---|---|---|---:|---:|---|---:|---:|---|---:|---:|---|",
    ]
    for r in rows:
        questions = f"{r.n}" + (f"/{r.run.expected}" if r.n < r.run.expected else "") + (f" ({r.run.errors} failed)" if r.run.errors else "")
        delta = "—" if r.delta is None else pp(r.delta) + (f" (on {r.shared})" if r.shared != r.n or r.shared != base.n else "")
        p = "—" if r.p_value is None else f"{r.p_value:.3g}"
        verdict_cell = {"n.s.": "n.s. (not a win)" if (r.delta or 0) > 0 else "n.s.",
                        "incomplete": f"none: {r.run.status}"}.get(r.verdict, f"**{r.verdict}**")
        if r.verdict != "incomplete" and not r.run.complete:
            verdict_cell += f" ({r.run.status})"
        out.append(
            f"| {_cell(r.name)} | {_cell(r.run.label)} | {_cell(r.run.model)} | {questions} | {pct(r.accuracy)} | "
            f"{pct(r.lo)}–{pct(r.hi)} | {delta} | {p} | {verdict_cell} | {r.tokens:.0f} | {r.calls:.2f} | {_cell(r.mirage)} |"
        )
    seeds = replicated_lines(rows)
    if seeds:
        out += ["", "## Replicated rows (one experiment, several seeds)", "", *seeds]
    out += ["", "## Mirage check", ""]
    for r in rows:
        out.append(f"- **{r.name}**" + (" (baseline)" if r.verdict == "baseline" else f" vs {base.name}") + ":")
        out += [f"  - {line}" for line in r.mirage_lines]
    out += ["", "## Plots", ""] + [f"![{k}]({v})" for k, v in plots.items()]
    return "\n".join(out) + "\n"


CSV_FIELDS = [
    "run", "path", "method", "label", "model", "questions", "expected", "correct", "accuracy", "ci_low", "ci_high",
    "verdict", "delta_vs_baseline", "shared_questions", "mcnemar_p", "gen_tokens_per_q", "calls_per_q", "mirage",
]  # fmt: skip


def write_csv(rows: list[Row], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({
                "run": r.name, "path": str(r.run.path), "method": r.run.method, "label": r.run.label, "model": r.run.model,
                "questions": r.n, "expected": r.run.expected, "correct": r.correct, "accuracy": f"{r.accuracy:.6f}",
                "ci_low": f"{r.lo:.6f}", "ci_high": f"{r.hi:.6f}", "verdict": r.verdict,
                "delta_vs_baseline": "" if r.delta is None else f"{r.delta:.6f}", "shared_questions": r.shared or "",
                "mcnemar_p": "" if r.p_value is None else f"{r.p_value:.6g}", "gen_tokens_per_q": f"{r.tokens:.2f}",
                "calls_per_q": f"{r.calls:.3f}", "mirage": r.mirage,
            })  # fmt: skip
    return path


def write_leaderboard(runs: list[Run], baseline: Run, out: Path, include_incomplete: bool = False) -> tuple[list[Row], dict[str, Path]]:
    """Render LEADERBOARD.md, leaderboard.csv, leaderboard.png and pareto.png into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    rows = build(runs, baseline, include_incomplete)
    points = [r.point() for r in rows]
    files = {
        "accuracy": accuracy_bars(points, out / "leaderboard.png"),
        "accuracy vs tokens": pareto(points, out / "pareto.png"),
    }
    (out / "LEADERBOARD.md").write_text(markdown(rows, {k: v.name for k, v in files.items()}))
    files["markdown"] = out / "LEADERBOARD.md"
    files["csv"] = write_csv(rows, out / "leaderboard.csv")
    return rows, files
