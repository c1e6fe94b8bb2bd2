"""How often does a right answer come from a chain that states a false computation? (what check_arithmetic rejects)

    PYTHONPATH=src python benchmarks/claims_in_runs.py results/runs/greedy results/runs/sft-1000-eval \\
        --traces results/runs/self-distill-structured/traces.jsonl

For each eval run: its right and wrong answers, and how many of each have a chain (the first generation) with a
claim tinyreason.analysis.claims finds false. For each traces file (a distillation's accepted traces): how many
of its kept completions state one, with the claims.
"""

from __future__ import annotations

import argparse
import json

from tinyreason.analysis.claims import false_claims
from tinyreason.analysis.loading import load_run


def runs(paths: list[str]) -> None:
    for path in paths:
        run = load_run(path)
        counts = {True: [0, 0], False: [0, 0]}  # correct -> [answers, with a false claim]
        for s in run.samples.values():
            text = s["generations"][0]["text"] if s.get("generations") else ""
            counts[bool(s["correct"])][0] += 1
            counts[bool(s["correct"])][1] += bool(false_claims(text))
        (right, rf), (wrong, wf) = counts[True], counts[False]
        print(f"{path}: right {right}, with a false claim {rf} ({rf / max(1, right):.1%}); "
              f"wrong {wrong}, with a false claim {wf} ({wf / max(1, wrong):.1%})")


def traces(paths: list[str]) -> None:
    for path in paths:
        rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
        bad = [(r["id"], false_claims(r["completion"])) for r in rows]
        bad = [(i, f) for i, f in bad if f]
        print(f"{path}: {len(rows)} kept traces, {len(bad)} with a false claim")
        for i, found in bad:
            print(f"  id {i}: {'; '.join(str(c) for c in found)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="eval run directories")
    ap.add_argument("--traces", nargs="*", default=[], help="distillation traces.jsonl files")
    args = ap.parse_args()
    runs(args.runs)
    traces(args.traces)
