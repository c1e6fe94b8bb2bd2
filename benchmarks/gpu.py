"""The measurements no CPU can make, in one command for the day a CUDA machine is at hand (issue #24).

    python benchmarks/gpu.py --dry-run                       # the plan and its checks, anywhere (the tests run this)
    python benchmarks/gpu.py --chunks .device/chunks         # on a CUDA machine: join the model, then measure
    python benchmarks/gpu.py --model DIR --steps 20          # a transformers folder already there

Steps, each timed, each writing its numbers into benchmarks/results/gpu-<date>.json (a step whose library is
missing is recorded as skipped, with what it needs — never as a number):
  1. model      join the reference GGUF from chunk files (each under 48 MiB, so they can travel with a working
                tree of at most 64 MiB; made here by `--split GGUF DIR`), check its sha256, convert to a
                transformers folder (tinyreason.reference_model), or use --model
  2. greedy     the full GSM8K test (1,319 questions, packaged copy), greedy: vLLM if installed, else the
                in-process transformers backend on CUDA; accuracy, generated tokens/s, wall
  3. sft        QLoRA SFT (4-bit base: bitsandbytes) for --steps optimizer steps: step time, peak GPU memory
  4. grpo       the 4 GB GRPO recipe (recipes/grpo-4gb.yaml) for --steps steps: step time, peak GPU memory

Budget: under 10 minutes on one H100/H200 with the defaults (the greedy step dominates).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
CHUNK_MIB = 47


def split(gguf: Path, folder: Path) -> list[Path]:
    """Cut the GGUF into numbered chunks of CHUNK_MIB MiB (to carry a few per call)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    with gguf.open("rb") as fh:
        for i, block in enumerate(iter(lambda: fh.read(CHUNK_MIB << 20), b""), start=1):
            part = folder / f"part{i:02d}.bin"
            part.write_bytes(block)
            parts.append(part)
    return parts


def join(folder: Path, dest: Path) -> Path:
    """The reference GGUF from the chunk files in `folder` (in name order), sha256-checked, then converted."""
    from tinyreason.reference_model import REFERENCE, FetchError, sha256_of, to_transformers

    parts = sorted(folder.glob("part*.bin"))
    if not parts:
        raise FetchError(f"{folder}: no part*.bin chunks (make them with --split)")
    dest.mkdir(parents=True, exist_ok=True)
    gguf = dest / REFERENCE.gguf
    with gguf.open("wb") as out:
        for p in parts:
            out.write(p.read_bytes())
    if sha256_of(gguf) != REFERENCE.sha256:
        gguf.unlink()
        raise FetchError(f"the {len(parts)} chunks in {folder} do not join into the pinned {REFERENCE.gguf}: missing or extra parts?")
    return to_transformers(gguf, dest / REFERENCE.hf_folder)


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def peak_gib() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 3) if torch.cuda.is_available() else None


def step_greedy(model: str, out: Path, steps: int) -> dict[str, Any]:
    from tinyreason.spec import EvalSpec, run_eval

    backend = "vllm" if have("vllm") else "hf"
    spec = EvalSpec(model=model, backend=backend, method="greedy", data="gsm8k:test", limit=1319, out=out / "greedy-full-test")
    t0 = time.perf_counter()
    m, _ = run_eval(spec, progress=False)
    return {"backend": backend, "accuracy": m["accuracy"], "correct": m["correct"], "total": m["total"], "wall_s": round(time.perf_counter() - t0, 1),
            "tokens_per_s": m["tokens_per_s"], "generated_tokens": m["generated_tokens"],
            **({} if backend == "vllm" else {"note": "vllm is not installed here: the transformers backend on CUDA instead"})}


def step_sft(model: str, out: Path, steps: int) -> dict[str, Any]:
    import torch

    from tinyreason.train.sft import SFTRunConfig, train_sft

    torch.cuda.reset_peak_memory_stats()
    cfg = SFTRunConfig(model=model, data="gsm8k:train", train_n=16 * steps, max_steps=steps, epochs=1, quantization="4bit")
    t0 = time.perf_counter()
    train_sft(cfg, out / "sft", force=True)
    wall = time.perf_counter() - t0
    return {"steps": steps, "wall_s": round(wall, 1), "s_per_step": round(wall / steps, 2), "peak_gpu_gib": peak_gib()}


