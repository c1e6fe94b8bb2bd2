"""Models are identified by content, not by path (issue #21): the OpenVINO export cache is keyed by the
SHA-256 of the model's files, hashed once per file (tinyreason.digests), and a run's backend identity holds
that content, not the folders it lay in. A run stored before the content key still matches a rerun where
it was made. The end-to-end check copies the tiny Qwen2 elsewhere with new mtimes (skipped without
openvino-genai)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tinyreason import digests
from tinyreason.backends import create_backend
from tinyreason.backends.base import backend_identity
from tinyreason.backends.ov_export import export_folder, source_key

# the backend of results/runs/greedy/config.json, as committed (before content keys)
STORED = {"backend": "openvino", "model": "/root/.cache/tinyreason-ref/qwen2.5-coder-0.5b-instruct-hf", "revision": None, "weight_format": "int8",
          "source_fingerprint": "32c673f6965d1977afaeb56a15891ddeb8fb63869f4e6ae91d78b829cfbbd6be",
          "openvino_model": "/root/.cache/tinyreason/openvino/qwen2.5-coder-0.5b-instruct-hf-int8-1a1f2f49740e",
          "engine": "openvino-genai 2026.4.1.0-3408-ab01d1771e4", "device": "CPU", "inference_precision": "auto", "kv_cache_precision": "auto",
          "auto": {"chosen": "openvino", "reason": "no CUDA GPU and openvino-genai is installed"}}


def _now(**changes: Any) -> dict[str, Any]:
    """What describe() records today for the same model, exported into a folder of another name."""
    d = {k: v for k, v in STORED.items() if k not in ("source_fingerprint", "auto")}
    return {**d, "source_sha256": "5ae5" * 16, "openvino_model": "/root/.cache/tinyreason/openvino/qwen-int8-0123456789ab", **changes}


def _model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    (path / "model.safetensors").write_bytes(os.urandom(4096))
    (path / "chat_template.jinja").write_text("{{ messages }}")
    (path / "README.md").write_text("not the model")
    return path


def _copy_with_new_mtimes(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, copy_function=shutil.copyfile)  # copyfile: new mtimes
    for f in dst.iterdir():
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    return dst


def test_a_file_is_hashed_once_and_again_when_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYREASON_CACHE", str(tmp_path / "cache"))
    hashed: list[Path] = []
    real = digests._hash
    monkeypatch.setattr(digests, "_hash", lambda p: hashed.append(p) or real(p))
    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 100)
    first = digests.file_sha256(f)
    assert digests.file_sha256(f) == first and len(hashed) == 1  # the second time from the sidecar
    assert (tmp_path / "cache" / digests.SIDECAR).is_file()
    f.write_bytes(b"b" * 100)  # same size, new mtime
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 1))
    assert digests.file_sha256(f) != first and len(hashed) == 2
    (tmp_path / "cache" / digests.SIDECAR).write_text("{broken")  # a cut-short sidecar costs a rehash, never an error
    assert digests.file_sha256(f) == digests.file_sha256(f) and len(hashed) == 3


def test_the_export_key_is_the_content_not_the_folder_or_mtimes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYREASON_CACHE", str(tmp_path / "cache"))
    a = _model_folder(tmp_path / "a" / "qwen")
    b = _copy_with_new_mtimes(a, tmp_path / "elsewhere" / "qwen-copy")
    assert source_key(str(a), None) == source_key(str(b), None) and str(a) not in str(source_key(str(a), None))
    digest = lambda model, adapter=None: export_folder(str(model), "int8", None, tmp_path / "ov", adapter and str(adapter)).name.split("-")[-1]  # noqa: E731
    assert digest(a) == digest(b)  # the folder's name differs, the digest that finds the export does not
    (b / "README.md").write_text("edited")  # not a model file
    assert source_key(str(a), None) == source_key(str(b), None)
    (b / "chat_template.jinja").write_text("{{ other }}")  # the template is the model's
    assert source_key(str(a), None) != source_key(str(b), None)
    assert source_key("Qwen/Qwen2.5-0.5B-Instruct", "abc") == {"source": "Qwen/Qwen2.5-0.5B-Instruct", "revision": "abc"}
    lora = tmp_path / "runs" / "grpo"
    lora.mkdir(parents=True)
    (lora / "adapter_config.json").write_text("{}")
    (lora / "adapter_model.safetensors").write_bytes(os.urandom(256))
    moved = _copy_with_new_mtimes(lora, tmp_path / "clone" / "lora")
    assert digest(a, lora) == digest(a, moved) != digest(a)  # an adapter by its weights, not its folder


def test_paths_beside_their_content_are_provenance() -> None:
    now = _now()
    moved = _now(model="/elsewhere/qwen", openvino_model="/other-cache/qwen-int8-0123456789ab", adapter="/b/grpo", adapter_sha256="7f87")
    assert backend_identity(now) == backend_identity(_now(model="/elsewhere/qwen", openvino_model="/x"))
    assert backend_identity(moved) == backend_identity({**moved, "adapter": "/a/grpo"})
    assert backend_identity(now) != backend_identity(_now(source_sha256="0" * 64))  # other weights: another run
    assert backend_identity(moved) != backend_identity({**moved, "adapter_sha256": "0"})
    assert "model" in backend_identity(_now(model="Qwen/Qwen2.5-0.5B", source_sha256=None))  # a Hub id is its name (and revision)


def test_a_run_stored_before_the_content_key_is_the_same_run_where_it_was_made() -> None:
    assert backend_identity(_now(), stored=STORED) == backend_identity(STORED)  # the mtime fingerprint and folders are provenance
    assert backend_identity(_now(engine="openvino-genai 2027.0"), stored=STORED) != backend_identity(STORED)
    assert backend_identity(_now(model="/elsewhere/qwen"), stored=STORED) != backend_identity(STORED)  # no content recorded: the path is all it has
    new = _now()
    assert backend_identity(_now(), stored=new) == backend_identity(new) and backend_identity(_now(source_sha256="0" * 64), stored=new) != backend_identity(new)


def _ov(model: Path, cache: Path) -> Any:
    return create_backend("openvino", model=str(model), weight_format="fp32", inference_precision="f32", kv_cache_precision="f32",
                          cache_dir=str(cache), num_threads=1, kv_cache_gb=1)


def test_a_copied_model_reuses_its_export_and_is_the_same_run(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("openvino_genai", reason="openvino backend: pip install 'tinyreason[openvino]'")
    cache = tmp_path / "ov-cache"
    first = _ov(tiny_model, cache)
    d1 = first.describe()
    del first
    copy = _copy_with_new_mtimes(tiny_model, tmp_path / "elsewhere" / "tiny-copy")
    capsys.readouterr()
    second = _ov(copy, cache)
    assert "exporting" not in capsys.readouterr().err and second.export_record["cached"]  # the export is reused
    d2 = second.describe()
    assert d1["source_sha256"] and d1["source_sha256"] == d2["source_sha256"]
    assert d1["model"] != d2["model"] and backend_identity(d1) == backend_identity(d2)
    assert [p.name for p in cache.iterdir() if p.is_dir()] == [Path(d1["openvino_model"]).name]
