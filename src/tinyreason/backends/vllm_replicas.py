"""Data parallelism for the vllm backend: one vLLM engine per group of GPUs, each in its own process.

    pool = ReplicaPool(engine_args, replicas=4, gpus_per_replica=2)     # 8 GPUs: 4 engines with TP 2 each
    pool.run([{"prompt_token_ids": ids}, ...], [sampling_kwargs, ...], lora=None)  -> [[(index, token_ids, finish_reason)]]
    pool.close()

This is the pattern of vLLM's own offline data-parallel example (a process per replica, the prompts split
between them): replica r sees only its GPUs (CUDA_VISIBLE_DEVICES, set before vLLM or torch is imported in
that process), builds its own `vllm.LLM`, and generates for a contiguous shard of the prompts; the results
come back in prompt order. Processes are spawned (never forked: CUDA cannot be forked), so nothing
initialises CUDA in the parent.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

Output = tuple[int, list[int], "str | None"]  # (sample index, generated token ids, vLLM finish_reason)


def replica_gpus(visible: str | None, replicas: int, per_replica: int) -> list[str]:
    """CUDA_VISIBLE_DEVICES of each replica, carved in order out of the parent's visible GPUs."""
    ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else [str(i) for i in range(replicas * per_replica)]
    if len(ids) < replicas * per_replica:
        raise ValueError(f"{replicas} replicas x {per_replica} GPUs need {replicas * per_replica} GPUs; CUDA_VISIBLE_DEVICES has {len(ids)}")
    return [",".join(ids[r * per_replica : (r + 1) * per_replica]) for r in range(replicas)]


def shards(n: int, parts: int) -> list[range]:
    """Contiguous, nearly equal ranges covering 0..n-1 (some empty when n < parts)."""
    step, extra = divmod(n, parts)
    bounds = [0]
    for p in range(parts):
        bounds.append(bounds[-1] + step + (p < extra))
    return [range(bounds[p], bounds[p + 1]) for p in range(parts)]


def _replica_main(conn: Any, engine_args: dict[str, Any], gpus: str) -> None:
    os.environ["CUDA_VISIBLE_DEVICES"] = gpus  # before vllm (and torch) are imported in this process
    try:
        import vllm

        llm = vllm.LLM(**engine_args)
    except Exception as e:  # noqa: BLE001 -- reported to the parent, which raises it with its replica number
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    while (msg := conn.recv()) is not None:
        inputs, sampling, lora = msg
        lora_request = None
        if lora is not None:
            from vllm.lora.request import LoRARequest

            lora_request = LoRARequest(*lora)
        try:
            outs = llm.generate(inputs, [vllm.SamplingParams(**kw) for kw in sampling], lora_request=lora_request, use_tqdm=False)
        except Exception as e:  # noqa: BLE001 -- sent to the parent, which raises it
            conn.send(("error", f"{type(e).__name__}: {e}"))
            continue
        conn.send(("ok", [[(o.index, list(o.token_ids), o.finish_reason) for o in out.outputs] for out in outs]))


class ReplicaPool:
    def __init__(self, engine_args: dict[str, Any], replicas: int, gpus_per_replica: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        for gpus in replica_gpus(os.environ.get("CUDA_VISIBLE_DEVICES"), replicas, gpus_per_replica):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_replica_main, args=(child, engine_args, gpus), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for r, conn in enumerate(self.conns):
            status, detail = conn.recv()
            if status != "ready":
                self.close()
                raise RuntimeError(f"vllm replica {r} failed to start: {detail}")

    def run(self, inputs: list[dict[str, Any]], sampling: list[dict[str, Any]], lora: tuple[str, int, str] | None) -> list[list[Output]]:
        parts = shards(len(inputs), len(self.conns))
        for conn, part in zip(self.conns, parts, strict=True):
            conn.send(([inputs[i] for i in part], [sampling[i] for i in part], lora))
        results: list[list[Output]] = []
        for r, conn in enumerate(self.conns):
            status, payload = conn.recv()
            if status != "ok":
                raise RuntimeError(f"vllm replica {r}: {payload}")
            results += payload
        return results

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass  # that replica is already gone
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
        self.conns, self.procs = [], []
