"""What the model's own kept chains (rejection-sampled self-distillation) look like beside the human chains SFT
learns from: the two training sets of `sft-self` and `sft-1000`, compared before either is trained on.

    PYTHONPATH=src python benchmarks/own_vs_human_chains.py results/runs/self-distill/traces.jsonl \\
        --human results/runs/sft-1000 --data gsm8k:train --model <the reference model's folder> [--n 1000]

Prints, for the first --n kept traces (what sft-self trains on, in the order the traces file holds them) and
for the human examples sft-1000 trained on: the number of chains, target tokens (median, mean, 90th
percentile, with the model's tokenizer), how the final answer is written (`\\boxed{}`, `#### N`, neither),
how many contain a code block or an invented "```output" block (a model that pretends to have run code), and
how many questions the two sets share. From the traces files: questions asked, kept, rejects by reason, and
which of the k samples was kept. No model runs; the tokenizer alone loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from pathlib import Path

from tinyreason.data import load_problems
from tinyreason.models import load_tokenizer
from tinyreason.train.distill import TraceFiles, read_jsonl
from tinyreason.train.examples import human_examples


def describe(name: str, texts: list[str], tokenizer) -> None:
    lengths = sorted(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    form = Counter("boxed" if "\\boxed" in t else "####" if "####" in t else "neither" for t in texts)
    code = sum("```" in t for t in texts)
    output = sum("```output" in t for t in texts)
    p90 = lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0
    print(f"{name}: {len(texts)} chains · target tokens median {statistics.median(lengths):.0f}, mean {statistics.mean(lengths):.0f}, "
          f"p90 {p90} · answer as \\boxed {form['boxed']}, #### {form['####']}, neither {form['neither']} · "
          f"with a code block {code}, with an invented ```output block {output}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traces", type=Path, help="the self-distillation's traces.jsonl (its .rejects.jsonl beside it)")
    ap.add_argument("--human", type=Path, required=True, help="the human-chain SFT run (its train_config.json names the examples)")
    ap.add_argument("--data", required=True, help="the GSM8K train data the human run used")
    ap.add_argument("--model", required=True, help="model folder (its tokenizer counts the tokens)")
    ap.add_argument("--n", type=int, default=1000, help="kept traces sft-self takes (the first n)")
    args = ap.parse_args()

    kept = read_jsonl(args.traces, repair=False)
    rejects = read_jsonl(TraceFiles(args.traces).rejects, repair=False)
    print(f"{args.traces}: asked {len(kept) + len(rejects)} questions, kept {len(kept)} ({len(kept) / max(1, len(kept) + len(rejects)):.1%}); "
          f"rejects by reason {dict(Counter(r['reason'] for r in rejects).most_common())}; "
          f"kept sample index {dict(sorted(Counter(r.get('sample', 0) for r in kept).items()))}")
    tokenizer = load_tokenizer(args.model)
    own = kept[: args.n]
    describe(f"own chains (first {len(own)} kept)", [r["completion"] for r in own], tokenizer)

    config = json.loads((args.human / "train_config.json").read_text())
    ids = config["data"]["ids"]
    by_id = {e.id: e for e in human_examples(load_problems(args.data, "train"))}
    describe(f"human chains ({args.human.name}, {len(ids)})", [by_id[i].completion for i in ids], tokenizer)
    shared = {r["id"] for r in own} & set(ids)
    print(f"questions in both sets: {len(shared)} of {len(own)} own / {len(ids)} human")


if __name__ == "__main__":
    main()
