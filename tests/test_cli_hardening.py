"""What a new user hits first: `--version`, bad flag values refused with their valid range before anything
loads, and errors about a model path, a data path or a device that say what is wrong and what to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tinyreason
from tinyreason.cli import app

runner = CliRunner()


def test_version_comes_from_the_package_metadata() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"tinyreason {metadata.version('tinyreason')}"
    out = subprocess.run([sys.executable, "-m", "tinyreason", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == res.output.strip()


def _eval(*args: object) -> object:
    """`tinyreason eval`; an exception escaping the CLI (a traceback for the user) fails the test."""
    return runner.invoke(app, ["eval", *map(str, args)], catch_exceptions=False)


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_a_model_path_that_does_not_exist_says_so(tmp_path: Path, gsm8k_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "models" / "qwen"
    res = _eval("--model", missing, "--data", gsm8k_file, "--out", tmp_path / "run")
    out = _flat(res.output)
    assert res.exit_code == 2 and f"no model folder or file at {missing}" in out and "Repo id" not in out
    assert "Hub id" in out and not (tmp_path / "run").exists()
    monkeypatch.chdir(tmp_path)  # ORG/NAME could be either: the Hub is asked (offline here), and the error says both
    res = _eval("--model", "models/qwen", "--backend", "hf", "--data", gsm8k_file, "--out", tmp_path / "run")
    assert res.exit_code == 2 and "--model PATH (there is no local folder 'models/qwen' either)" in _flat(res.output)


def test_an_empty_folder_or_an_adapter_as_model_says_what_to_pass(tmp_path: Path, gsm8k_file: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _eval("--model", empty, "--data", gsm8k_file, "--out", tmp_path / "run")
    out = _flat(res.output)
    assert res.exit_code == 2 and f"{empty} holds no model (no config.json)" in out and "sentencepiece" not in out
    adapter = tmp_path / "sft"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}')
    res = _eval("--model", adapter, "--data", gsm8k_file, "--out", tmp_path / "run")
    assert res.exit_code == 2 and f"--adapter {adapter} --model Qwen/Qwen2.5-0.5B-Instruct" in _flat(res.output)


def test_an_adapter_without_its_weights_is_refused_before_anything_loads(tmp_path: Path, gsm8k_file: Path) -> None:
    adapter = tmp_path / "runs" / "sft-1000"  # as a clean clone has it: adapter_config.json committed, the weights ignored
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "Qwen/Qwen2.5-0.5B-Instruct"}')
    for backend in ("hf", "openvino"):
        res = _eval("--model", tmp_path / "no-model-needed", "--backend", backend, "--adapter", adapter, "--data", gsm8k_file,
                    "--out", tmp_path / "run")
        out = _flat(res.output)
        assert res.exit_code == 2 and f"{adapter}: the adapter's weights are not here" in out and "Traceback" not in out, (backend, out)
    assert not (tmp_path / "run").exists()
    (adapter / "adapter_config.json").unlink()
    res = _eval("--model", tmp_path / "m", "--backend", "hf", "--adapter", adapter, "--data", gsm8k_file, "--out", tmp_path / "run")
    assert res.exit_code == 2 and "not a LoRA adapter folder (no adapter_config.json)" in _flat(res.output)


def test_a_directory_as_data_is_named(tmp_path: Path, gsm8k_file: Path) -> None:
    res = _eval("--model", tmp_path / "m", "--data", gsm8k_file.parent, "--out", tmp_path / "run")
    out = _flat(res.output)
    assert res.exit_code == 2 and f"{gsm8k_file.parent} is a directory" in out and str(gsm8k_file) in out


@pytest.mark.parametrize(
    ("backend", "device", "message"),
    [
        ("auto", "cuda", "--device cuda: this torch has no usable CUDA"),  # the default backend: auto picks a torch one for cuda
        ("hf", "cuda", "--device cuda: this torch has no usable CUDA"),
        ("hf", "cuda:0", "--device cuda:0: this torch has no usable CUDA"),
        ("hf", "mps", "--device mps: MPS (Apple GPU) is not available"),
        ("hf", "gpu", "unknown device 'gpu'"),
    ],
)
def test_a_device_this_machine_lacks_is_refused_with_the_fix(backend: str, device: str, message: str, tiny_model: Path, gsm8k_file: Path,
                                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a CPU-only machine, whatever this one is
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    res = _eval("--model", tiny_model, "--data", gsm8k_file, "--backend", backend, "--device", device, "--out", tmp_path / "run")
    out = _flat(res.output)
    assert res.exit_code == 2 and message in out and "Traceback" not in out
    assert "--device cpu" in out or "unknown" in message


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--limit", "-1"], "--limit -1: must be >= 1"),
        (["--limit", "0"], "--limit 0: must be >= 1"),
        (["--batch-size", "0"], "--batch-size 0: must be >= 1"),
        (["--batch-size", "-3"], "--batch-size -3: must be >= 1"),
        (["-b", "batch_size=0"], "-b batch_size=0: must be >= 1"),
        (["--max-new-tokens", "0"], "--max-new-tokens 0: must be >= 1"),
        (["--method", "sc", "--n", "0"], "--n 0: must be >= 1"),
        (["--method", "sc", "-o", "n=-2"], "-o n=-2: must be >= 1"),
        (["--method", "sc", "--temperature", "0"], "--temperature 0.0: must be > 0"),
        (["--method", "sc", "--top-p", "1.5"], "--top-p 1.5: must be > 0 and <= 1"),
        (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--concurrency", "0"], "--concurrency 0: must be >= 1"),
        (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--timeout", "0"], "--timeout 0.0: must be > 0"),
        (["--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--timeout", "-5"], "--timeout -5.0: must be > 0"),
    ],
)
def test_out_of_range_values_are_refused_with_their_range_before_anything_loads(flags: list[str], message: str, tmp_path: Path,
                                                                                gsm8k_file: Path) -> None:
    # the model does not exist: had the value got through, loading it would fail with another message
    res = _eval("--model", tmp_path / "no-model", "--data", gsm8k_file, "--out", tmp_path / "run", *flags)
    assert res.exit_code == 2 and message in _flat(res.output), res.output
    assert not (tmp_path / "run").exists()


FAIL_FAST_S = 25  # generous: importing torch and transformers is most of it; the retries alone took 25-50 s


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed: connection refused, like a blocked Hub


@pytest.mark.parametrize("needs", ["data", "model"])
def test_without_the_hub_the_default_command_fails_fast_with_the_fix_first(needs: str, tmp_path: Path, gsm8k_file: Path) -> None:
    offline = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    env = {k: v for k, v in os.environ.items() if k not in offline}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf-home"))  # never a non-local address
    env["PYTHONPATH"] = os.pathsep.join([str(Path(tinyreason.__file__).parents[1]), env.get("PYTHONPATH", "")])  # this tinyreason, from any cwd
    args = ["--data", str(gsm8k_file)] if needs == "model" else []  # the default command needs both: data is loaded first
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "tinyreason", "eval", "--limit", "1", *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - t0
    assert res.returncode == 2 and "Retrying" not in res.stdout + res.stderr, res.stdout + res.stderr
    assert res.stdout.startswith("error: no Hugging Face Hub: pass local files: --model PATH (a model folder or .gguf file) --data PATH")
    assert "model Qwen/Qwen2.5-0.5B-Instruct" in res.stdout and "tinyreason fetch-model reference" in res.stdout
    if needs == "data":  # GSM8K itself comes from the package without the Hub, saying so once
        assert "GSM8K test from tinyreason's packaged copy" in res.stderr
    assert seconds < FAIL_FAST_S
