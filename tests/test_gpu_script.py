"""benchmarks/gpu.py on the CPU: the dry run (plan and checks, nothing measured), the chunking that lets the
reference model travel in pieces under 48 MiB, and the join that refuses a wrong set of chunks."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu.py"


def _module():
    spec = importlib.util.spec_from_file_location("gpu_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_the_dry_run_plans_every_step_and_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "part01.bin").write_bytes(b"x")
    res = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--chunks", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["dry_run"] and set(plan["steps"]) == {"greedy", "sft", "grpo"} and plan["source"]["chunk_files"] == 1
    if not plan["cuda"]:
        assert all("a CUDA GPU" in s["missing"] and not s["runs"] for s in plan["steps"].values())
    no_gpu = subprocess.run([sys.executable, str(SCRIPT), "--chunks", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert plan["cuda"] or (no_gpu.returncode == 2 and "no CUDA GPU" in no_gpu.stderr)


def test_chunks_stay_under_48_mib_and_join_back_or_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyreason.reference_model as ref

    gpu = _module()
    monkeypatch.setattr(gpu, "CHUNK_MIB", 1)
    data = bytes(range(256)) * (3 * 4096 + 17)  # ~3 MiB
    src = tmp_path / "model.gguf"
    src.write_bytes(data)
    parts = gpu.split(src, tmp_path / "chunks")
    assert len(parts) == 4 and all(p.stat().st_size <= 1 << 20 for p in parts) and gpu.CHUNK_MIB < 48
    fake = ref.ModelSource("model.gguf", hashlib.sha256(data).hexdigest(), (), "hf")
    monkeypatch.setattr(ref, "REFERENCE", fake)
    monkeypatch.setattr(ref, "to_transformers", lambda gguf, folder: gguf)  # the conversion is tested with the real model only
    assert gpu.join(tmp_path / "chunks", tmp_path / "out").read_bytes() == data
    parts[1].unlink()
    with pytest.raises(ref.FetchError, match="do not join"):
        gpu.join(tmp_path / "chunks", tmp_path / "out2")
