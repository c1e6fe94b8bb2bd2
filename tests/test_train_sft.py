"""SFT end to end on the tiny random Qwen2 (CPU, plain LoRA): the loss falls, the run records its checks,
the checks fail when they should, a run killed with SIGKILL resumes from its last checkpoint,
`eval --adapter` works with every method (and warns on a prompt mismatch), and `train merge` gives a
standalone model with the adapter's outputs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app
from tinyreason.methods import method_names
from tinyreason.methods.base import method_class

runner = CliRunner()
SFT_ARGS = ["--train-n", "8", "--epochs", "4", "--batch-size", "4", "--grad-accum", "1", "--lr", "1e-2",
            "--lr-scheduler", "constant", "--warmup", "0", "--dtype", "float32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny import write_gsm8k_jsonl

    return write_gsm8k_jsonl(tmp_path_factory.mktemp("data") / "train.jsonl")


@pytest.fixture(scope="module")
def sft_run(tiny_model_wide_init: Path, data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sft") / "run"
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), *SFT_ARGS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _eval(model: Path, data: Path, out: Path, *extra: str) -> object:
    args = ["eval", "--model", str(model), "--data", str(data), "--out", str(out), "--dtype", "float32",
            "--max-new-tokens", "16", "--limit", "4", *extra]
    return runner.invoke(app, args, catch_exceptions=False)


def _samples(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]


def test_sft_trains_the_loss_down_and_records_every_check(sft_run: Path) -> None:
    assert (sft_run / "adapter_config.json").is_file() and (sft_run / "adapter_model.safetensors").is_file()
    assert not list(sft_run.glob("checkpoint-*"))  # checkpoints go when the run ends: one adapter, in the run directory itself
    cfg = json.loads((sft_run / "train_config.json").read_text())
    assert cfg["mode"] == "lora" and "plain LoRA on cpu" in cfg["mode_note"]
    assert cfg["prompt"]["name"] == "cot" and "{question}" in cfg["prompt"]["user"]
    assert cfg["data"]["kind"] == "human" and len(cfg["data"]["ids"]) == 8 and cfg["versions"]["trl"]
    report = json.loads((sft_run / "train_report.json").read_text())
    assert report["ok"] and report["failed_checks"] == []
    parity, active, curve = (report["checks"][k] for k in ("prompt_parity", "adapter_active", "loss_curve"))
    assert parity["ok"] and parity["examples_checked"] == 8 and parity["mismatches"] == 0
    assert parity["eval_prompt"] == parity["train_prompt"] and parity["eval_prompt"].endswith("<|im_start|>assistant\n")
    assert active["ok"] and active["lora_B_matrices"] == 14 and active["lora_B_zero"] == 0 and active["logits_max_abs_diff"] > 0
    losses = [p["loss"] for p in json.loads((sft_run / "loss.json").read_text())]
    assert len(losses) == report["train"]["optimizer_steps"] == 8
    assert losses[-1] < 0.7 * losses[0] and curve["fell"]
    assert (sft_run / "loss.png").read_bytes()[:4] == b"\x89PNG"


def test_a_different_training_template_fails_the_run_before_training(
    tiny_model_wide_init: Path, data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tinyreason.prompts import PromptTemplate
    from tinyreason.train import sft
    from tinyreason.train.checks import CheckFailed
    from tinyreason.train.examples import to_records

    drifted = PromptTemplate(name="cot", user="Solve step by step.\n\nQuestion: {question}")  # same name, other words
    monkeypatch.setattr(sft, "to_records", lambda examples, tok, template: to_records(examples, tok, drifted))
    cfg = sft.SFTRunConfig(model=str(tiny_model_wide_init), data=str(data), train_n=4, max_steps=1, dtype="float32")
    with pytest.raises(CheckFailed, match="prompt_parity"):
        sft.train_sft(cfg, tmp_path / "bad")
    report = json.loads((tmp_path / "bad" / "train_report.json").read_text())
    assert not report["ok"] and report["failed_checks"] == ["prompt_parity"] and report["checks"]["prompt_parity"]["mismatches"] == 4
    diff = report["checks"]["prompt_parity"]["text_first_difference"]  # both start "Solve "; they part after it
    assert diff["train"].startswith("step by step.\n") and diff["eval"].startswith("the following math problem")
    assert "train" not in report and not (tmp_path / "bad" / "adapter_model.safetensors").exists()


def test_an_untrained_adapter_is_reported_inactive_and_a_trained_one_active(tiny_model_wide_init: Path, sft_run: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from tinyreason.train.checks import adapter_active

    probe = list(range(5, 40))
    fresh = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_model_wide_init), LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    r = adapter_active(fresh, probe)
    assert not r["ok"] and r["lora_B_zero"] == r["lora_B_matrices"] == 4 and r["logits_max_abs_diff"] == 0
    trained = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_wide_init), sft_run)
    assert adapter_active(trained, probe)["ok"]


@pytest.mark.parametrize("method", method_names())
def test_eval_with_the_adapter_works_for_every_method(method: str, tiny_model_wide_init: Path, sft_run: Path, data: Path, tmp_path: Path) -> None:
    extra = ["--n", "2", "--temperature", "1.0"] if "n" in method_class(method).Config.model_fields else []
    extra += ["--force"] if method == "sc-verifier" else []  # no verifier audit exists for the tiny model
    res = _eval(tiny_model_wide_init, data, tmp_path / "ft", "--method", method, "--adapter", str(sft_run), *extra)
    assert res.exit_code == 0, res.output
    # structured-sc, pal and pal-sc ask with their own prompt, not the `cot` prompt the adapter was trained on: they must say so
    assert ("WARNING" in res.output) == (method_class(method).Config.model_fields["prompt"].default != "cot")
    cfg = json.loads((tmp_path / "ft" / "config.json").read_text())
    assert cfg["backend"]["adapter"] == str(sft_run.resolve()) and len(_samples(tmp_path / "ft")) == 4
    if method == "greedy":  # the adapter is applied: the fine-tune does not answer like the base model
        assert _eval(tiny_model_wide_init, data, tmp_path / "base").exit_code == 0
        texts = lambda run: {s["id"]: s["generations"][0]["text"] for s in _samples(run)}  # noqa: E731
        assert texts(tmp_path / "ft") != texts(tmp_path / "base")


def test_eval_warns_loudly_when_the_adapter_learned_another_prompt(tiny_model_wide_init: Path, sft_run: Path, data: Path, tmp_path: Path) -> None:
    other = tmp_path / "adapter"
    shutil.copytree(sft_run, other)
    cfg = json.loads((other / "train_config.json").read_text())
    cfg["prompt"]["user"] = "Answer briefly.\n\nQuestion: {question}"
    (other / "train_config.json").write_text(json.dumps(cfg))
    res = _eval(tiny_model_wide_init, data, tmp_path / "e", "--adapter", str(other), "--limit", "1")
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "WARNING" in flat and "differs in: user" in flat


def test_merge_writes_a_standalone_model_with_the_adapters_outputs(tiny_model_wide_init: Path, sft_run: Path, data: Path, tmp_path: Path) -> None:
    merged = tmp_path / "merged"
    res = runner.invoke(app, ["train", "merge", "--adapter", str(sft_run), "--out", str(merged)])
    assert res.exit_code == 0, res.output
    assert (merged / "config.json").is_file() and (merged / "tokenizer_config.json").is_file()
    assert not (merged / "adapter_config.json").exists()
    info = json.loads((merged / "merge_info.json").read_text())
    assert info["base_model"] == str(tiny_model_wide_init) and info["training_prompt"]["name"] == "cot"
    assert _eval(merged, data, tmp_path / "m").exit_code == 0
    assert _eval(tiny_model_wide_init, data, tmp_path / "a", "--adapter", str(sft_run)).exit_code == 0
    texts = lambda run: {s["id"]: s["generations"][0]["text"] for s in _samples(run)}  # noqa: E731
    assert texts(tmp_path / "m") == texts(tmp_path / "a")
    res = runner.invoke(app, ["train", "merge", "--adapter", str(sft_run), "--out", str(merged)])
    assert res.exit_code == 2 and "not empty" in res.output


def test_eval_refuses_to_resume_with_a_retrained_adapter(tiny_model_wide_init: Path, sft_run: Path, data: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    shutil.copytree(sft_run, adapter)
    assert _eval(tiny_model_wide_init, data, tmp_path / "e", "--adapter", str(adapter), "--limit", "2").exit_code == 0
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), *SFT_ARGS, "--max-steps", "1",
                              "--out", str(adapter), "--force"])
    assert res.exit_code == 0, res.output
    res = _eval(tiny_model_wide_init, data, tmp_path / "e", "--adapter", str(adapter), "--limit", "2")
    assert res.exit_code == 2 and "adapter_sha256" in " ".join(res.output.split())


def test_sft_refuses_to_overwrite_a_run_and_rejects_bad_flags(tiny_model_wide_init: Path, sft_run: Path, data: Path) -> None:
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), *SFT_ARGS, "--out", str(sft_run)])
    assert res.exit_code == 2 and "already holds a training run" in " ".join(res.output.split())
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--quantization", "8bit"])
    assert res.exit_code == 2 and "quantization" in res.output
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), "--quantization", "4bit", "--device", "cpu"])
    assert res.exit_code == 2 and "CUDA" in res.output


def test_kill_9_mid_run_then_the_same_command_resumes_from_the_last_checkpoint(tiny_model_wide_init: Path, data: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), "--train-n", "4", "--epochs", "8",
            "--batch-size", "1", "--grad-accum", "1", "--lr", "1e-3", "--dtype", "float32", "--save-every", "2", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "tinyreason", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not (out / "checkpoint-4" / "trainer_state.json").is_file():
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file())
    assert saved and saved[-1] >= 4 and not (out / "train_report.json").exists()
    before = json.loads((out / f"checkpoint-{saved[-1]}" / "tinyreason_clock.json").read_text())
    assert before["sittings"] == 1 and before["wall_s"] > 0  # the first sitting's time, kept with its checkpoint

    res = runner.invoke(app, [*args, "--lr", "2e-3"])  # not the same run: refused, nothing touched
    assert res.exit_code == 2 and "differs in: learning_rate" in " ".join(res.output.split())
    res = runner.invoke(app, args)  # the same command
    assert res.exit_code == 0, res.output
    report = json.loads((out / "train_report.json").read_text())
    total = 4 * 8
    assert report["ok"] and report["train"]["resumed_from_step"] == saved[-1] and report["train"]["optimizer_steps"] == total
    assert report["train"]["steps_this_session"] == total - saved[-1]
    assert report["train"]["sittings"] == 2  # the whole run's time: the first sitting's (to its checkpoint) plus this one's
    assert abs(report["train"]["wall_s_all_sittings"] - (before["wall_s"] + report["train"]["wall_s"])) < 1
    assert "over 2 sittings" in " ".join(res.output.split())
    assert f"resuming from {out / f'checkpoint-{saved[-1]}'}" in " ".join(res.output.split())
    assert [p["step"] for p in json.loads((out / "loss.json").read_text())] == list(range(1, total + 1))  # every step once
    assert json.loads((out / "train_config.json").read_text())["resumed"][0]["from"] == f"checkpoint-{saved[-1]}"
    assert not list(out.glob("checkpoint-*"))  # the run is over: its checkpoints are gone


@pytest.mark.gpu
def test_qlora_on_cuda_records_peak_memory(tiny_model_wide_init: Path, data: Path, tmp_path: Path) -> None:
    """pytest -m gpu on a CUDA machine with the `cuda` extra: the default recipe is QLoRA and reports memory."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("bitsandbytes")
    out = tmp_path / "qlora"
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), *SFT_ARGS, "--out", str(out)])
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "train_config.json").read_text())
    report = json.loads((out / "train_report.json").read_text())
    assert cfg["mode"] == "qlora" and report["ok"]
    assert 0 < report["peak_gpu_memory_gib"] < 4


