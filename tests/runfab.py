"""Fabricate run directories for analysis tests: a config.json and samples.jsonl shaped like evaluate's
(sample_record), without any model. Samples are written in a shuffled file order on purpose, so tests catch
code that uses file order where the subset order (config.subset.ids) is meant."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from tinyreason.answers import answers_match, extract_answer
from tinyreason.metrics import compute_metrics


def generation(text: str, stage: str = "answer", n_tokens: int | None = None, finish: str = "stop") -> dict[str, Any]:
    return {
        "stage": stage, "text": text, "n_tokens": n_tokens if n_tokens is not None else max(1, len(text.split())),
        "prompt_tokens": 50, "finish_reason": finish, "answer": extract_answer(text, "flexible"),
        "answer_strict": extract_answer(text, "strict"), "extra": {},
    }  # fmt: skip


def sample(qid: int, gold: str, gens: list[dict[str, Any]], prediction: str | None = "auto", question: str | None = None, **extra: Any) -> dict[str, Any]:
    pred = gens[-1]["answer"] if prediction == "auto" else prediction
    return {
        "id": qid, "question": question or f"Question number {qid}: how many apples?", "gold": gold,
        "prediction": pred, "correct": answers_match(pred, gold), "prediction_strict": pred,
        "correct_strict": answers_match(pred, gold), "pass_at_k": None, "calls": len(gens),
        "prompt_tokens": sum(g["prompt_tokens"] for g in gens), "generated_tokens": sum(g["n_tokens"] for g in gens),
        "truncated": any(g["finish_reason"] == "length" for g in gens), "error": None, "wall_s": 0.5,
        "generations": gens, "extra": extra,
    }  # fmt: skip


def simple_samples(ids: list[int], right: set[int], tokens: int = 100, stage: str = "answer") -> list[dict[str, Any]]:
    """One generation per question; gold = id + 1; right ids answer gold, the rest answer gold + 1000."""
    out = []
    for i in ids:
        gold = str(i + 1)
        ans = gold if i in right else str(i + 1001)
        out.append(sample(i, gold, [generation(f"Some steps.\n#### {ans}", stage, n_tokens=tokens)]))
    return out


def make_run(path: Path, samples: list[dict[str, Any]], *, method: str = "greedy", options: dict[str, Any] | None = None,
             order: list[int] | None = None, model: str = "/models/fake-0.5b", fingerprint: str = "fp0", shuffle_seed: int = 0) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    ids = order if order is not None else [s["id"] for s in samples]
    config = {
        "kind": "eval", "method": {"name": method, "prompt": "cot", "max_new_tokens": 512, "seed": 42, **(options or {})},
        "prompts": {}, "backend": {"backend": "scripted", "model": model, "adapter": None},
        "data": {"source": "fake.jsonl", "split": "test", "fingerprint": fingerprint, "rows": 1319},
        "subset": {"limit": len(ids), "seed": 42, "ids": ids}, "skipped_rows": [], "created": "2026-01-01T00:00:00+00:00",
    }  # fmt: skip
    (path / "config.json").write_text(json.dumps(config, indent=1))
    rows = list(samples)
    random.Random(shuffle_seed).shuffle(rows)
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "metrics.json").write_text(json.dumps(compute_metrics(rows, expected_total=len(ids))))
    return path


def make_planned_run(path: Path, spec: Any, samples: list[dict[str, Any]], *, order: list[int] | None = None) -> Path:
    """A run directory whose config.json is the one `eval` would write for `spec` (tinyreason.spec.planned:
    the same questions, method options and prompts), so reproduce's state reads it as eval would. The
    samples' ids are positions in the spec's subset (0: its first question); `order` (positions too) is the
    subset the config records, default the samples'."""
    from tinyreason.spec import planned

    config, _ = planned(spec)
    ids = config["subset"]["ids"]
    positions = order if order is not None else [s["id"] for s in samples]
    config = {**config, "subset": {**config["subset"], "limit": len(positions), "ids": [ids[i] for i in positions]},
              "created": "2026-01-01T00:00:00+00:00"}
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config, indent=1))
    rows = [{**s, "id": ids[s["id"]]} for s in samples]
    (path / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (path / "metrics.json").write_text(json.dumps(compute_metrics(rows, expected_total=len(positions))))
    return path
