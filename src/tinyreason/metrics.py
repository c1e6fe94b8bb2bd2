"""Metrics of a run, derived only from its samples (so they can be recomputed without the model).

accuracy/correct/total/ci95 (95% Wilson), strict-mode accuracy, pass@k (oracle: any sample right) for
multi-sample methods, compute per question (model calls, prompt and generated tokens), truncations,
questions with no extractable answer, wall time and generated tokens per second.

Methods add their own sections (tinyreason.methods.records: each method declares `record_sections`, computed
from its own records); this module aggregates those of every registered method, a plug-in's too, and names
none of them. The one generic section: `samples_per_question`, from the generation stage "sample" that every
multi-sample method uses (the stage names are the contract, tinyreason.types).
"""

from __future__ import annotations

from typing import Any

from tinyreason.stats import wilson_interval


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


def _sections() -> list[Any]:
    """Every registered method's record sections, each key once."""
    import tinyreason.methods  # noqa: F401  (registers the built-in methods)
    from tinyreason.methods.base import method_class, method_names

    seen: dict[str, Any] = {}
    for name in method_names():
        for section in getattr(method_class(name), "record_sections", ()):
            seen.setdefault(section.key, section)
    return list(seen.values())


def method_metrics(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The sections that method records add (see the module docstring); {} for greedy."""
    out: dict[str, Any] = {}
    drawn = [sum(g["stage"] == "sample" for g in s.get("generations", [])) for s in samples]
    if any(drawn):
        out["samples_per_question"] = sum(drawn) / len(samples)
    for section in _sections():
        value = section.compute(samples)
        if value is not None:
            out[section.key] = value
    return out


def summary_lines(m: dict[str, Any]) -> list[str]:
    """One human line per method section, for the CLI summary."""
    lines = [f"samples/q {m['samples_per_question']:.2f}"] if "samples_per_question" in m else []
    return lines + [section.line(m) for section in _sections() if section.key in m]
