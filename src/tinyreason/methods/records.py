"""What methods add to metrics.json and to the run's summary: each a Section a method declares
(`Method.record_sections`), computed from its own records. metrics.py aggregates the sections of every
registered method (a plug-in's too) and names none of them; a section appears only when its records do.

    Section(key, compute(samples) -> value | None, line(metrics) -> str)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from tinyreason.answers import answers_match

Samples = list[dict[str, Any]]

# program failures, grouped as the metrics report them (keys: generation extra.program_status)
PROGRAM_GROUPS = {
    "failed_to_parse": ("no-program", "syntax-error"),
    "raised": ("exception", "memory", "output-limit", "died"),  # raised, or was ended by a limit other than time
    "timed_out": ("timeout",),
    "no_number": ("no-number",),
}


@dataclass(frozen=True)
class Section:
    key: str
    compute: Callable[[Samples], Any]  # None: the records are not there
    line: Callable[[dict[str, Any]], str]


def _gens(samples: Samples) -> list[dict[str, Any]]:
    return [g for s in samples for g in s.get("generations", [])]


def _revision(samples: Samples) -> dict[str, int] | None:
    revised = [s for s in samples if "initial_answer" in s.get("extra", {})]
    if not revised:
        return None
    fixed = regressed = changed = 0
    for s in revised:
        before = answers_match(s["extra"]["initial_answer"], s["gold"])
        fixed += bool(s["correct"]) and not before
        regressed += before and not s["correct"]
        changed += bool(s["extra"].get("changed"))
    return {"questions": len(revised), "changed": changed, "fixed": fixed, "regressed": regressed, "net": fixed - regressed}


def _reflected(samples: Samples) -> dict[str, int] | None:
    flagged = [s for s in samples if "reflected" in s.get("extra", {})]
    return {"questions": sum(bool(s["extra"]["reflected"]) for s in flagged), "of": len(flagged)} if flagged else None


def _stop_reasons(samples: Samples) -> dict[str, int] | None:
    reasons = [s["extra"]["stop_reason"] for s in samples if "stop_reason" in s.get("extra", {})]
    return {r: reasons.count(r) for r in sorted(set(reasons))} if reasons else None


def _format_ok(samples: Samples) -> dict[str, Any] | None:
    formatted = [g["extra"]["format_ok"] for g in _gens(samples) if "format_ok" in g.get("extra", {})]
    return {"share": sum(map(bool, formatted)) / len(formatted), "completions": len(formatted)} if formatted else None


def _verdicts(samples: Samples) -> dict[str, int] | None:
    verdicts = [g["extra"]["verdict"] for g in _gens(samples) if "verdict" in g.get("extra", {})]
    if not verdicts:
        return None
    return {"CORRECT": verdicts.count("CORRECT"), "INCORRECT": verdicts.count("INCORRECT"), "unparseable": verdicts.count(None)}


def _programs(samples: Samples) -> dict[str, Any] | None:
    records = [g["extra"] for g in _gens(samples) if "program_status" in g.get("extra", {})]
    if not records:
        return None
    statuses = [r["program_status"] for r in records]
    elapsed = [r["program_elapsed_s"] for r in records if r.get("program_elapsed_s") is not None]
    out: dict[str, Any] = {"total": len(statuses), "ok": statuses.count("ok")}
    out.update({group: sum(statuses.count(s) for s in members) for group, members in PROGRAM_GROUPS.items()})
    out["by_status"] = {s: statuses.count(s) for s in sorted(set(statuses))}
    out["mean_elapsed_s"] = sum(elapsed) / len(elapsed) if elapsed else None
    return out


def _decided_by(samples: Samples) -> dict[str, int] | None:
    decided = [s["extra"]["decided_by"] for s in samples if "decided_by" in s.get("extra", {})]
    return {d: decided.count(d) for d in sorted(set(decided))} if decided else None


def _programs_line(m: dict[str, Any]) -> str:
    p = m["programs"]
    each = f" · {p['mean_elapsed_s']:.2f} s each in the sandbox" if p["mean_elapsed_s"] is not None else ""
    return (f"programs: {p['ok']}/{p['total']} gave a number · {p['failed_to_parse']} failed to parse · {p['raised']} raised "
            f"(or hit a limit) · {p['timed_out']} timed out · {p['no_number']} returned no number{each}")


REVISION = Section("revision", _revision, lambda m: (
    f"revision: {m['revision']['changed']} changed · {m['revision']['fixed']} fixed · {m['revision']['regressed']} regressed "
    f"(net {m['revision']['net']:+d}) of {m['revision']['questions']}"))
REFLECTED = Section("reflected", _reflected, lambda m: f"reflection triggered on {m['reflected']['questions']}/{m['reflected']['of']} questions")
STOP_REASONS = Section("stop_reasons", _stop_reasons, lambda m: "stopped by " + ", ".join(f"{k} {v}" for k, v in m["stop_reasons"].items()))
FORMAT_OK = Section("format_ok", _format_ok, lambda m: (
    f"all four sections present in {m['format_ok']['share']:.1%} of {m['format_ok']['completions']} completions"))
VERDICTS = Section("verdicts", _verdicts, lambda m: (
    f"verdicts: {m['verdicts']['CORRECT']} CORRECT · {m['verdicts']['INCORRECT']} INCORRECT · {m['verdicts']['unparseable']} unparseable"))
PROGRAMS = Section("programs", _programs, _programs_line)
DECIDED_BY = Section("decided_by", _decided_by, lambda m: "decided by: " + " · ".join(f"{k} {v}" for k, v in m["decided_by"].items()))
