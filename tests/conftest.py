"""Shared fixtures: the tiny random Qwen2 (built once per session) and a small GSM8K JSONL."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny import build_tiny_qwen2, write_gsm8k_jsonl  # noqa: E402


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture()
def gsm8k_file(tmp_path: Path) -> Path:
    return write_gsm8k_jsonl(tmp_path / "gsm8k.jsonl")
