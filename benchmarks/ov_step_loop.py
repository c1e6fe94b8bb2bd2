"""The openvino backend's step loop against the engine's own generate(), same model, same prompts, one run.

    python benchmarks/ov_step_loop.py --model ~/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-hf \
        --data ../shared/data/gsm8k/test.jsonl --questions 32 --sampled-questions 12 --max-new-tokens 256 \
        --repeats 2 --out runs/bench/ov-step-loop

Since 2026-11-28 OpenVINOBackend drives ContinuousBatchingPipeline from Python (add_request, then step()
until no request is left) so that Ctrl-C lands between two decoding steps and each finished request moves
the progress bar. The baseline is the engine's one blocking generate() call on the same requests. For greedy
(--questions prompts) and n=5 sampling at temperature 0.7 (--sampled-questions prompts), in batches of the
backend's batch_size sequences as `tinyreason eval` hands them, --repeats rounds with the order of the two
paths alternating: generated tokens/s of each (min and median) and the step loop's median over the baseline's;
plus whether both returned the same token ids in the last round. That comparison means something only with
`--option prefix_caching=false`: with the prefix cache on, a cached prefix changes the prefill's numerics, so
even two rounds of the same path can differ.
Writes OUT/ov_step_loop.json. Timings mean something only on a machine nobody else is using.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from tinyreason.backends import create_backend
from tinyreason.cli.app import parse_key_values
from tinyreason.data import load_problems, select
from tinyreason.prompts import get_prompt
from tinyreason.runs import package_versions
from tinyreason.types import SamplingParams


def run_path(b: Any, path: str, prompts: list[list[int]], params: SamplingParams) -> tuple[float, int, list[list[list[int]]]]:
    """(wall seconds, generated tokens, ids) for every prompt, in batches of b.batch_size sequences."""
    per_call = max(1, b.batch_size // params.n)
    ids: list[list[list[int]]] = []
    t0 = time.perf_counter()
    for start in range(0, len(prompts), per_call):
        chunk = prompts[start : start + per_call]
        configs = [b._generation_config(params, seed=params.seed + start + i) for i in range(len(chunk))]
        if path == "step-loop":
            ids += [[list(o.generated_ids) for o in outs] for outs in b._run(chunk, configs)]
        else:
            ids += [[list(x) for x in r.m_generation_ids] for r in b._pipe.generate([b._tensor(p) for p in chunk], configs)]
    wall = time.perf_counter() - t0
    return wall, sum(len(x) for per in ids for x in per), ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--questions", type=int, default=32, help="prompts of the greedy rounds")
    ap.add_argument("--sampled-questions", type=int, default=12, help="prompts of the n=5 rounds")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--option", action="append", default=[], help="openvino backend option KEY=VALUE (JSON value)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    b = create_backend("openvino", model=args.model, **parse_key_values(args.option, "--option"))
    problems = select(load_problems(args.data), limit=max(args.questions, args.sampled_questions), seed=42)
    chats = [get_prompt("cot").render(question=p.question) for p in problems]
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_before": os.getloadavg()},
                              "versions": package_versions(), "args": vars(args), "backend": b.describe(), "settings": {}}
    settings = {"greedy": (SamplingParams(max_new_tokens=args.max_new_tokens), args.questions),
                "n5": (SamplingParams(n=5, temperature=0.7, max_new_tokens=args.max_new_tokens, seed=42), args.sampled_questions)}
    for name, (params, k) in settings.items():
        prompts = b.encode(chats[:k])
        rounds: dict[str, list[float]] = {"generate": [], "step-loop": []}
        ids: dict[str, list[Any]] = {}
        for r in range(args.repeats):
            for path in (["generate", "step-loop"] if r % 2 == 0 else ["step-loop", "generate"]):
                wall, tokens, ids[path] = run_path(b, path, prompts, params)
                rounds[path].append(tokens / wall)
                print(f"{name} round {r + 1} {path}: {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} tok/s", flush=True)
        med = {p: statistics.median(v) for p, v in rounds.items()}
        result["settings"][name] = {"questions": k, "n": params.n, "tok_s": rounds, "tok_s_median": med,
                                    "step_loop_over_generate": round(med["step-loop"] / med["generate"], 3),
                                    "same_ids": ids["generate"] == ids["step-loop"]}
    result["machine"]["load_after"] = os.getloadavg()
    (out / "ov_step_loop.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: {x: v[x] for x in ("tok_s_median", "step_loop_over_generate", "same_ids")} for k, v in result["settings"].items()}, indent=2))


if __name__ == "__main__":
    main()
