"""What an adapter did to the first token of the answer: the top next tokens after the rendered prompt, base
against base + adapter, and the loss of the adapter's own training targets under each (in-process transformers,
bf16, CPU; a minute for a few questions on 2 cores).

    python benchmarks/first_token.py --model M --adapter results/runs/sft-self-structured \
        --questions results/runs/sft-self-structured-eval/samples.jsonl --traces results/runs/self-distill-structured/traces.jsonl

Used for the structured self-distillation row (benchmarks/README.md): after SFT under the `cot` prompt on traces
that begin with "Facts:", the mass moved off "To"/"Let" onto "####" while "Facts" stayed improbable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True, help="an adapter folder (train sft's run directory: its train_config.json names the prompt)")
    ap.add_argument("--questions", required=True, help="a samples.jsonl or traces.jsonl: its first --n questions")
    ap.add_argument("--traces", help="traces.jsonl: the mean and first-token loss of its first 2 completions")
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()

    import torch
    from peft import PeftModel

    from tinyreason.models import load_causal_lm, load_tokenizer
    from tinyreason.prompts import get_prompt
    from tinyreason.train.examples import render_prompt

    prompt = json.loads((Path(args.adapter) / "train_config.json").read_text())["config"]["prompt"]
    template = get_prompt(prompt)
    tok = load_tokenizer(args.model)
    base = load_causal_lm(args.model, device="cpu", dtype="bfloat16")
    questions = [json.loads(line)["question"] for line in Path(args.questions).read_text(encoding="utf-8").split("\n")[: args.n]]
    traces = [json.loads(line) for line in Path(args.traces).read_text(encoding="utf-8").split("\n")[:2]] if args.traces else []

    def top(model: object, question: str) -> list[tuple[str, float]]:
        ids = tok(render_prompt(tok, template, question), return_tensors="pt").input_ids
        with torch.no_grad():
            p = model(ids).logits[0, -1].float().softmax(-1)
        v, i = p.topk(args.top)
        return [(tok.decode([int(j)]), round(float(x), 3)) for x, j in zip(v, i, strict=True)]

    def loss(model: object, trace: dict) -> tuple[float, float]:
        text = render_prompt(tok, template, trace["question"])
        ids = tok(text + trace["completion"] + tok.eos_token, return_tensors="pt").input_ids  # the target as SFT appends EOS
        start = len(tok(text).input_ids)
        with torch.no_grad():
            logp = model(ids).logits[0, :-1].float().log_softmax(-1)
        nll = -logp[torch.arange(ids.shape[1] - 1), ids[0, 1:]][start - 1:]
        return round(float(nll.mean()), 3), round(float(nll[0]), 3)

    def measure(model: object) -> list[dict]:
        return [{"top": top(model, q)} for q in questions] + [{"trace_nll_mean_first": loss(model, t)} for t in traces]

    before = measure(base)
    after = measure(PeftModel.from_pretrained(base, args.adapter))
    print(json.dumps({"prompt": prompt, "base": before, "adapter": after}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