def test_qlora_is_refused_off_cuda_with_the_fix(tiny_model_wide_init: Path, data: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "sft", "--model", str(tiny_model_wide_init), "--data", str(data), *SFT_ARGS,
                              "--quantization", "4bit", "--device", "cpu", "--out", str(tmp_path / "q")])
    assert res.exit_code != 0 and "--quantization none" in " ".join(res.output.split())


def test_only_the_main_process_writes_when_a_run_starts_or_resumes(tmp_path: Path) -> None:
    """Under `accelerate launch` every rank calls prepare_out; only rank 0 may rewrite the config or remove files."""
    from tinyreason.train.sft import SFTRunConfig, prepare_out

    config = {"kind": "sft", "config": SFTRunConfig(train_n=4).model_dump(mode="json"), "data": {"ids": [1, 2]}, "created": "now"}
    (tmp_path / "train_config.json").write_text(json.dumps(config))
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text(json.dumps({"global_step": 2}))
    (tmp_path / "checkpoint-4").mkdir()  # torn: cut off before its trainer_state.json
    before = (tmp_path / "train_config.json").read_text()
    assert prepare_out(tmp_path, dict(config), False, main=False) == str(tmp_path / "checkpoint-2")
    assert (tmp_path / "checkpoint-4").is_dir() and (tmp_path / "train_config.json").read_text() == before
    assert prepare_out(tmp_path, dict(config), False, main=True) == str(tmp_path / "checkpoint-2")
    assert not (tmp_path / "checkpoint-4").exists()
    assert json.loads((tmp_path / "train_config.json").read_text())["resumed"] == [{"from": "checkpoint-2", "created": "now"}]
