"""GRPO pieces without training: rewards through the grader, the YAML recipe loader, recipe validation before
any model loads, the metrics/zero-variance watch, and the shipped 4 GB recipe itself."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tinyreason.cli import app
from tinyreason.config_io import ConfigFileError, load_yaml_model
from tinyreason.train import rewards
from tinyreason.train.grpo_config import GRPORunConfig, check_recipe, load_grpo_config

RECIPE = Path(__file__).parent.parent / "recipes" / "grpo-4gb.yaml"
runner = CliRunner()


# --- rewards: every verdict comes from answers.py --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "gold", "mode", "reward"),
    [
        ("3 + 4 = 7\n#### 7", "7", "flexible", 1.0),
        ("3 + 4 = 7\n#### 7", "7", "strict", 1.0),
        ("She has 7 apples.", "7", "flexible", 1.0),  # no cue: the last number
        ("She has 7 apples.", "7", "strict", 0.0),  # strict reads only `#### N`
        ("The answer is $1,200.00 in total", "1200", "flexible", 1.0),  # normalized by the grader
        ("#### 7\nWait, 3 + 5 = 8. The answer is 8.", "7", "flexible", 0.0),  # the last cue wins
        ("no number at all", "7", "flexible", 0.0),
        ("5-year-old", "-5", "flexible", 0.0),  # a hyphen is not a minus sign
    ],
)
def test_correctness_is_the_graders_verdict(text: str, gold: str, mode: str, reward: float) -> None:
    from tinyreason.answers import answers_match, extract_answer

    assert rewards.correctness([text], gold=[gold], mode=mode) == [reward]
    assert reward == float(answers_match(extract_answer(text, mode), gold))


def test_format_reward_pays_for_a_strict_answer_line_right_or_wrong() -> None:
    assert rewards.answer_format(["... #### 12", "#### 99", "the answer is 12", "####", "#### twelve"]) == [1.0, 1.0, 0.0, 0.0, 0.0]


def test_format_reward_gated_on_correctness_leaves_no_shortcut() -> None:
    texts = ["#### 5", "so 12 in all\n#### 12", "so 12 in all", "#### 12"]
    gold = ["12"] * 4
    assert rewards.answer_format(texts, gold=gold, when="correct") == [0.0, 1.0, 0.0, 1.0]  # a bare wrong `#### N` earns nothing
    assert rewards.answer_format(texts, gold=gold) == [1.0, 1.0, 0.0, 1.0]  # "always": the collapse the CPU run showed
    with pytest.raises(ValueError, match="needs the gold"):
        rewards.answer_format(texts, when="correct")
    funcs, _ = rewards.reward_funcs(GRPORunConfig(format_when="correct"))
    assert funcs[1](texts, gold=gold, completion_ids=[[1]] * 4, id=[0, 1, 2, 3]) == [0.0, 1.0, 0.0, 1.0]


def test_length_penalty_is_free_up_to_the_target_then_linear_to_minus_one() -> None:
    ids = [[1] * n for n in (10, 256, 288, 320, 400)]
    assert rewards.length_penalty(["x"] * 5, completion_ids=ids, target=256, limit=320) == [0.0, 0.0, -0.5, -1.0, -1.0]


def test_reflection_phrases_are_whole_words_case_insensitive_and_counted() -> None:
    phrases = ["wait", "let's reconsider", "let me re-check"]
    texts = ["Wait, that is off. Let me re-check: wait.", "The waiter waited.", "Let\u2019s reconsider the sum.", ""]
    assert rewards.reflection_count(texts, phrases=phrases) == [3.0, 0.0, 1.0, 0.0]
    assert rewards.reflection_count(["wait"], phrases=[]) == [0.0]


def test_reward_funcs_follow_the_recipe_weights_and_name_what_trl_logs() -> None:
    cfg = GRPORunConfig(correctness_mode="strict", format_weight=0.2, length_weight=0.5, length_target=10, max_completion_length=20)
    funcs, weights = rewards.reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness", "format", "length", "reflection"]
    assert weights == [1.0, 0.2, 0.5, 0.0]  # the reflection probe is watched, never rewarded
    kw = {"gold": ["7", "7"], "completion_ids": [[1] * 5, [1] * 15], "id": [0, 1]}
    texts = ["so 7", "Wait.\n#### 7"]
    assert [f(texts, **kw) for f in funcs] == [[0.0, 1.0], [0.0, 1.0], [0.0, -0.5], [0.0, 1.0]]  # strict: "so 7" is no answer
    funcs, weights = rewards.reward_funcs(GRPORunConfig(format_weight=0.0))
    assert [f.__name__ for f in funcs] == ["correctness", "reflection"] and weights == [1.0, 0.0]


# --- recipe loading: YAML + flags into one pydantic model -----------------------------------------------------
def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


def test_unknown_yaml_key_names_the_file_the_line_and_the_key(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "max_steps: 3\n# a comment\nlerning_rate: 0.1\n")
    with pytest.raises(ConfigFileError) as e:
        load_grpo_config(path, {})
    assert f"{path}:3: lerning_rate: unknown key" in str(e.value) and "learning_rate" in str(e.value)


def test_nested_unknown_key_duplicates_syntax_and_bad_values_name_their_line(tmp_path: Path) -> None:
    from pydantic import BaseModel, ConfigDict

    class Inner(BaseModel):
        model_config = ConfigDict(extra="forbid")
        rate: float = 1.0

    class Outer(BaseModel):
        model_config = ConfigDict(extra="forbid")
        inner: Inner = Inner()
        steps: int = 1

    cases = {"inner:\n  rate: 2\n  rat: 3\n": ":3: inner.rat: unknown key (valid: rate)",
             "steps: 1\nsteps: 2\n": f":2: duplicate key 'steps' (first at {tmp_path / 'r.yaml'}:1)",
             "steps: [1,\n": ":2: not valid YAML",
             "inner:\n  rate: fast\n": ":2: inner.rate: Input should be a valid number",
             "- steps\n": ":1: expected a mapping of key: value at the top"}
    for text, expected in cases.items():
        with pytest.raises(ConfigFileError, match=None) as e:
            load_yaml_model(_recipe(tmp_path, text), Outer)
        assert f"{tmp_path / 'r.yaml'}{expected}" in str(e.value), (text, str(e.value))


def test_flags_override_the_recipe_and_the_source_says_where_each_value_came_from(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "max_steps: 50\nlearning_rate: 1.0e-4\nbeta: 0.01\n")
    cfg, src = load_grpo_config(path, {"max_steps": 2, "learning_rate": None, "data": "x.jsonl"})
    assert (cfg.max_steps, cfg.learning_rate, cfg.beta, cfg.data) == (2, 1e-4, 0.01, "x.jsonl")
    assert src.where("max_steps") == "--max-steps" and src.where("learning_rate") == f"{path}:2" and src.where("seed") == "default"
    with pytest.raises(ConfigFileError, match="--lr: Input should be greater than 0"):
        load_grpo_config(path, {"learning_rate": -1.0})


def test_the_4gb_recipe_loads_and_comments_every_value() -> None:
    cfg, src = load_grpo_config(RECIPE, {})
    assert (cfg.quantization, cfg.correctness_mode, cfg.use_vllm) == ("auto", "flexible", False)
    assert cfg.generation_batch_size % cfg.num_generations == 0 and cfg.generation_batch_size % cfg.per_device_train_batch_size == 0
    assert src.where("lora_r").startswith(str(RECIPE))
    for lineno, line in enumerate(RECIPE.read_text().splitlines(), 1):
        if line and not line.startswith((" ", "#")):  # a top-level key
            assert "#" in line or line.rstrip().endswith(":"), f"{RECIPE}:{lineno} has no comment saying why: {line}"


# --- validation before any model is loaded ---------------------------------------------------------------------
def test_recipes_trl_would_reject_fail_naming_the_field_and_its_line(tiny_model: Path, tmp_path: Path) -> None:
    path = _recipe(tmp_path, f"model: {tiny_model}\nnum_generations: 4\ngeneration_batch_size: 6\nmax_completion_length: 4096\n")
    cfg, src = load_grpo_config(path, {})
    with pytest.raises(ConfigFileError) as e:
        check_recipe(cfg, src, device="cpu", world_size=1)
    msg = str(e.value)
    assert f"{path}:3: generation_batch_size 6 is not divisible by num_generations 4 ({path}:2)" in msg
    assert f"{path}:4: max_completion_length 4096 does not fit the model's context (max_position_embeddings 1024" in msg
    cfg, src = load_grpo_config(path, {"generation_batch_size": 8, "max_completion_length": 64, "batch_size": 3})
    with pytest.raises(ConfigFileError, match="--batch-size"):  # 8 completions are not a whole number of passes of 3
        check_recipe(cfg, src, device="cpu", world_size=1)
    cfg, src = load_grpo_config(path, {"generation_batch_size": 8, "max_completion_length": 64, "use_vllm": True})
    with pytest.raises(ConfigFileError, match="--use-vllm: use_vllm needs a CUDA GPU"):
        check_recipe(cfg, src, device="cpu", world_size=1)


def test_the_cli_refuses_a_bad_recipe_before_loading_the_model(tiny_model: Path, gsm8k_file: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyreason.models as models

    def no_load(*a: object, **k: object) -> None:
        raise AssertionError("the model was loaded before the recipe was validated")

    monkeypatch.setattr(models, "load_causal_lm", no_load)
    path = _recipe(tmp_path, "num_generations: 3\ngeneration_batch_size: 8\n")
    res = runner.invoke(app, ["train", "grpo", "--model", str(tiny_model), "--recipe", str(path), "--data", str(gsm8k_file),
                              "--out", str(tmp_path / "run")])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2 and f"{path}:2: generation_batch_size 8 is not divisible by num_generations 3" in flat
    assert not (tmp_path / "run").exists()  # refused before the run directory was made
    res = runner.invoke(app, ["train", "grpo", "--model", str(tiny_model), "--recipe", str(path), "--max-completion-length", "2000"])
    assert res.exit_code == 2 and "--max-completion-length: max_completion_length 2000 does not fit" in " ".join(res.output.split())


# --- the watch: metrics.jsonl rows, console line, zero-variance warning -------------------------------------------
def test_the_watch_warns_on_an_interrupted_run_of_zero_variance_and_on_a_length_collapse(tmp_path: Path) -> None:
    """The CPU run's own series (frac_reward_zero_std and completion length per step, steps 5-13): a streak rule
    never fired because a 0.5 broke each run of 1.0s, and nothing said the completions had collapsed."""
    from tinyreason.train.watch import TaskWatch

    cfg = GRPORunConfig(zero_std_warn=0.9, zero_std_patience=5, watch_questions=0, dev_n=1)
    console = Console(record=True, width=300)
    watch = TaskWatch(cfg, tmp_path, [], "src", "cpu", "float32", console)
    series = [(0.5, 151.0), (0.0, 256.1), (0.5, 212.9), (0.5, 113.5), (0.0, 138.1), (1.0, 6.1), (1.0, 5.3), (0.5, 44.5), (1.0, 7.8),
              (1.0, 5.0), (1.0, 5.1), (0.5, 5.1), (1.0, 5.1)]
    for step, (frac, length) in enumerate(series, start=1):
        logs = {"reward": 0.1, "reward_std": 0.0, "frac_reward_zero_std": frac, "completions/mean_length": length}
        watch.on_log(None, SimpleNamespace(is_world_process_zero=True, global_step=step, max_steps=20), None, logs=logs)
    out = " ".join(console.export_text().split())
    assert "step 10: completions shrank from 151 tokens (first step) to 14 (mean of the last 5)" in out and "format_when: correct" in out
    assert "step 10: frac_reward_zero_std averaged 0.90 (>= 0.9) over the last 5 logging steps" in out
    assert len(watch.warnings) == 2


def test_the_watch_logs_each_step_and_warns_once_when_groups_stop_disagreeing(tmp_path: Path) -> None:
    from tinyreason.train.watch import TaskWatch, read_rows, rewind

    cfg = GRPORunConfig(zero_std_warn=0.9, zero_std_patience=3, watch_questions=0, dev_n=1)
    console = Console(record=True, width=300)
    watch = TaskWatch(cfg, tmp_path, [], "src", "cpu", "float32", console)
    for step, frac in enumerate([1.0, 0.95, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0], start=1):
        logs = {"reward": 0.1, "reward_std": 0.2, "frac_reward_zero_std": frac, "completions/mean_length": 100.0,
                "completions/clipped_ratio": 0.25, "rewards/correctness/mean": 0.1, "rewards/reflection/mean": 0.5, "step_time": 2.0}
        watch.on_log(None, SimpleNamespace(is_world_process_zero=True, global_step=step, max_steps=8), None, logs=logs)
    rows = read_rows(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 9)) and rows[0]["kl"] is None  # beta 0: TRL logs no KL
    assert rows[0]["reflection_rate"] == 0.5 and rows[0]["rewards"] == {"correctness": 0.1} and rows[0]["clipped_ratio"] == 0.25
    out = console.export_text()
    assert out.count("WARNING") == 1 and "step 6: frac_reward_zero_std averaged 1.00 (>= 0.9) over the last 3 logging steps" in out
    assert "step 1/8 · reward 0.100 ± 0.200 · zero-std 1.00 · len 100 · clipped 25% · KL – · reflect 0.50/c" in out
    assert watch.warnings and len(watch.warnings) == 1
    with (tmp_path / "metrics.jsonl").open("a") as fh:
        fh.write('{"kind": "train", "step": 9, "rew')  # a torn line: killed mid-write
    assert len(read_rows(tmp_path / "metrics.jsonl")) == 8
    for step in (4, 6):  # keep: best_dev's saved adapters follow the rewind like the dev evaluations
        (tmp_path / "adapters" / f"step-{step:06d}").mkdir(parents=True)
    assert rewind(tmp_path, 5) == 3 and [r["step"] for r in read_rows(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    assert [p.name for p in (tmp_path / "adapters").iterdir()] == ["step-000004"]
    assert json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 5


def test_the_dev_evaluation_grades_flexible_and_strict_and_counts_reflections(gsm8k_file: Path, tmp_path: Path) -> None:
    import torch

    from tinyreason.backends.scripted import ScriptedBackend
    from tinyreason.data import load_problems
    from tinyreason.train.watch import TaskWatch, read_rows

    replies = {"Janet": "3 + 4 = 8. Wait, that doesn't seem right. Let me re-check: 3 + 4 = 7.\n#### 7",
               "box holds": "12 * 5 = 60, so the answer is 60", "Tom had": "I do not know"}

    def reply(chat: list, params: object, k: int) -> list[str]:
        text = next(v for key, v in replies.items() if key in chat[-1]["content"])
        return [text] * params.n

    dev = load_problems(str(gsm8k_file), "train").problems[:3]  # golds 7, 60, 12
    cfg = GRPORunConfig(dev_n=3, watch_questions=1, watch_samples=2)
    watch = TaskWatch(cfg, tmp_path, dev, "src", "cpu", "float32", Console(record=True, width=300))
    backend = ScriptedBackend(responder=reply)
    backend.batch_size = 4
    watch._backend = lambda model, step: backend
    model = torch.nn.Linear(2, 2).train()
    watch.on_step_end(None, SimpleNamespace(is_world_process_zero=True, global_step=25), None, model=model)
    assert model.training  # back in training mode after the greedy pass
    (row,) = read_rows(tmp_path / "metrics.jsonl")
    assert (row["kind"], row["step"], row["correct"], row["total"], row["no_answer"]) == ("dev", 25, 2, 3, 1)
    assert row["accuracy_strict"] == pytest.approx(1 / 3) and row["reflection_rate"] == pytest.approx(3 / 3)  # 3 phrases in 3 answers
    watched = [json.loads(line) for line in (tmp_path / "watch" / "step-000025" / "samples.jsonl").read_text().splitlines()]
    assert [w["id"] for w in watched] == [dev[0].id] and len(watched[0]["generations"]) == 2
    assert (tmp_path / "curves.png").is_file() and (tmp_path / "dev" / "step-000025" / "config.json").is_file()
    watch.on_step_end(None, SimpleNamespace(is_world_process_zero=True, global_step=26), None, model=model)  # not an eval step
    watch.on_train_end(None, SimpleNamespace(is_world_process_zero=True, global_step=25), None, model=model)  # evaluated already
    assert len(read_rows(tmp_path / "metrics.jsonl")) == 1


@pytest.mark.parametrize(("limit", "stops"), [(0.6, True), (0.7, False)])
def test_the_dev_row_counts_bare_guesses_and_stop_guessing_stops_on_their_share(gsm8k_file: Path, tmp_path: Path,
                                                                                limit: float, stops: bool) -> None:
    """Two answered bare guesses of three (the no-answer is not a guess): 67% stops a run at 0.6, not at 0.7. With
    keep: best_dev the evaluated step's adapter is saved before its dev row is written."""
    import torch

    from tinyreason.backends.scripted import ScriptedBackend
    from tinyreason.data import load_problems
    from tinyreason.train.watch import TaskWatch, read_rows

    replies = {"Janet": "#### 7", "box holds": "#### 61", "Tom had": "I do not know"}
    backend = ScriptedBackend(responder=lambda chat, params, k: [next(v for key, v in replies.items() if key in chat[-1]["content"])] * params.n)
    backend.batch_size = 4

    class Saving(torch.nn.Linear):
        def save_pretrained(self, folder: Path) -> None:
            assert not (tmp_path / "metrics.jsonl").exists()  # before the row
            Path(folder).mkdir(parents=True)
            (Path(folder) / "adapter_model.safetensors").write_bytes(b"w")

    cfg = GRPORunConfig(dev_n=3, watch_questions=0, stop_guessing=limit, keep="best_dev")
    console = Console(record=True, width=300)
    watch = TaskWatch(cfg, tmp_path, load_problems(str(gsm8k_file), "train").problems[:3], "src", "cpu", "float32", console)
    watch._backend = lambda model, step: backend
    control = SimpleNamespace(should_training_stop=False)
    watch.on_step_end(None, SimpleNamespace(is_world_process_zero=True, global_step=25), control, model=Saving(2, 2))
    (row,) = read_rows(tmp_path / "metrics.jsonl")
    assert (row["guesses"], row["no_answer"], row["total"]) == (2, 1, 3)
    assert (tmp_path / "adapters" / "step-000025" / "adapter_model.safetensors").is_file()
    assert control.should_training_stop is stops and (watch.stopped is not None) is stops
    text = " ".join(console.export_text().split())
    assert ("step 25: 2 of 3 dev answers are bare guesses (67% >= stop_guessing 60%)" in text) is stops and "bare guesses 2" in text


