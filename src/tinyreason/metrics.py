"""Metrics of a run, derived only from its samples (so they can be recomputed without the model).

accuracy/correct/total/ci95 (95% Wilson), strict-mode accuracy, pass@k (oracle: any sample right) for
multi-sample methods, compute per question (model calls, prompt and generated tokens), truncations,
questions with no extractable answer, wall time and generated tokens per second.

Method records add sections when (and only when) their keys are present in the samples, so this module
knows no method by name:
  extra.initial_answer   -> "revision": questions changed / fixed (initial wrong -> final right) /
                            regressed (initial right -> final wrong)         (reflect, sc-reflect, sc-verifier)
  extra.reflected        -> "reflected": questions where reflection triggered  (sc-reflect)
  stage == "sample"      -> "samples_per_question"                              (every multi-sample method)
  extra.stop_reason      -> "stop_reasons": questions per reason                (adaptive-sc)
  generation format_ok   -> "format_ok": share of completions in the asked format (structured-sc)
  generation verdict     -> "verdicts": CORRECT / INCORRECT / unparseable counts  (sc-verifier)
  generation program_status -> "programs": programs run, counted by PROGRAM_GROUPS and by status, mean
                            sandbox seconds                                 (pal, pal-sc, hybrid-sc)
  extra.decided_by       -> "decided_by": questions per voting source ("both", "chains", ...)  (hybrid-sc)
"""

from __future__ import annotations

from typing import Any

from tinyreason.answers import answers_match
from tinyreason.stats import wilson_interval


# program failures, grouped as the metrics report them (keys: generation extra.program_status)
PROGRAM_GROUPS = {
    "failed_to_parse": ("no-program", "syntax-error"),
    "raised": ("exception", "memory", "output-limit", "died"),  # raised, or was ended by a limit other than time
    "timed_out": ("timeout",),
    "no_number": ("no-number",),
}


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"accuracy": k / n if n else 0.0, "correct": k, "total": n, "ci95": [lo, hi]}


