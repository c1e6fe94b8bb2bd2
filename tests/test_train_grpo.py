"""GRPO end to end on the tiny random Qwen2 (CPU, plain LoRA): a toy task is learned (mean reward rises), the
dev slice and reflection counts are logged and plotted, the adapter evaluates with `eval --adapter`, a run
killed with SIGKILL resumes from its last checkpoint, and a prompt that differs from eval's stops the run.

The toy task: every prompt is one GSM8K-style question whose answer is 3, told of twelve different people
(a training question repeating a dev question's text would be dropped). The random model writes a lone "3"
in ~4% of its 8-token completions, so groups of 8 often disagree, and a high learning rate makes the
rewarded token common within a dozen steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app

runner = CliRunner()
QUESTION = "A pizza has 8 slices. {name} eats 3 and Ana eats 2. How many are left?"
NAMES = ["Ben", "Tom", "Sam", "Max", "Leo", "Eva", "Mia", "Zoe", "Ian", "Kim", "Ray", "Liz"]
TOY_RECIPE = """\
dev_n: 2                  # two held-out variants of the question
num_generations: 8
generation_batch_size: 32 # 4 prompts x 8 completions per step
batch_size: 32
max_completion_length: 8
temperature: 1.0
learning_rate: 2.0e-2     # high: the toy must be learned in a dozen steps
lr_scheduler: constant
format_weight: 0.0
lora_r: 8
lora_alpha: 16
lora_dropout: 0.0
gradient_checkpointing: false
dtype: float32
eval_every: 5
dev_max_new_tokens: 8
watch_questions: 1
watch_samples: 2
save_every: 2
reflection_phrases: [les, man]   # fragments the tiny tokenizer writes often, so the counter has something to count
"""


def _rows(run: Path, kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["kind"] == kind]


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("toy")
    rows = [json.dumps({"question": QUESTION.format(name=n), "answer": "8 - 3 - 2 = 3\n#### 3"}) + "\n" for n in NAMES]
    (d / "train.jsonl").write_text("".join(rows))
    (d / "toy.yaml").write_text(TOY_RECIPE)
    return d / "train.jsonl", d / "toy.yaml"


def _args(model: Path, toy: tuple[Path, Path], out: Path, steps: int) -> list[str]:
    return ["train", "grpo", "--model", str(model), "--recipe", str(toy[1]), "--data", str(toy[0]), "--max-steps", str(steps), "--out", str(out)]


@pytest.fixture(scope="module")
def grpo_run(tiny_model_wide_init: Path, toy: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("grpo") / "run"
    res = runner.invoke(app, _args(tiny_model_wide_init, toy, out, 14))
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.split())
    assert "s of them dev evals" in flat and "s/step without dev evals" in flat
    return out


def test_the_toy_task_is_learned_mean_reward_rises(grpo_run: Path) -> None:
    rewards = [r["reward"] for r in _rows(grpo_run, "train")]
    assert len(rewards) == 14
    first, last = sum(rewards[:3]) / 3, sum(rewards[-4:]) / 4
    assert first < 0.35 and last > first + 0.4, rewards
    report = json.loads((grpo_run / "train_report.json").read_text())
    assert report["ok"] and report["train"]["optimizer_steps"] == 14 and report["train"]["prompts_per_step"] == 4
    assert report["train"]["trainer_throughput"]["train_steps_per_second"] > 0
    assert report["checks"]["adapter_active"]["ok"] and report["checks"]["dev_disjoint"]["ok"]
    assert report["checks"]["dev_disjoint"]["dev_duplicates_dropped"] == 0
    t = report["train"]  # throughput without the dev evaluations, which run inside trainer.train
    assert t["dev_eval_s"] > 0 and 0 < t["s_per_step_excluding_dev_eval"] < t["wall_s"] / 14
    parity = report["checks"]["prompt_parity"]
    assert parity["ok"] and parity["examples_checked"] == 10 and parity["train_prompt"].endswith("<|im_start|>assistant\n")


def test_dev_accuracy_reward_diagnostics_and_reflections_are_logged_and_plotted(grpo_run: Path) -> None:
    dev = _rows(grpo_run, "dev")
    assert [r["step"] for r in dev] == [0, 5, 10, 14]  # the base model, every eval_every steps, the end
    assert all({"accuracy", "accuracy_strict", "no_answer", "mean_tokens", "reflection_rate"} <= set(r) for r in dev)
    assert dev[0]["accuracy"] == 0.0 and dev[-1]["accuracy"] == 1.0  # the greedy answer moved to the rewarded one
    train = _rows(grpo_run, "train")
    for key in ("reward_std", "frac_reward_zero_std", "completion_mean_length", "clipped_ratio", "reflection_rate"):
        assert all(r[key] is not None for r in train), key
    assert all(r["kl"] is None for r in train)  # beta 0: no reference pass, nothing to log
    assert any(r["reflection_rate"] > 0 for r in train)  # TRL's per-step mean of the zero-weight probe
    from tinyreason.train.rewards import reflection_count

    for r in dev:  # the dev rate is the phrase count over that step's stored greedy completions
        texts = [s["generations"][0]["text"] for s in map(json.loads, (grpo_run / "dev" / f"step-{r['step']:06d}" / "samples.jsonl").open())]
        assert r["reflection_rate"] == sum(reflection_count(texts, phrases=["les", "man"])) / len(texts)
    assert (grpo_run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    cfg = json.loads((grpo_run / "dev" / "step-000005" / "config.json").read_text())
    assert cfg["backend"]["in_memory"]["step"] == 5 and cfg["method"]["name"] == "greedy"
    assert set(cfg["subset"]["ids"]).isdisjoint(json.loads((grpo_run / "train_config.json").read_text())["data"]["train_ids"])


def test_grpo_show_renders_the_watched_completions_step_by_step(grpo_run: Path) -> None:
    res = runner.invoke(app, ["train", "grpo-show", str(grpo_run), "--max-chars", "40"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "A pizza has 8 slices." in out and "gold 3" in out
    assert all(f"step {s}:" in out for s in (0, 5, 10, 14)) and "greedy · answer" in out and "sample 2" in out
    res = runner.invoke(app, ["train", "grpo-show", str(grpo_run / "dev")])
    assert res.exit_code == 2 and "no watch/step-*" in " ".join(res.output.split())


def test_the_adapter_evaluates_like_an_sft_adapter(tiny_model_wide_init: Path, grpo_run: Path, toy: tuple[Path, Path], tmp_path: Path) -> None:
    assert (grpo_run / "adapter_config.json").is_file() and (grpo_run / "adapter_model.safetensors").is_file()
    cfg = json.loads((grpo_run / "train_config.json").read_text())
    assert cfg["kind"] == "grpo" and cfg["prompt"]["name"] == "cot" and cfg["recipe"]["sha256"] and cfg["flags"]["max_steps"] == "--max-steps"
    res = runner.invoke(app, ["eval", "--model", str(tiny_model_wide_init), "--adapter", str(grpo_run), "--data", str(toy[0]),
                              "--limit", "3", "--max-new-tokens", "8", "--dtype", "float32", "--out", str(tmp_path / "e")])
    assert res.exit_code == 0, res.output
    assert "WARNING" not in res.output  # trained on the eval prompt: train_config.json says so
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["accuracy"] == 1.0


def test_a_rerun_with_another_config_is_refused_not_mixed(tiny_model_wide_init: Path, grpo_run: Path, toy: tuple[Path, Path]) -> None:
    before = (grpo_run / "metrics.jsonl").read_text()
    res = runner.invoke(app, [*_args(tiny_model_wide_init, toy, grpo_run, 14), "--lr", "0.5"])
    assert res.exit_code == 2 and "differs in: learning_rate" in " ".join(res.output.split())
    assert (grpo_run / "metrics.jsonl").read_text() == before


def test_kill_9_mid_run_then_the_same_command_continues_the_step_count(tiny_model_wide_init: Path, toy: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = _args(tiny_model_wide_init, toy, out, 8)
    proc = subprocess.Popen([sys.executable, "-m", "tinyreason", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / "metrics.jsonl").is_file() and any(r["step"] >= 3 for r in _rows(out, "train")):
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if (p / "trainer_state.json").is_file())
    assert saved and not (out / "train_report.json").exists()

    res = runner.invoke(app, args)  # the same command
    assert res.exit_code == 0, res.output
    report = json.loads((out / "train_report.json").read_text())
    resumed = report["train"]["resumed_from_step"]
    assert resumed == saved[-1] and report["train"]["optimizer_steps"] == 8 and report["train"]["steps_this_session"] == 8 - resumed
    assert report["train"]["sittings"] == 2 and report["train"]["wall_s_all_sittings"] > report["train"]["wall_s"]
    assert f"resuming from {out / f'checkpoint-{resumed}'}" in " ".join(res.output.split())
    assert [r["step"] for r in _rows(out, "train")] == list(range(1, 9))  # every step once: none lost, none twice
    assert json.loads((out / "train_config.json").read_text())["resumed"][0]["from"] == f"checkpoint-{resumed}"
    assert json.loads((out / "checkpoint-8" / "trainer_state.json").read_text())["global_step"] == 8


def test_a_training_prompt_unlike_evals_fails_before_training(tiny_model_wide_init: Path, toy: tuple[Path, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.prompts import PromptTemplate
    from tinyreason.train import grpo
    from tinyreason.train.checks import CheckFailed
    from tinyreason.train.grpo_config import load_grpo_config

    drifted = PromptTemplate(name="cot", user="Solve step by step.\n\nQuestion: {question}")  # same name, other words
    real = grpo.prompt_records
    monkeypatch.setattr(grpo, "prompt_records", lambda train, tok, template: real(train, tok, drifted))
    cfg, src = load_grpo_config(toy[1], {"model": str(tiny_model_wide_init), "data": str(toy[0]), "max_steps": 2})
    with pytest.raises(CheckFailed, match="prompt_parity"):
        grpo.train_grpo(cfg, tmp_path / "bad", source=src)
    report = json.loads((tmp_path / "bad" / "train_report.json").read_text())
    assert report["failed_checks"] == ["prompt_parity"] and report["checks"]["prompt_parity"]["mismatches"] == 10
    assert "train" not in report and not (tmp_path / "bad" / "metrics.jsonl").exists()


def test_stop_guessing_ends_a_run_whose_dev_answers_turned_into_bare_guesses_and_best_dev_keeps_the_best_step(
        tiny_model_wide_init: Path, toy: tuple[Path, Path], tmp_path: Path) -> None:
    """The toy's rewarded answer is a lone "3" in 8 tokens: a bare guess by the taxonomy's rule, so once the policy
    has learned it the guard fires; the run keeps the adapter of its best dev evaluation (ties: the earlier step)."""
    from safetensors.torch import load_file

    out = tmp_path / "run"
    res = runner.invoke(app, [*_args(tiny_model_wide_init, toy, out, 14), "--eval-every", "2", "--keep", "best_dev", "--stop-guessing", "1.0"])
    assert res.exit_code == 0, res.output
    report, dev = json.loads((out / "train_report.json").read_text()), _rows(out, "dev")
    assert all(isinstance(r["guesses"], int) and 0 <= r["guesses"] <= r["total"] for r in dev)
    fired = [r["step"] for r in dev if r["step"] > 0 and r["guesses"] == r["total"]]
    assert fired, dev  # the learned "3" is a guess
    stop = report["stopped"]
    assert stop["step"] == fired[0] and (stop["guesses"], stop["total"], stop["stop_guessing"]) == (2, 2, 1.0)
    assert max(r["step"] for r in _rows(out, "train")) == fired[0] < 14  # no step after the guard
    assert "training stops here" in " ".join(res.output.split()) and any("bare guesses" in w for w in report["warnings"])
    trained = {r["step"]: r["accuracy"] for r in dev if r["step"] > 0}
    best = min(trained, key=lambda s: (-trained[s], s))
    kept = report["kept"]
    assert (kept["rule"], kept["step"], kept["last_step"], kept["dev_accuracy"]) == ("best_dev", best, fired[0], trained[best])
    assert kept["base_dev_accuracy"] == dev[0]["accuracy"] and kept["beats_base"] == (trained[best] > dev[0]["accuracy"])
    saved = sorted(int(p.name.split("-")[1]) for p in (out / "adapters").glob("step-*"))
    assert saved == sorted(trained)  # every evaluated step's adapter, none for the base
    root, chosen = load_file(out / "adapter_model.safetensors"), load_file(out / "adapters" / f"step-{best:06d}" / "adapter_model.safetensors")
    assert root.keys() == chosen.keys() and all(bool((root[k] == chosen[k]).all()) for k in root)
    if best != fired[0]:  # the kept adapter is not simply the last one
        last = load_file(out / "adapters" / f"step-{fired[0]:06d}" / "adapter_model.safetensors")
        assert any(not bool((root[k] == last[k]).all()) for k in root)


@pytest.mark.gpu
def test_the_4gb_recipe_peaks_under_4_gib_on_the_reference_model(tmp_path: Path) -> None:
    """TINYREASON_REAL_MODEL=<Qwen2.5-0.5B folder> TINYREASON_GSM8K_TRAIN=<train.jsonl> pytest -m gpu:
    two steps of recipes/grpo-4gb.yaml as shipped (QLoRA, 8 x 320-token completions), peak memory recorded."""
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    pytest.importorskip("bitsandbytes")
    model, data = os.environ.get("TINYREASON_REAL_MODEL"), os.environ.get("TINYREASON_GSM8K_TRAIN")
    if not model or not data:
        pytest.skip("set TINYREASON_REAL_MODEL and TINYREASON_GSM8K_TRAIN")
    recipe = Path(__file__).parent.parent / "recipes" / "grpo-4gb.yaml"
    res = runner.invoke(app, ["train", "grpo", "--model", model, "--recipe", str(recipe), "--data", data, "--max-steps", "2",
                              "--dev-n", "8", "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "g" / "train_report.json").read_text())
    assert report["mode"] == "qlora" and 0 < report["peak_gpu_memory_gib"] < 4, report.get("peak_gpu_memory_gib")