# --- reviewer fixes: run directory, data split, hardware ---------------------------------------------------------
def test_rewind_swaps_in_a_whole_file_so_a_kill_mid_rewrite_keeps_the_old_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.train.watch import append_row, read_rows, rewind

    for step in range(1, 6):
        append_row(tmp_path / "metrics.jsonl", {"kind": "train", "step": step})
    before = (tmp_path / "metrics.jsonl").read_text()

    def torn(self: Path, data: str, *a: object, **k: object) -> None:
        with open(self, "w") as fh:
            fh.write(data[:7])  # the kill lands mid-write
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(KeyboardInterrupt):
        rewind(tmp_path, 2)
    assert (tmp_path / "metrics.jsonl").read_text() == before
    monkeypatch.undo()
    assert rewind(tmp_path, 2) == 3 and [r["step"] for r in read_rows(tmp_path / "metrics.jsonl")] == [1, 2]


def test_training_questions_repeating_a_dev_question_are_dropped_and_counted(tmp_path: Path) -> None:
    from tinyreason.train.grpo import _disjoint, question_key, select_prompts
    from tinyreason.types import Problem

    rows = [{"question": f"Question {i}: how many?", "answer": f"#### {i}"} for i in range(8)]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = GRPORunConfig(data=str(path), dev_n=2)
    dev, train, _ = select_prompts(cfg)
    twin = next(p.id for p in train)  # a training row becomes a dev question in other case and spacing
    rows[twin]["question"] = "  " + dev[0].question.upper().replace(" ", "   ").rstrip("?") + " ?"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dev2, train2, info = select_prompts(cfg)
    assert [p.id for p in dev2] == [p.id for p in dev] and question_key(rows[twin]["question"]) == question_key(dev[0].question)
    assert info["dev_duplicate_ids"] == [twin] and twin not in info["train_ids"] and len(train2) == len(train) - 1
    check = _disjoint(dev2, train2, info["dev_duplicate_ids"])
    assert check["ok"] and check["dev_duplicates_dropped"] == 1
    leaky = _disjoint(dev, [*train, Problem(id=99, question=dev[0].question.lower(), gold="0")], [])
    assert not leaky["ok"] and leaky["shared_question_ids"] == [99] and leaky["shared_ids"] == []


