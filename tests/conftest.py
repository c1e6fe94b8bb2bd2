"""Shared fixtures: the tiny random Qwen2 (built once per session) and a small GSM8K JSONL.

Every test sees the same wide console: Rich sizes tables to the terminal of whoever runs pytest (COLUMNS,
else the tty, else 80 columns) and cuts or wraps cells to fit, so output that tests assert on would depend
on the terminal and on the length of pytest's temp paths. A Console reads COLUMNS when it is created (the
CLI's at import), so it is set here, before any test module imports tinyreason; subprocesses inherit it.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
RUNNER_COLUMNS = shutil.get_terminal_size().columns  # pytest's own report keeps the runner's width
os.environ["COLUMNS"] = "1000"

from tiny import build_tiny_qwen2, write_gsm8k_jsonl  # noqa: E402

# A suite started as a background job of a non-interactive shell (`nohup pytest &`) inherits SIGINT ignored, and
# so would every child it spawns: the Ctrl-C tests would then see nothing happen. Ctrl-C means Ctrl-C here.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    config.get_terminal_writer().fullwidth = RUNNER_COLUMNS


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Exports (openvino) go to a session folder, never the user's ~/.cache/tinyreason."""
    os.environ["TINYREASON_CACHE"] = str(tmp_path_factory.mktemp("tinyreason-cache"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture()
def gsm8k_file(tmp_path: Path) -> Path:
    return write_gsm8k_jsonl(tmp_path / "gsm8k.jsonl")


@pytest.fixture(scope="session")
def tiny_model_wide_init(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Qwen2 with initializer_range 0.5: its logits can move far enough for LoRA to fit examples
    (at 0.02 the tied embeddings are so small that every logit stays near 0 whatever the adapter does)."""
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2-wide"), initializer_range=0.5)