def step_grpo(model: str, out: Path, steps: int) -> dict[str, Any]:
    import torch

    from tinyreason.config_io import load_yaml_model
    from tinyreason.train.grpo import train_grpo
    from tinyreason.train.grpo_config import GRPORunConfig

    torch.cuda.reset_peak_memory_stats()
    cfg = load_yaml_model(ROOT / "recipes" / "grpo-4gb.yaml", GRPORunConfig, {"model": model, "data": "gsm8k:train", "max_steps": steps})
    t0 = time.perf_counter()
    train_grpo(cfg, out / "grpo", force=True)
    wall = time.perf_counter() - t0
    return {"steps": steps, "wall_s": round(wall, 1), "s_per_step": round(wall / steps, 2), "peak_gpu_gib": peak_gib(),
            "goal": "peak under 4 GiB (the recipe's promise)"}


STEPS: dict[str, tuple[Callable[[str, Path, int], dict[str, Any]], tuple[str, ...]]] = {
    "greedy": (step_greedy, ("torch",)),
    "sft": (step_sft, ("torch", "trl", "peft", "bitsandbytes")),
    "grpo": (step_grpo, ("torch", "trl", "peft", "bitsandbytes")),
}


def plan(args: argparse.Namespace) -> dict[str, Any]:
    """What would run and what each step lacks here (no GPU needed)."""
    cuda = False
    if have("torch"):
        import torch

        cuda = torch.cuda.is_available()
    steps = {}
    for name in args.only or list(STEPS):
        missing = [m for m in STEPS[name][1] if not have(m)]
        steps[name] = {"runs": cuda and not missing, "missing": missing + ([] if cuda else ["a CUDA GPU"])}
    if args.model:
        source: dict[str, Any] = {"model": args.model}
    elif args.chunks:
        source = {"chunks": str(args.chunks), "chunk_files": len(sorted(Path(args.chunks).glob("part*.bin")))}
    else:
        source = {"missing": "give --chunks DIR (made by --split) or --model DIR"}
    return {"cuda": cuda, "source": source, "steps": steps, "out": str(args.out)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="print the plan and its checks; measure nothing")
    ap.add_argument("--chunks", type=Path, help="folder of part*.bin chunks of the reference GGUF")
    ap.add_argument("--model", help="a transformers model folder (instead of --chunks)")
    ap.add_argument("--split", nargs=2, metavar=("GGUF", "DIR"), help="cut GGUF into chunks in DIR, then stop")
    ap.add_argument("--steps", type=int, default=10, help="optimizer steps of the SFT and GRPO steps")
    ap.add_argument("--only", nargs="*", choices=list(STEPS), help="some steps only")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / f"gpu-{date.today().isoformat()}", help="results folder")
    args = ap.parse_args(argv)
    if args.split:
        parts = split(Path(args.split[0]), Path(args.split[1]))
        print(f"{len(parts)} chunks of at most {CHUNK_MIB} MiB in {args.split[1]}")
        return 0
    p = plan(args)
    if args.dry_run:
        print(json.dumps({"dry_run": True, **p}, indent=2))
        return 0
    if not p["cuda"]:
        print("no CUDA GPU here: nothing to measure (see --dry-run)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    model = args.model or str(join(args.chunks, Path("/tmp/tinyreason-ref")))
    record: dict[str, Any] = {"plan": p, "model": model, "steps": {}}
    for name, info in p["steps"].items():
        if not info["runs"]:
            record["steps"][name] = {"skipped": f"needs {', '.join(info['missing'])}"}
            continue
        try:
            record["steps"][name] = STEPS[name][0](model, args.out, args.steps)
        except Exception as e:  # noqa: BLE001 — one step's failure is recorded; the others still run
            record["steps"][name] = {"failed": f"{type(e).__name__}: {e}"[:1000]}
        (args.out / "gpu.json").write_text(json.dumps(record, indent=2) + "\n")  # after every step: a killed run keeps what finished
    print(json.dumps(record["steps"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
