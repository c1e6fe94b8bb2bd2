"""Metrics of a run, derived only from its samples (so they can be recomputed without the model).

accuracy/correct/total/ci95 (95% Wilson), strict-mode accuracy, pass@k (oracle: any sample right) for
multi-sample methods, compute per question (model calls, prompt and generated tokens), truncations,
questions with no extractable answer, wall time and generated tokens per second.
"""

from __future__ import annotations

from typing import Any

from tinyreason.stats import wilson_interval


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"accuracy": k / n if n else 0.0, "correct": k, "total": n, "ci95": [lo, hi]}


def compute_metrics(samples: list[dict[str, Any]], expected_total: int | None = None) -> dict[str, Any]:
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
            "complete": expected_total is None or n == expected_total,
            "expected_total": expected_total,
            "no_answer": sum(s["prediction"] is None for s in samples),
            "truncated_questions": sum(bool(s.get("truncated")) for s in samples),
            "errors": sum(bool(s.get("error")) for s in samples),
            "calls_per_question": sum(s["calls"] for s in samples) / n if n else 0.0,
            "prompt_tokens_per_question": sum(s["prompt_tokens"] for s in samples) / n if n else 0.0,
            "generated_tokens_per_question": gen_tokens / n if n else 0.0,
            "generated_tokens": gen_tokens,
            "wall_time_s": wall,
            "tokens_per_s": gen_tokens / wall if wall > 0 else None,
        }
    )
    return m
