"""Every available generation backend against the HF baseline, on the same prompts, in one run.

    python benchmarks/throughput.py --model ~/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-hf \
        --gguf ~/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-q4km.gguf --data ../shared/data/gsm8k/test.jsonl \
        --questions 32 --agreement-questions 100 --max-new-tokens 256 --repeats 2 --out runs/bench/throughput
    python benchmarks/throughput.py --model DIR --data DATA --questions 8 --agreement-questions 8 \
        --max-new-tokens 64 --repeats 2 --out runs/bench/throughput-smoke      # a quick check that it works

What it does, in this order:
1. loads every backend named by --backends (default: hf plus every engine installed and usable here:
   openvino without CUDA, vllm with CUDA, llamacpp when llama-server and --gguf exist), timing each load
   (for openvino the export into a fresh cache under --out, recorded separately) and its resident memory;
   the baseline is hf in bfloat16 at the project's default batch (16 sequences per call);
2. timing, interleaved: for greedy and for n=5 sampling (temperature 0.7), --repeats rounds, each round
   running the first --questions prompts (seed-42 subset, `cot` prompt) through every backend in turn
   (the order rotates each round, so no backend always runs first); each backend gets prompts in chunks of
   its own batch size, as `tinyreason eval` hands them; min and median over rounds of generated tokens/s
   and questions/s, and the ratio of each median to the HF baseline's;
3. quality: greedy on the first --agreement-questions prompts through every backend once; accuracy (the
   one grader, tinyreason.answers) with a Wilson 95% interval, and agreement = share of questions whose
   extracted answer equals HF's.
Writes OUT/throughput.json (machine, versions, arguments, every number) and OUT/throughput.md (a table).
Timings mean something only on a machine nobody else is using: check `uptime` before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from tinyreason.answers import answers_match, extract_answer, same_answer
from tinyreason.backends import create_backend
from tinyreason.backends.llamacpp import find_server
from tinyreason.data import load_problems, select
from tinyreason.prompts import get_prompt
from tinyreason.runs import package_versions
from tinyreason.stats import wilson_interval
from tinyreason.types import Chat, Problem, SamplingParams

BASELINE = "hf"
HF_BATCH = 16  # the project's default CPU batch (sequences per generate call)


def vm_kib(field: str, pid: int | str = "self") -> int:
    """VmRSS (resident now) or VmHWM (peak) of a process, in KiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def available(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    """Backends to run (baseline first) and why each other one is skipped."""
    import torch

    cuda = torch.cuda.is_available()
    reasons = {
        "openvino": None if importlib.util.find_spec("openvino_genai") and not cuda else "openvino-genai not installed, or a CUDA GPU (vllm's turn)",
        "vllm": None if cuda and importlib.util.find_spec("vllm") else "needs a CUDA GPU and vllm",
        "llamacpp": None if args.gguf and find_server("llama-server") else "needs --gguf and llama-server on PATH",
    }
    wanted = args.backends or [BASELINE, *[n for n, r in reasons.items() if r is None]]
    skipped = {n: r for n, r in reasons.items() if r is not None and (not args.backends or n in args.backends)}
    run = [BASELINE] + [n for n in wanted if n != BASELINE and n not in skipped]
    return run, {n: r for n, r in skipped.items() if r}


def backend_options(name: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    opts: dict[str, Any] = {"model": args.gguf if name == "llamacpp" else args.model}
    if name == "hf":
        opts.update(dtype="bfloat16", batch_size=HF_BATCH)
    if name == "openvino":
        opts["cache_dir"] = str(out / "openvino-cache")  # fresh: the first load includes the export
    for kv in args.option:
        key, _, value = kv.partition("=")
        backend, _, field = key.partition(".")
        if backend == name:
            try:
                opts[field] = json.loads(value)
            except json.JSONDecodeError:
                opts[field] = value
    return opts


def load(names: list[str], args: argparse.Namespace, out: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    backends, info = {}, {}
    for name in names:
        rss0, t0 = vm_kib("VmRSS"), time.perf_counter()
        b = create_backend(name, **backend_options(name, args, out))
        load_s = time.perf_counter() - t0
        server = getattr(b, "_proc", None)
        rss = vm_kib("VmRSS", server.pid) if server is not None else vm_kib("VmRSS") - rss0
        record = getattr(b, "export_record", {})
        info[name] = {"describe": b.describe(), "load_s": round(load_s, 1), "export_s": record.get("export_s") if not record.get("cached", True) else None,
                      "rss_after_load_mib": round(rss / 1024), "batch_size": getattr(b, "batch_size", HF_BATCH)}
        backends[name] = b
        print(f"loaded {name} in {load_s:.1f} s", flush=True)
    return backends, info


def generate_all(b: Any, chats: list[Chat], params: SamplingParams) -> list[list[Any]]:
    per_call = max(1, getattr(b, "batch_size", HF_BATCH) // params.n)
    outs: list[list[Any]] = []
    for start in range(0, len(chats), per_call):
        outs += b.generate(chats[start : start + per_call], params)
    return outs


def time_rounds(backends: dict[str, Any], chats: list[Chat], params: SamplingParams, repeats: int) -> dict[str, list[dict[str, float]]]:
    names = list(backends)
    rounds: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0 = time.perf_counter()
            outs = generate_all(backends[name], chats, params)
            wall = time.perf_counter() - t0
            tokens = sum(c.n_tokens for cs in outs for c in cs)
            errors = sum(c.finish_reason == "error" for cs in outs for c in cs)
            rounds[name].append({"wall_s": wall, "tokens": tokens, "tok_s": tokens / wall, "q_s": len(chats) / wall, "errors": errors})
            print(f"  round {r + 1} {name}: {tokens} tokens in {wall:.1f} s = {tokens / wall:.1f} tok/s", flush=True)
    return rounds


def summarize(rounds: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    base = statistics.median(x["tok_s"] for x in rounds[BASELINE])
    out = {}
    for name, rs in rounds.items():
        tok_s = [x["tok_s"] for x in rs]
        out[name] = {
            "tok_s_min": round(min(tok_s), 2), "tok_s_median": round(statistics.median(tok_s), 2),
            "q_s_min": round(min(x["q_s"] for x in rs), 4), "q_s_median": round(statistics.median(x["q_s"] for x in rs), 4),
            "ratio_to_hf": round(statistics.median(tok_s) / base, 2), "tokens_per_round": [x["tokens"] for x in rs],
            "errors": sum(int(x["errors"]) for x in rs),
        }
    return out


def quality(backends: dict[str, Any], problems: list[Problem], max_new_tokens: int) -> dict[str, dict[str, Any]]:
    chats = [get_prompt("cot").render(question=p.question) for p in problems]
    answers = {}
    for name, b in backends.items():
        outs = generate_all(b, chats, SamplingParams(max_new_tokens=max_new_tokens))
        answers[name] = [extract_answer(cs[0].text) for cs in outs]
        print(f"  quality {name}: done", flush=True)
    out = {}
    for name, preds in answers.items():
        correct = sum(answers_match(a, p.gold) for a, p in zip(preds, problems))
        agree = sum(same_answer(a, h) for a, h in zip(preds, answers[BASELINE]))
        lo, hi = wilson_interval(correct, len(problems))
        out[name] = {"questions": len(problems), "correct": correct, "accuracy": round(correct / len(problems), 4),
                     "ci95": [round(lo, 4), round(hi, 4)], "agreement_with_hf": round(agree / len(problems), 4)}
    return out


def markdown(result: dict[str, Any]) -> str:
    a = result["args"]
    lines = [f"# Throughput: {result['machine']}", "",
             f"{a['questions']} questions timed, {a['repeats']} interleaved rounds, <= {a['max_new_tokens']} new tokens; "
             f"quality on {a['agreement_questions']} questions (greedy). Load average before/after: {result['load_before']} / {result['load_after']}.", "",
             "| backend | load s (export s) | RSS MiB | greedy tok/s min / med | q/s med | x HF | n=5 tok/s min / med | x HF | accuracy (95% CI) | agrees with HF |",
             "|---|---|---:|---|---:|---:|---|---:|---|---:|"]
    for name, info in result["backends"].items():
        g, s, q = result["greedy"][name], result["sample5"][name], result["quality"][name]
        export = f" ({info['export_s']})" if info["export_s"] is not None else ""
        lines.append(f"| {name} | {info['load_s']}{export} | {info['rss_after_load_mib']} | {g['tok_s_min']} / {g['tok_s_median']} | {g['q_s_median']} | "
                     f"{g['ratio_to_hf']} | {s['tok_s_min']} / {s['tok_s_median']} | {s['ratio_to_hf']} | {q['accuracy']:.1%} ({q['ci95'][0]:.1%}–{q['ci95'][1]:.1%}) | "
                     f"{q['agreement_with_hf']:.0%} |")
    lines += ["", f"Peak RSS of this process (all in-process backends together): {result['peak_rss_mib']} MiB."]
    lines += [f"Skipped: {n}: {r}" for n, r in result["skipped"].items()]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="transformers folder or Hub id (hf, openvino, vllm)")
    ap.add_argument("--gguf", help="the same model as a .gguf file (llamacpp)")
    ap.add_argument("--data", required=True, help="GSM8K .jsonl")
    ap.add_argument("--backends", nargs="*", help="backends to run besides hf (default: every one available here)")
    ap.add_argument("--option", action="append", default=[], help="BACKEND.KEY=VALUE backend option (JSON value), repeatable")
    ap.add_argument("--questions", type=int, default=32, help="questions in the timed runs")
    ap.add_argument("--agreement-questions", type=int, default=100, help="questions for accuracy and agreement with HF")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", required=True)
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = select(load_problems(args.data), max(args.questions, args.agreement_questions), args.seed)
    chats = [get_prompt("cot").render(question=p.question) for p in problems[: args.questions]]
    names, skipped = available(args)
    load_before = os.getloadavg()
    backends, info = load(names, args, out)
    result: dict[str, Any] = {"machine": f"{platform.machine()} {os.cpu_count()} cores", "versions": package_versions(), "args": vars(args),
                              "skipped": skipped, "backends": info, "load_before": [round(x, 2) for x in load_before]}
    print("greedy", flush=True)
    result["greedy"] = summarize(time_rounds(backends, chats, SamplingParams(max_new_tokens=args.max_new_tokens), args.repeats))
    print("n=5 sampling", flush=True)
    sample = SamplingParams(n=5, temperature=0.7, max_new_tokens=args.max_new_tokens, seed=args.seed)
    result["sample5"] = summarize(time_rounds(backends, chats, sample, args.repeats))
    result["quality"] = quality(backends, problems[: args.agreement_questions], args.max_new_tokens)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    result["peak_rss_mib"] = round(vm_kib("VmHWM") / 1024)
    for b in backends.values():
        getattr(b, "close", lambda: None)()
    (out / "throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "throughput.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
