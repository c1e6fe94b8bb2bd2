"""Regression analysis: what a method broke. Writes results/INFERENCE_ANALYSIS.md.

    tinyreason regressions runs/greedy runs/reflect [runs/sc ...] --sample 50 --seed 42 --out results/

For each OTHER run against BASE: the transition matrix (with its heat map PNG), McNemar p and the mirage
lines; the ids fixed and regressed; then up to `sample` regressions (base right, other wrong), drawn with
`random.Random(seed)` from the regressed ids in base subset order, each classified by
tinyreason.analysis.taxonomy and shown side by side (base chain | other chain). A taxonomy table with
counts and shares closes each pair, and one over all pairs opens the report.
"""

from __future__ import annotations

import html
import random
import re
from pathlib import Path
from typing import Any

from tinyreason.analysis.loading import Paired, Run, align
from tinyreason.analysis.mirage import pair_mirage, pct, pp
from tinyreason.analysis.paired import matrix_markdown, transitions
from tinyreason.analysis.plots import transition_heatmap
from tinyreason.analysis.taxonomy import GUESS_TOKENS, PROGRAM_CLASSES, Case, classify, is_guess, judged_generation, program_text, tally
from tinyreason.backends.base import Backend

MAX_CHAIN_CHARS = 4000


def sample_regressions(pair: Paired, k: int, seed: int) -> list[int]:
    """Up to k regressed ids, seeded, returned in base subset order."""
    regressed = transitions(pair).regressed_ids
    chosen = set(random.Random(seed).sample(regressed, min(k, len(regressed))))
    return [i for i in regressed if i in chosen]


def _pre(text: str) -> str:
    if len(text) > MAX_CHAIN_CHARS:
        text = text[:MAX_CHAIN_CHARS] + f"\n… [{len(text) - MAX_CHAIN_CHARS} more characters; `tinyreason show` prints all]"
    return f"<pre>{html.escape(text)}</pre>"


def _gens_line(s: dict[str, Any]) -> str:
    def one(g: dict[str, Any]) -> str:
        status = (g.get("extra") or {}).get("program_status")
        return f"{g.get('stage')}→{g.get('answer')}" + (" (cut)" if g.get("finish_reason") == "length" else "") + (f" (program {status})" if status else "")

    return ", ".join(one(g) for g in s.get("generations", []))


def _chain(g: dict[str, Any]) -> str:
    return program_text(g) if "program_status" in (g.get("extra") or {}) else g.get("text") or ""


def _case_md(case: Case, base: Run, other: Run) -> list[str]:
    b, o = base.samples[case.id], other.samples[case.id]
    bg = judged_generation(b) or {}
    return [
        f"### id {case.id} — {case.cls}" + (f" (LLM judge: {case.judge})" if case.judge else ""),
        "",
        f"**Question.** {b.get('question', '').strip()}",
        "",
        f"Gold **{b['gold']}** · {base.name}: **{b['prediction']}** ✓ · {other.name}: **{o['prediction']}** ✗ · "
        f"why: {case.reason}",
        "",
        f"{other.name} generations: {_gens_line(o)}",
        "",
        "<table><tr>"
        f"<th>{html.escape(base.name)} ({html.escape(str(bg.get('stage')))}, right)</th>"
        f"<th>{html.escape(other.name)} ({html.escape(case.stage)}, judged)</th></tr>",
        f"<tr><td valign=\"top\">{_pre(_chain(bg))}</td><td valign=\"top\">{_pre(case.chain)}</td></tr></table>",
        "",
    ]


def _taxonomy_md(cases: list[Case]) -> list[str]:
    out = ["| class | count | share |", "|---|---:|---:|"]
    out += [f"| {c} | {k} | {pct(s)} |" for c, k, s in tally(cases) if k or c not in PROGRAM_CLASSES]  # program rows for program runs
    return out + [f"| **total** | {len(cases)} | |"]


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", s)