def test_dev_prompts_plus_dev_max_new_tokens_must_fit_the_context(tiny_model: Path, tmp_path: Path) -> None:
    from tinyreason.train.grpo import check_prompt_lengths

    def tok(text: str, add_special_tokens: bool = False) -> dict:
        return {"input_ids": text.split()}

    path = _recipe(tmp_path, f"model: {tiny_model}\nmax_completion_length: 64\ndev_max_new_tokens: 1000\nwatch_questions: 0\n")
    cfg, src = load_grpo_config(path, {})  # the tiny model's context: 1024
    train, dev = [{"prompt": "w " * 10}], [{"prompt": "w " * 30}, {"prompt": "w " * 5}]
    with pytest.raises(ConfigFileError) as e:
        check_prompt_lengths(train, dev, tok, cfg, src)
    assert f"{path}:3: dev_max_new_tokens 1000 + the longest dev prompt (30 tokens) exceeds the model's context (1024)" in str(e.value)
    assert "max_completion_length" not in str(e.value)
    assert check_prompt_lengths(train, dev[1:], tok, cfg, src) == {"longest_prompt_tokens": 10, "longest_dev_prompt_tokens": 5}


def test_a_resume_that_resolves_to_other_hardware_is_refused(tmp_path: Path) -> None:
    from tinyreason.train.grpo import prepare_run

    def config(mode: str, device: str, dtype: str) -> dict:
        return {"kind": "grpo", "config": GRPORunConfig().model_dump(), "data": {"fingerprint": "f"}, "created": "now",
                "mode": mode, "device": device, "dtype": dtype}

    (tmp_path / "train_config.json").write_text(json.dumps(config("lora", "cpu", "float32")))
    with pytest.raises(FileExistsError, match="trained as lora/cpu/float32 .* resolves to qlora/cuda/bfloat16"):
        prepare_run(tmp_path, config("qlora", "cuda", "bfloat16"), False, main=False)
    (tmp_path / "train_config.json").write_text(json.dumps(config("qlora", "cuda:0", "bfloat16")))
    assert prepare_run(tmp_path, config("qlora", "cuda:1", "bfloat16"), False, main=False) is None  # another rank, same run


