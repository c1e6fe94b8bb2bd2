"""Accuracy and generation throughput of `tinyreason eval` on a local model, against a batch-1 baseline
measured in the same run.

    python benchmarks/eval_throughput.py --model ~/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-hf \
        --data ../shared/data/gsm8k/test.jsonl --limit 50 --batch-size 16 --baseline-limit 8 --out runs/bench/greedy50

1. The harness: greedy over the first --limit questions of the seed-42 subset, batched (--batch-size),
   written as a normal run directory (resumable; rerunning reuses finished questions, so the timing
   printed is from metrics.json, i.e. the time spent generating those samples).
2. The baseline: the same HF backend with batch size 1 (what a plain `model.generate` loop does) over the
   first --baseline-limit of those questions, timed here. Its answers must match the harness's on the
   same questions for most ids (batching with left padding should not change greedy answers; bf16 noise can
   flip a few), which this script reports.
Prints one JSON object: accuracy, CI, tokens/s of both, and the throughput ratio.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from tinyreason.backends.hf import HFBackend
from tinyreason.data import load_problems, select
from tinyreason.evaluate import evaluate
from tinyreason.methods import create_method
from tinyreason.prompts import get_prompt
from tinyreason.types import SamplingParams
from tinyreason.answers import extract_answer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--baseline-limit", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--dtype", default="auto")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    ds = load_problems(a.data)
    backend = HFBackend(model=a.model, dtype=a.dtype, batch_size=a.batch_size)
    method = create_method("greedy", max_new_tokens=a.max_new_tokens, seed=a.seed)
    m = evaluate(backend, method, ds, a.out, limit=a.limit, seed=a.seed, batch_size=a.batch_size)
    samples = {json.loads(line)["id"]: json.loads(line) for line in open(f"{a.out}/samples.jsonl")}

    base_problems = select(ds, a.limit, a.seed)[: a.baseline_limit]
    backend.batch_size = 1
    params = SamplingParams(max_new_tokens=a.max_new_tokens)
    chats = [get_prompt("cot").render(question=p.question) for p in base_problems]
    t0 = time.perf_counter()
    outs = backend.generate(chats, params)
    base_wall = time.perf_counter() - t0
    base_tokens = sum(o[0].n_tokens for o in outs)
    same = sum(extract_answer(o[0].text) == samples[p.id]["prediction"] for p, o in zip(base_problems, outs))
    harness_subset_tps = sum(samples[p.id]["generated_tokens"] for p in base_problems) / sum(samples[p.id]["wall_s"] for p in base_problems)
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                "model": a.model,
                "dtype": backend.dtype,
                "questions": m["total"],
                "accuracy": round(m["accuracy"], 4),
                "ci95": [round(x, 4) for x in m["ci95"]],
                "strict_accuracy": round(m["strict"]["accuracy"], 4),
                "generated_tokens_per_question": round(m["generated_tokens_per_question"], 1),
                "truncated": m["truncated_questions"],
                "harness_wall_s": round(m["wall_time_s"], 1),
                "harness_tokens_per_s": round(m["tokens_per_s"], 2),
                "baseline_questions": len(base_problems),
                "baseline_batch1_tokens_per_s": round(base_tokens / base_wall, 2),
                "harness_tokens_per_s_on_baseline_questions": round(harness_subset_tps, 2),
                "throughput_ratio_vs_batch1": round(m["tokens_per_s"] / (base_tokens / base_wall), 2),
                "baseline_same_answer_as_harness": f"{same}/{len(base_problems)}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