def _pair_section(base: Run, other: Run, out: Path, k: int, seed: int, judge: Backend | None) -> tuple[list[str], list[Case], dict[str, Any]]:
    pair = align(base, other)
    t = transitions(pair)
    png = transition_heatmap(t, base.name, other.name, out / f"transitions_{_slug(base.name)}__{_slug(other.name)}.png")
    ids = sample_regressions(pair, k, seed)
    cases = [classify(other.samples[i]) for i in ids]
    judged = ""
    if judge is not None:
        from tinyreason.analysis.judge import judge_cases

        c = judge_cases(cases, other.samples, judge)
        judged = (
            f"LLM judge ({judge.describe().get('model')}) on the {c['judged']} relationship/unit cases: agrees with the "
            f"rules on {c['agree']}, unparseable {c['unparseable']}. The rules' class stays the one counted."
        )
    lines = [f"## {base.name} → {other.name}", ""]
    lines += [f"> **{w}**" for w in ([pair.note] if pair.note else []) + pair.warnings] + ([""] if pair.note or pair.warnings else [])
    lines += [
        f"{base.label} ({base.model}) vs {other.label} ({other.model}), {t.n} shared questions: "
        f"{pct(t.acc_a)} → {pct(t.acc_b)}, Δ {pp(t.delta)}, exact McNemar p = {t.p_value:.3g}.",
        "",
        matrix_markdown(t, base.name, other.name),
        "",
        f"![transitions]({png.name})",
        "",
        *[f"- {line}" for line in pair_mirage(pair).lines()],
        "",
        f"Fixed ({t.fixed}): {', '.join(map(str, t.fixed_ids)) or '—'}",
        "",
        f"Regressed ({t.regressed}): {', '.join(map(str, t.regressed_ids)) or '—'}",
        "",
        f"### Failure taxonomy of {len(cases)} sampled regressions (of {t.regressed}; seed {seed})",
        "",
        *_taxonomy_md(cases),
        "",
        *([judged, ""] if judged else []),
    ]
    for case in cases:
        lines += _case_md(case, base, other)
    shared = [i for i in base.samples if i in other.samples]
    guesses = tuple(sum(run.samples[i].get("prediction") is not None and is_guess(judged_generation(run.samples[i])) for i in shared)
                    for run in (base, other))
    summary = {"other": other.name, **t.as_dict(), "guesses": guesses}
    return lines, cases, summary


def write_report(base: Run, others: list[Run], out: Path, sample: int = 50, seed: int = 42, judge: Backend | None = None) -> Path:
    """Render INFERENCE_ANALYSIS.md (and the heat maps) into `out`; returns the markdown path. `judge`: an
    optional backend for the LLM judge (tinyreason.analysis.judge)."""
    out.mkdir(parents=True, exist_ok=True)
    sections, all_cases, summaries = [], [], []
    for other in others:
        lines, cases, summary = _pair_section(base, other, out, sample, seed, judge)
        sections += lines
        all_cases += cases
        summaries.append(summary)
    head = [
        "# Inference analysis: what each method fixed and broke",
        "",
        f"Base run: **{base.name}** ({base.label}, {base.model}). Regressions are questions the base answered right "
        "and the other run got wrong. Classes follow `tinyreason.analysis.taxonomy` (rules in docs/analysis.md).",
        "",
        f"*Bare guesses*: questions whose answer came from a chain under {GUESS_TOKENS} generated tokens that states no "
        "computation (taxonomy rule 2), right or wrong, in the base and in the other run.",
        "",
        "| other run | shared | both right | fixed | regressed | both wrong | Δ | McNemar p | bare guesses (base → other) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in summaries:
        head.append(
            f"| {s['other']} | {s['n']} | {s['both_right']} | {s['fixed']} | {s['regressed']} | {s['both_wrong']} | "
            f"{pp(s['delta'])} | {s['p_value']:.3g} | {s['guesses'][0]} → {s['guesses'][1]} |"
        )
    head += ["", f"## Failure taxonomy over all {len(all_cases)} sampled regressions", "", *_taxonomy_md(all_cases), ""]
    path = out / "INFERENCE_ANALYSIS.md"
    path.write_text("\n".join(head + sections) + "\n")
    return path
