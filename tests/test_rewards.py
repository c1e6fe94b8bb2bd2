"""GRPO rewards by name: the registry (built-ins, plug-ins, module:function) and its loud errors, a recipe's
`rewards:` list and its checks, the legacy reward fields building exactly the list they always built, and
what a run records of the reward code it used. No training here (tests/test_train_grpo.py trains)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tinyreason.config_io import ConfigFileError, ConfigSource
from tinyreason.identity import current_names
from tinyreason.train import rewards
from tinyreason.train.grpo_config import LEGACY_REWARD_FIELDS, GRPORunConfig, check_recipe, load_grpo_config
from tinyreason.train.rewards import REFLECTION_PHRASES, RewardSpec, get_reward, register_reward, reward_funcs

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "checked_steps.py"
KW = {"gold": ["7", "7"], "completion_ids": [[1] * 5, [1] * 15], "id": [0, 1], "prompts": ["p", "p"]}
TEXTS = ["so 7", "Wait.\n#### 7"]


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def scratch_names():
    """Reward names a test registers, removed afterwards (the registry is the process's)."""
    names: list[str] = []
    yield names
    for n in names:
        rewards._REGISTRY.pop(n, None)


# --- the registry -------------------------------------------------------------------------------------------------
def test_the_builtins_are_registered_under_the_names_trl_logs() -> None:
    assert {"correctness", "format", "length", "reflection"} <= set(rewards.reward_names())
    assert get_reward("format").fn is rewards.answer_format and get_reward("length").from_config == {"limit": "max_completion_length"}
    assert list(get_reward("length").options.model_fields) == ["target"]  # limit is the budget, bound from the config


def test_a_name_registered_twice_is_an_error_naming_both_functions(scratch_names: list[str]) -> None:
    def mine(completions, **kw):
        return [0.0] * len(completions)

    with pytest.raises(ValueError) as e:
        register_reward("correctness")(mine)
    msg = str(e.value)
    assert "reward 'correctness' is already registered by tinyreason.train.rewards.correctness" in msg and "rewards.py" in msg
    assert "test_rewards" in msg and "mine" in msg and "rename one" in msg
    assert get_reward("correctness").fn is rewards.correctness  # the first one stays
    scratch_names.append("scratch-once")
    register_reward("scratch-once")(mine)
    with pytest.raises(ValueError, match="'scratch-once' is already registered"):
        register_reward("scratch-once")(mine)


def test_an_unknown_name_lists_the_valid_ones_and_the_other_spellings() -> None:
    with pytest.raises(ValueError) as e:
        get_reward("corectness")
    said = str(e.value)
    assert said.startswith("unknown reward 'corectness': choose one of ")  # the registered names (a plug-in another test loaded may be among them)
    assert all(f"{name}," in said for name in ("correctness", "format", "length", "reflection"))
    assert "--include FILE.py" in str(e.value) and "module:function" in str(e.value)


@pytest.mark.parametrize("name", ["", "a:b", "a/b", "a b"])
def test_a_reward_name_is_plain(name: str) -> None:
    with pytest.raises(ValueError, match="plain name"):
        register_reward(name)


def test_a_function_without_trls_keyword_signature_is_refused(scratch_names: list[str]) -> None:
    def no_kw(completions):
        return [0.0]

    def positional(completions, /, **kw):
        return [0.0]

    for fn in (no_kw, positional):
        with pytest.raises(ValueError, match=r"must take TRL's reward arguments by keyword: `def f\(completions, \*"):
            register_reward("scratch-bad")(fn)
    assert "scratch-bad" not in rewards.reward_names()


def test_options_are_the_keyword_only_parameters_checked_by_name_and_type() -> None:
    with pytest.raises(ValueError, match=r"reward 'format': unknown option whn; it takes: when, mode"):
        get_reward("format").settings({"whn": "correct"})
    with pytest.raises(ValueError, match=r"limit is set by the run's max_completion_length.*it takes: target"):
        get_reward("length").settings({"limit": 10})
    with pytest.raises(ValueError, match=r"reward 'format' options are invalid \(when: Input should be 'always' or 'correct'"):
        get_reward("format").settings({"when": "sometimes"})
    assert get_reward("correctness").settings({}) == {"mode": "flexible"}
    assert get_reward("reflection").settings({})["phrases"] == REFLECTION_PHRASES


# --- module:function ----------------------------------------------------------------------------------------------
@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "my_lab_rewards.py"
    path.write_text("def short(completions, *, limit: int = 10, **kw):\n    return [1.0 if len(c) <= limit else 0.0 for c in completions]\n\n"
                    "def no_kw(completions):\n    return [0.0]\n\nNOT_A_FUNCTION = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_lab_rewards", None)  # each test imports its own copy
    yield path
    sys.modules.pop("my_lab_rewards", None)


def test_module_function_is_imported_checked_and_called(user_module: Path) -> None:
    cfg = GRPORunConfig(rewards=[{"name": "correctness"}, {"name": "my_lab_rewards:short", "weight": 0.2, "options": {"limit": 5}}])
    funcs, weights = reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness", "my_lab_rewards:short", "reflection"] and weights == [1.0, 0.2, 0.0]
    assert funcs[1](TEXTS, **KW) == [1.0, 0.0]
    bad = {"my_lab_rewards:nothing": "module 'my_lab_rewards' (", "my_lab_rewards:NOT_A_FUNCTION": "has no function 'NOT_A_FUNCTION'",
           "no_such_module_xyz:f": "cannot import module 'no_such_module_xyz': ModuleNotFoundError",
           "my_lab_rewards:no_kw": "must take TRL's reward arguments by keyword"}
    for name, says in bad.items():
        with pytest.raises(ValueError, match=None) as e:
            RewardSpec(name=name)
        assert f"reward '{name}'" in str(e.value) and says in str(e.value), str(e.value)
    with pytest.raises(ValueError, match="unknown option limt; it takes: limit"):
        RewardSpec(name="my_lab_rewards:short", options={"limt": 5})


# --- legacy fields: the list they always built -------------------------------------------------------------------
def _legacy_list(cfg: GRPORunConfig) -> list[tuple[str, float, dict]]:
    """What reward_funcs built before rewards had names (the list as it was coded then)."""
    out = [("correctness", cfg.correctness_weight, {"mode": cfg.correctness_mode})]
    if cfg.format_weight:
        out.append(("format", cfg.format_weight, {"when": cfg.format_when, "mode": cfg.correctness_mode}))
    if cfg.length_weight:
        out.append(("length", cfg.length_weight, {"target": cfg.length_target, "limit": cfg.max_completion_length}))
    return [*out, ("reflection", 0.0, {"phrases": list(cfg.reflection_phrases)})]


@pytest.mark.parametrize("fields", [
    {}, {"format_weight": 0.0}, {"correctness_mode": "strict", "format_weight": 0.2, "format_when": "correct", "length_weight": 0.5,
                                 "length_target": 10, "max_completion_length": 20, "reflection_phrases": ["hmm"]},
    {"correctness_weight": 0.0, "format_weight": 0.0, "length_weight": 1.0},
])
def test_without_rewards_the_legacy_fields_build_the_same_names_weights_and_options(fields: dict) -> None:
    cfg = GRPORunConfig(**fields)
    funcs, weights = reward_funcs(cfg)
    assert [(f.__name__, w, f.bound) for f, w in zip(funcs, weights, strict=True)] == _legacy_list(cfg)
    plain = {"correctness": rewards.correctness, "format": rewards.answer_format, "length": rewards.length_penalty,
             "reflection": rewards.reflection_count}
    for f in funcs:  # and each computes what the plain function computes with those settings
        assert f(TEXTS, **KW) == plain[f.__name__](completions=TEXTS, **{**KW, **f.bound})


def test_the_recipe_as_shipped_builds_the_list_it_always_did() -> None:
    cfg, _ = load_grpo_config(ROOT / "recipes" / "grpo-4gb.yaml", {})
    assert cfg.rewards is None
    funcs, weights = reward_funcs(cfg)
    assert [(f.__name__, w) for f, w in zip(funcs, weights, strict=True)] == [("correctness", 1.0), ("format", 0.1), ("reflection", 0.0)]
    assert funcs[1].bound == {"when": "correct", "mode": "flexible"}


def test_committed_grpo_runs_are_still_the_same_run() -> None:
    """A stored train_config.json predates `rewards` or records its default (None): either way it reloads as the
    run it was, and fields added later (keep, stop_guessing…) take defaults that change nothing (identity's rule)."""
    stored = sorted((ROOT / "results" / "runs").glob("grpo*/train_config.json"))
    if not stored:
        pytest.skip("no committed GRPO run")
    for path in stored:
        config = current_names(json.loads(path.read_text())["config"], GRPORunConfig)  # old names (batch_size) read as TRL's
        assert config.get("rewards") is None, path  # every committed run used the legacy reward list
        later = {n: f.get_default(call_default_factory=True) for n, f in GRPORunConfig.model_fields.items() if n not in config}
        assert all(later.get(n) is None for n in ("rewards", "stop_guessing")) and later.get("keep", "last") == "last"
        assert GRPORunConfig(**config).model_dump(mode="json") == {**json.loads(json.dumps(later, default=str)), **config}, path
        assert [f.__name__ for f in reward_funcs(GRPORunConfig(**config))[0]] == [n for n, *_ in _legacy_list(GRPORunConfig(**config))]


# --- the list form ------------------------------------------------------------------------------------------------
def test_a_rewards_list_with_options_is_what_the_trainer_gets(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "max_completion_length: 20\nrewards:\n  - {name: correctness, options: {mode: strict}}\n"
                             "  - {name: format, weight: 0.1, options: {when: correct}}\n  - {name: length, weight: 0.5, options: {target: 10}}\n")
    cfg, _ = load_grpo_config(path, {})
    funcs, weights = reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness", "format", "length", "reflection"] and weights == [1.0, 0.1, 0.5, 0.0]
    assert [f.bound for f in funcs] == [{"mode": "strict"}, {"when": "correct"}, {"target": 10, "limit": 20}, {"phrases": REFLECTION_PHRASES}]
    assert [f(TEXTS, **KW) for f in funcs] == [[0.0, 1.0], [0.0, 1.0], [0.0, -0.5], [0.0, 1.0]]  # strict: "so 7" is no answer


def test_a_listed_reflection_replaces_the_probe_and_the_watch_counts_its_phrases() -> None:
    cfg = GRPORunConfig(rewards=[{"name": "correctness"}, {"name": "reflection", "weight": 0.05, "options": {"phrases": ["wait"]}}])
    funcs, weights = reward_funcs(cfg)
    assert [f.__name__ for f in funcs] == ["correctness", "reflection"] and weights == [1.0, 0.05]
    assert rewards.reflection_phrases(cfg) == ["wait"] and rewards.reflection_phrases(GRPORunConfig()) == REFLECTION_PHRASES


def test_bad_list_entries_name_their_line(tmp_path: Path) -> None:
    cases = {"rewards:\n  - {name: format, options: {whn: correct}}\n": ":2: rewards.0: reward 'format': unknown option whn; it takes: when, mode",
             "rewards:\n  - {name: corectness}\n": ":2: rewards.0: unknown reward 'corectness': choose one of",
             "rewards:\n  - {name: format, wieght: 2}\n": ":2: rewards.0: unknown key wieght (valid: name, weight, options)",
             "rewards:\n  - {name: format}\n  - {name: format}\n": ":1: rewards: format listed twice",
             "rewards: []\n": ":1: rewards: an empty list rewards nothing"}
    for text, says in cases.items():
        path = _recipe(tmp_path, text)
        with pytest.raises(ConfigFileError) as e:
            load_grpo_config(path, {})
        assert f"{path}{says}" in str(e.value), (text, str(e.value))


@pytest.mark.parametrize("field", LEGACY_REWARD_FIELDS)
def test_a_legacy_field_set_beside_a_list_names_the_field_and_where(tmp_path: Path, field: str) -> None:
    value = GRPORunConfig.model_fields[field].get_default(call_default_factory=True)  # even its default value: it would be ignored
    path = _recipe(tmp_path, f"rewards: [{{name: correctness}}]\n{field}: {json.dumps(value)}\n")
    with pytest.raises(ConfigFileError) as e:
        load_grpo_config(path, {})
    assert f"{path}:2: {field}: set, but `rewards` lists the rewards and replaces this field" in str(e.value)
    flag = "--" + field.replace("_", "-")
    with pytest.raises(ConfigFileError, match=f"{flag}: set, but `rewards`"):
        load_grpo_config(_recipe(tmp_path, "rewards: [{name: correctness}]\n"), {field: value})


def test_the_weight_and_length_checks_work_for_both_forms(tiny_model: Path, tmp_path: Path) -> None:
    base = f"model: {tiny_model}\ngeneration_batch_size: 8\nnum_generations: 4\nbatch_size: 2\nmax_completion_length: 64\n"
    cases = {"correctness_weight: 0\nformat_weight: 0\n": ":6: every reward weight is 0",
             "rewards:\n  - {name: correctness, weight: 0}\n  - {name: reflection, weight: 0}\n": ":6: every reward weight is 0",
             "length_weight: 0.5\nlength_target: 64\n": ":7: length_target 64 must be below max_completion_length 64",
             "rewards:\n  - {name: correctness}\n  - {name: length, weight: 0.5, options: {target: 100}}\n":
                 ":8: length's target 100 must be below max_completion_length 64"}
    for text, says in cases.items():
        cfg, src = load_grpo_config(_recipe(tmp_path, base + text), {})
        with pytest.raises(ConfigFileError) as e:
            check_recipe(cfg, src, device="cpu", world_size=1)
        assert f"{tmp_path / 'r.yaml'}{says}" in str(e.value), (text, str(e.value))
    cfg, src = load_grpo_config(_recipe(tmp_path, base + "rewards: [{name: length, weight: 0.5, options: {target: 32}}]\n"), {})
    check_recipe(cfg, src, device="cpu", world_size=1)  # a length penalty alone is a reward


# --- what a run records of its reward code ------------------------------------------------------------------------
def _run_config(cfg: GRPORunConfig) -> dict:
    from tinyreason.prompts import get_prompt
    from tinyreason.train.grpo import run_config

    return run_config(cfg, ConfigSource(), get_prompt("cot"), ("cpu", "float32", "lora"), {"fingerprint": "f"})


def test_a_plugin_reward_used_by_a_run_is_recorded_with_its_sha256(user_module: Path) -> None:
    from tinyreason import plugins

    plugins.load([str(EXAMPLE)])
    assert plugins.origin("reward", "checked-steps") == str(EXAMPLE.resolve()) and plugins.origin("reward", "format") == "built-in"
    digest = hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    used = _run_config(GRPORunConfig(rewards=[{"name": "correctness"}, {"name": "checked-steps", "weight": 0.2}]))
    assert used["plugins"] == [{"source": str(EXAMPLE.resolve()), "sha256": digest}]
    assert "plugins" not in _run_config(GRPORunConfig())  # loaded but unused: not part of that run (and old runs keep their record)
    module = _run_config(GRPORunConfig(rewards=[{"name": "my_lab_rewards:short"}]))["plugins"]
    assert module == [{"source": f"module my_lab_rewards ({user_module})", "sha256": hashlib.sha256(user_module.read_bytes()).hexdigest()}]


def test_a_rerun_with_edited_reward_code_is_refused(tmp_path: Path) -> None:
    """The plug-in code a run records is part of the one identity rule (checkpoints.refuse_other_run)."""
    from tinyreason.train.checkpoints import refuse_other_run
    from tinyreason.train.grpo_config import GRPORunConfig

    cfg = GRPORunConfig().model_dump(mode="json")
    stored = {"kind": "grpo", "config": cfg, "data": {"fingerprint": "f"}, "plugins": [{"source": "/x/r.py", "sha256": "aaa"}]}
    refuse_other_run(tmp_path, stored, dict(stored), GRPORunConfig)  # the same code: the same run
    edited = {**stored, "plugins": [{"source": "/x/r.py", "sha256": "bbb"}]}
    with pytest.raises(FileExistsError, match=r"plugins \(the code of /x/r.py\)"):
        refuse_other_run(tmp_path, stored, edited, GRPORunConfig)
    with pytest.raises(FileExistsError, match=r"the code of /x/r.py"):
        refuse_other_run(tmp_path, stored, {k: v for k, v in stored.items() if k != "plugins"}, GRPORunConfig)


# --- prompt parity through TRL's public tokenizer call ------------------------------------------------------------
def test_parity_reads_the_trainers_public_processing_class(tiny_model: Path) -> None:
    from types import SimpleNamespace

    from tinyreason.models import load_tokenizer, render_prompt
    from tinyreason.prompts import get_prompt
    from tinyreason.train.grpo import check_parity
    from tinyreason.types import Problem

    tok, cot = load_tokenizer(str(tiny_model)), get_prompt("cot")
    train = [Problem(id=i, question=q, gold="1") for i, q in enumerate(["One plus none?", "Two minus one?"])]
    records = [{"prompt": render_prompt(tok, cot.render(question=p.question))} for p in train]
    cfg = GRPORunConfig(model=str(tiny_model))
    trainer = SimpleNamespace(processing_class=tok)  # no private attribute to reach for
    report = check_parity(cfg, trainer, records, train)
    assert report["ok"] and report["examples_checked"] == 2 and report["mismatches"] == 0

    def with_bos(text):  # a tokenizer that adds a token eval does not send
        return {"input_ids": [[0, *tok(t, add_special_tokens=False)["input_ids"]] for t in text]}

    bad = check_parity(cfg, SimpleNamespace(processing_class=with_bos), records, train)
    assert not bad["ok"] and bad["mismatches"] == 2 and not bad["token_ids_identical"]


def test_train_rewards_lists_built_ins_and_a_plug_in_with_their_options() -> None:
    from typer.testing import CliRunner

    from tinyreason.cli import app

    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "checked_steps.py"
    res = CliRunner().invoke(app, ["train", "rewards", "--include", str(example)], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert any(line.startswith("checked-steps (plug-in: ") for line in lines) and "    options: min_steps=1" in lines
    assert "    options: target=256; set by the run: limit from max_completion_length" in lines