def compute_metrics(samples: list[dict[str, Any]], expected_total: int | None = None,
                    errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Metrics over the graded samples. `errors`: the questions whose generation failed (errors.jsonl): never
    graded, they make the run incomplete. A sample that carries an error (written by an older version) is
    counted as an error too, never as a wrong answer."""
    errors = [*(errors or []), *(s for s in samples if s.get("error"))]
    samples = [s for s in samples if not s.get("error")]
    n = len(samples)
    correct = sum(bool(s["correct"]) for s in samples)
    strict = sum(bool(s.get("correct_strict")) for s in samples)
    gen_tokens = sum(s["generated_tokens"] for s in samples)
    wall = sum(s.get("wall_s", 0.0) for s in samples)
    m: dict[str, Any] = _rate(correct, n)
    m["strict"] = _rate(strict, n)
    if any(s.get("pass_at_k") is not None for s in samples):
        m["pass_at_k"] = _rate(sum(bool(s.get("pass_at_k")) for s in samples), n)
    m.update(
        {
            "complete": (expected_total is None or n == expected_total) and not errors,
            "expected_total": expected_total,
            "answered": n,
            "no_answer": sum(s["prediction"] is None for s in samples),
            "truncated_questions": sum(bool(s.get("truncated")) for s in samples),
            "errors": len(errors),
            "calls_per_question": sum(s["calls"] for s in samples) / n if n else 0.0,
            "prompt_tokens_per_question": sum(s["prompt_tokens"] for s in samples) / n if n else 0.0,
            "generated_tokens_per_question": gen_tokens / n if n else 0.0,
            "generated_tokens": gen_tokens,
            "wall_time_s": wall,
            "tokens_per_s": gen_tokens / wall if wall > 0 else None,
        }
    )
    if errors:
        m["first_error"] = {"id": errors[0].get("id"), "error": errors[0].get("error")}
    m.update(method_metrics(samples))
    return m


def _revision(samples: list[dict[str, Any]]) -> dict[str, int]:
    fixed = regressed = changed = 0
    for s in samples:
        before = answers_match(s["extra"]["initial_answer"], s["gold"])
        fixed += bool(s["correct"]) and not before
        regressed += before and not s["correct"]
        changed += bool(s["extra"].get("changed"))
    return {"questions": len(samples), "changed": changed, "fixed": fixed, "regressed": regressed, "net": fixed - regressed}


def method_metrics(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The sections that method records add (see the module docstring); {} for greedy."""
    out: dict[str, Any] = {}
    revised = [s for s in samples if "initial_answer" in s.get("extra", {})]
    if revised:
        out["revision"] = _revision(revised)
    flagged = [s for s in samples if "reflected" in s.get("extra", {})]
    if flagged:
        out["reflected"] = {"questions": sum(bool(s["extra"]["reflected"]) for s in flagged), "of": len(flagged)}
    gens = [g for s in samples for g in s.get("generations", [])]
    drawn = [sum(g["stage"] == "sample" for g in s.get("generations", [])) for s in samples]
    if any(drawn):
        out["samples_per_question"] = sum(drawn) / len(samples)
    reasons = [s["extra"]["stop_reason"] for s in samples if "stop_reason" in s.get("extra", {})]
    if reasons:
        out["stop_reasons"] = {r: reasons.count(r) for r in sorted(set(reasons))}
    formatted = [g["extra"]["format_ok"] for g in gens if "format_ok" in g.get("extra", {})]
    if formatted:
        out["format_ok"] = {"share": sum(map(bool, formatted)) / len(formatted), "completions": len(formatted)}
    verdicts = [g["extra"]["verdict"] for g in gens if "verdict" in g.get("extra", {})]
    if verdicts:
        out["verdicts"] = {"CORRECT": verdicts.count("CORRECT"), "INCORRECT": verdicts.count("INCORRECT"), "unparseable": verdicts.count(None)}
    programs = [g["extra"] for g in gens if "program_status" in g.get("extra", {})]
    if programs:
        out["programs"] = _programs(programs)
    decided = [s["extra"]["decided_by"] for s in samples if "decided_by" in s.get("extra", {})]
    if decided:
        out["decided_by"] = {d: decided.count(d) for d in sorted(set(decided))}
    return out


def _programs(records: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = [r["program_status"] for r in records]
    elapsed = [r["program_elapsed_s"] for r in records if r.get("program_elapsed_s") is not None]
    out: dict[str, Any] = {"total": len(statuses), "ok": statuses.count("ok")}
    out.update({group: sum(statuses.count(s) for s in members) for group, members in PROGRAM_GROUPS.items()})
    out["by_status"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    out["mean_elapsed_s"] = sum(elapsed) / len(elapsed) if elapsed else None
    return out


def summary_lines(m: dict[str, Any]) -> list[str]:
    """One human line per method section, for the CLI summary."""
    lines = []
    if "revision" in m:
        r = m["revision"]
        lines.append(f"revision: {r['changed']} changed · {r['fixed']} fixed · {r['regressed']} regressed (net {r['net']:+d}) of {r['questions']}")
    if "reflected" in m:
        lines.append(f"reflection triggered on {m['reflected']['questions']}/{m['reflected']['of']} questions")
    if "samples_per_question" in m:
        line = f"samples/q {m['samples_per_question']:.2f}"
        if "stop_reasons" in m:
            line += " · stopped by " + ", ".join(f"{k} {v}" for k, v in m["stop_reasons"].items())
        lines.append(line)
    if "format_ok" in m:
        lines.append(f"all four sections present in {m['format_ok']['share']:.1%} of {m['format_ok']['completions']} completions")
    if "verdicts" in m:
        v = m["verdicts"]
        lines.append(f"verdicts: {v['CORRECT']} CORRECT · {v['INCORRECT']} INCORRECT · {v['unparseable']} unparseable")
    if "programs" in m:
        p = m["programs"]
        each = f" · {p['mean_elapsed_s']:.2f} s each in the sandbox" if p["mean_elapsed_s"] is not None else ""
        lines.append(
            f"programs: {p['ok']}/{p['total']} gave a number · {p['failed_to_parse']} failed to parse · {p['raised']} raised "
            f"(or hit a limit) · {p['timed_out']} timed out · {p['no_number']} returned no number{each}"
        )
    if "decided_by" in m:
        lines.append("decided by: " + " · ".join(f"{k} {v}" for k, v in m["decided_by"].items()))
    return lines