def test_mode_note_names_the_compute_dtype_actually_used() -> None:
    from tinyreason.train.sft import mode_note

    assert mode_note("cuda", "qlora", "float16") == "QLoRA: 4-bit NF4 base (bitsandbytes), fp16 compute"
    assert "bf16 compute" in mode_note("cuda:1", "qlora", "bfloat16")


def test_peak_memory_is_reset_on_this_processs_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from tinyreason.train.grpo import _reset_peak

    seen: list[tuple] = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: seen.append(a))
    _reset_peak("cuda:1")
    _reset_peak("cpu")
    assert seen == [("cuda:1",)]


def test_a_resume_on_other_data_is_refused_naming_it(tmp_path: Path) -> None:
    """SFT on a traces file: the chosen examples (their ids and their texts' fingerprint) tell two runs apart, not the path."""
    from tinyreason.train.checkpoints import refuse_other_run
    from tinyreason.train.sft import SFTRunConfig

    def config(ids: list[int], fingerprint: str | None = None) -> dict:
        return {"kind": "sft", "config": SFTRunConfig(train_n=2).model_dump(mode="json"), "data": {"kind": "traces", "ids": ids, "fingerprint": fingerprint}}

    refuse_other_run(tmp_path, config([1, 2]), config([1, 2]), SFTRunConfig)  # the same run: no error
    with pytest.raises(FileExistsError, match=r"SFT run with another config \(differs in: data \(the examples chosen: ids\)\)"):
        refuse_other_run(tmp_path, config([1, 2]), config([1, 3]), SFTRunConfig)
    with pytest.raises(FileExistsError, match="fingerprint"):
        refuse_other_run(tmp_path, config([1, 2], "a"), config([1, 2], "b"), SFTRunConfig)
    old = config([1, 2])
    del old["data"]["fingerprint"]  # recorded before traces runs kept a fingerprint: the ids decide
    refuse_other_run(tmp_path, old, config([1, 2], "b"), SFTRunConfig)
    moved = config([1, 2], "a")
    moved["config"]["traces"] = "/elsewhere/traces.jsonl"  # the same examples at another path: the same run
    refuse_other_run(tmp_path, config([1, 2], "a"), moved, SFTRunConfig)
