"""Prompts as the user's data (YAML prompt files), the protocol candidates, the dev slice from the end of the
seeded order, and the protocol's choice rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.cli import app
from tinyreason.data import load_jsonl, select
from tinyreason.evaluate import evaluate
from tinyreason.methods import create_method
from tinyreason.options import OptionsError
from tinyreason.prompt_file import PromptFileError, load_prompt_file
from tinyreason.prompts import PROMPTS, PROTOCOL_CANDIDATES, get_prompt
from tinyreason.protocol import Candidate, ProtocolConfig, check_disjoint, choose
from tinyreason.types import Chat

runner = CliRunner()


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- prompt files -------------------------------------------------------------------------------------

def test_a_prompt_file_renders_system_exemplars_and_question_as_chat_turns(tmp_path: Path) -> None:
    f = write(tmp_path / "p.yaml", 'system: Be brief.\nuser: "Q: {question}\\nA:"\nexemplars:\n'
              '  - {question: "1+1?", answer: "2. #### 2"}\n  - {question: "2+2?", answer: "4. #### 4"}\n')
    chat = load_prompt_file(f).render(question="3+3?")
    assert chat == [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "Q: 1+1?\nA:"}, {"role": "assistant", "content": "2. #### 2"},
                    {"role": "user", "content": "Q: 2+2?\nA:"}, {"role": "assistant", "content": "4. #### 4"},
                    {"role": "user", "content": "Q: 3+3?\nA:"}]


def test_system_null_leaves_the_model_default(tmp_path: Path) -> None:
    f = write(tmp_path / "p.yaml", "system: null\nuser: '{question} Think.'\n")
    assert load_prompt_file(f).render(question="Why?") == [{"role": "user", "content": "Why? Think."}]
    assert get_prompt(str(f)).system is None  # get_prompt takes the path wherever a name is accepted


@pytest.mark.parametrize("text, where, says", [
    ("user: 'no field here'\n", ":1", "must contain {question}"),
    ("user: '{question}'\nsytem: x\n", ":2", "sytem: unknown key"),
    ("user: [unclosed\n", ":2", "not valid YAML"),
    ("system: hi\n", ": user", "required"),  # a missing key: the file, no line
    ("user: '{question} {'\n", ":1", "not a valid template"),
    ("user: '{question}'\nexemplars:\n  - {question: q}\n", ":3", "answer"),
])
def test_a_bad_prompt_file_names_its_file_and_line(tmp_path: Path, text: str, where: str, says: str) -> None:
    f = write(tmp_path / "bad.yaml", text)
    with pytest.raises(PromptFileError) as e:
        load_prompt_file(f)
    assert f"{f}{where}" in str(e.value) and says in str(e.value), str(e.value)


def test_an_unknown_prompt_is_refused_when_the_method_is_built_naming_the_valid_ones() -> None:
    with pytest.raises(OptionsError) as e:
        create_method("reflect", reflect_prompt="nosuch")
    assert "reflect_prompt: unknown prompt 'nosuch'" in str(e.value) and "qwen-boxed" in str(e.value)
    with pytest.raises(OptionsError, match="no such prompt file"):
        create_method("greedy", prompt="missing.yaml")


def test_the_cli_says_an_unknown_prompt_in_one_line_without_a_traceback(gsm8k_file: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", "-o", "prompt=nosuch", "--data", str(gsm8k_file), "--limit", "2", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "Traceback" not in res.output and "unknown prompt 'nosuch'" in res.output
    assert not (tmp_path / "r").exists()


def test_a_prompt_file_round_trips_into_the_run_config_and_a_later_edit_is_another_run(gsm8k_file: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "p.yaml", "system: Plain.\nuser: 'Solve: {question}'\nexemplars:\n  - {question: '1+1?', answer: '#### 2'}\n")
    seen: list[Chat] = []

    def respond(chat: Chat, params: object, i: int) -> list[str]:
        seen.append(chat)
        return ["#### 7"]

    backend = ScriptedBackend(responder=respond)
    method = create_method("greedy", prompt=str(f))
    evaluate(backend, method, load_jsonl(gsm8k_file), tmp_path / "run", limit=2, seed=1, progress=False)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["method"]["prompt"] == str(f)
    assert cfg["prompts"][str(f)] == {"system": "Plain.", "user": "Solve: {question}", "exemplars": [{"question": "1+1?", "answer": "#### 2"}]}
    assert seen[0][:3] == [{"role": "system", "content": "Plain."}, {"role": "user", "content": "Solve: 1+1?"},
                           {"role": "assistant", "content": "#### 2"}]
    write(f, "system: Plain.\nuser: 'Solve this: {question}'\n")  # edited afterwards: the stored text no longer matches
    with pytest.raises(Exception, match="different run"):
        evaluate(backend, create_method("greedy", prompt=str(f)), load_jsonl(gsm8k_file), tmp_path / "run", limit=2, seed=1, progress=False)


def test_registered_templates_without_exemplars_keep_their_stored_shape() -> None:
    """Runs committed before exemplars existed stored {system, user}: the same template must record the same."""
    assert get_prompt("cot").record() == {"system": None, "user": PROMPTS["cot"].user}


def test_the_protocol_candidates_are_registered_with_their_source_and_text() -> None:
    for name in PROTOCOL_CANDIDATES:
        t = get_prompt(name)
        assert t.source and "{question}" in t.user
    assert get_prompt("qwen-boxed").render(question="Q")[-1]["content"] == "Q\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert get_prompt("qwen-boxed-system").render(question="Q") == [
        {"role": "system", "content": "Please reason step by step, and put your final answer within \\boxed{}."}, {"role": "user", "content": "Q"}]
    assert get_prompt("lmeval-cot-zeroshot").render(question="Q") == [{"role": "user", "content": "Q: Q\nA: Let's think step by step."}]
    assert get_prompt("hash-steps").system == "You are a helpful assistant."


def test_tinyreason_prompts_lists_every_template_and_shows_one_whole() -> None:
    res = runner.invoke(app, ["prompts"], env={"COLUMNS": "300"})
    assert res.exit_code == 0
    assert all(name in res.output for name in PROMPTS)
    one = runner.invoke(app, ["prompts", "qwen-boxed-system"], env={"COLUMNS": "300"})
    assert one.exit_code == 0 and "Please reason step by step" in one.output and "Qwen2.5-Math" in one.output
    bad = runner.invoke(app, ["prompts", "nosuch"])
    assert bad.exit_code != 0 and "unknown prompt 'nosuch'" in bad.output


# -- the dev slice -------------------------------------------------------------------------------------

def _rows(tmp_path: Path, n: int) -> Path:
    return write(tmp_path / "train.jsonl", "".join(json.dumps({"question": f"What is {i} plus 1?", "answer": f"#### {i + 1}"}) + "\n" for i in range(n)))


def test_the_end_of_the_seeded_order_is_disjoint_from_its_start_and_grows_by_prefix(tmp_path: Path) -> None:
    ds = load_jsonl(_rows(tmp_path, 50))
    start, end = [p.id for p in select(ds, 20, 42)], [p.id for p in select(ds, 20, 42, from_end=True)]
    assert not set(start) & set(end)
    assert [p.id for p in select(ds, 5, 42, from_end=True)] == end[:5]  # a smaller dev slice is a prefix
    assert [p.id for p in select(ds, None, 42, from_end=True)] == [p.id for p in select(ds, None, 42)][::-1]


def test_the_protocol_refuses_test_data_and_a_dev_slice_that_reaches_the_reserved_start(tmp_path: Path) -> None:
    train = _rows(tmp_path, 50)
    with pytest.raises(ValueError, match="never on test"):
        ProtocolConfig(data=str(tmp_path / "test.jsonl"), out="o")
    with pytest.raises(ValueError, match="default 'hash-steps' must be one of the candidates"):
        ProtocolConfig(data=str(train), out="o", candidates=["cot", "qwen-boxed"], default="hash-steps")
    ok = ProtocolConfig(data=str(train), out="o", dev_n=20, reserve_start=30)
    assert len(check_disjoint(ok)["dev_ids"]) == 20
    with pytest.raises(ValueError, match="overlaps the first 31"):
        check_disjoint(ProtocolConfig(data=str(train), out="o", dev_n=20, reserve_start=31))


def test_the_dev_slice_is_checked_against_what_each_training_run_beside_it_took(tmp_path: Path) -> None:
    """SFT examples, a GRPO pool with its dev slice, every question a distillation asked (rejects too) and SFT on
    those traces (its data through the traces' record) count; a run on other data does not; a shared id is named."""
    from tinyreason.protocol import overlap_line, trained_on

    runs = tmp_path / "runs"

    def put(name: str, file: str, record: dict, rows: dict[str, list[int]] | None = None) -> Path:
        (runs / name).mkdir(parents=True)
        (runs / name / file).write_text(json.dumps(record))
        for f, ids in (rows or {}).items():  # a reject's text may hold U+2028
            (runs / name / f).write_text("".join(json.dumps({"id": i, "t": "a\u2028b"}, ensure_ascii=False) + "\n" for i in ids))
        return runs / name

    fp = {"fingerprint": "F"}
    put("sft", "train_config.json", {"data": {**fp, "kind": "human", "ids": [0, 1, 2]}})
    put("grpo", "train_config.json", {"data": {**fp, "train_ids": [3, 4], "dev_ids": [5]}})
    d = put("distill", "traces.config.json", {"data": fp}, {"traces.jsonl": [6], "traces.rejects.jsonl": [7, 8]})
    put("sft-own", "train_config.json", {"data": {"kind": "traces", "source": str(d / "traces.jsonl"), "ids": [6]}})
    put("other", "train_config.json", {"data": {"fingerprint": "G", "ids": [90, 91]}})
    (runs / "an-eval").mkdir()
    got = {name: (what, ids) for name, what, ids in trained_on(runs, "F")}
    assert got == {"sft": ("examples", {0, 1, 2}), "grpo": ("prompt pool and dev", {3, 4, 5}), "distill": ("asked", {6, 7, 8}),
                   "sft-own": ("examples", {6})}
    clean = overlap_line(runs, "F", [90, 91, 92])
    assert "**none holds a dev question**" in clean and "`distill` (asked: 3)" in clean and "other" not in clean
    met = overlap_line(runs, "F", [8, 40])
    assert "not disjoint" in met and "`distill` (asked) holds 1 of its 2 questions (e.g. id 8)" in met and "`sft` (examples) holds" not in met
    assert overlap_line(tmp_path / "none", "F", [1]).startswith("No training run beside it")


# -- the choice rule -----------------------------------------------------------------------------------

def cand(prompt: str, right: range | list[int], tokens: float = 100.0, total: int = 100) -> Candidate:
    ids = frozenset(right)
    return Candidate(prompt, len(ids), total, tokens, ids)


def test_a_significantly_better_candidate_replaces_the_default() -> None:
    c = choose([cand("cot", range(0, 20)), cand("qwen-boxed", range(0, 45))], "cot", 0.05)
    assert c.chosen == "qwen-boxed" and c.best == "qwen-boxed" and c.p_best_vs_default < 0.05


def test_a_winner_that_is_not_significant_keeps_the_default_and_says_so() -> None:
    c = choose([cand("cot", range(0, 20)), cand("qwen-boxed", range(0, 24))], "cot", 0.05)
    assert c.chosen == "cot" and c.best == "qwen-boxed" and c.p_best_vs_default >= 0.05 and "not significantly" in c.reason


def test_a_tie_goes_to_fewer_tokens() -> None:
    results = [cand("cot", range(0, 10)), cand("long", range(0, 40), tokens=300), cand("short", range(1, 41), tokens=150)]
    c = choose(results, "cot", 0.05)
    assert c.best == "short" and c.chosen == "short"


def test_the_default_as_best_is_kept_and_unequal_slices_are_refused() -> None:
    assert choose([cand("cot", range(0, 30)), cand("b", range(0, 20))], "cot", 0.05).chosen == "cot"
    with pytest.raises(ValueError, match="same number"):
        choose([cand("cot", range(0, 30)), cand("b", range(0, 20), total=50)], "cot", 0.05)


def test_a_grown_dev_slice_is_a_second_look_and_the_page_says_what_it_costs(tmp_path: Path) -> None:
    from tinyreason.protocol import earlier_looks, looks_line

    cfg = ProtocolConfig(candidates=["cot", "qwen-boxed"], dev_n=600, out=str(tmp_path))
    first = {"chosen": "cot", "best": "qwen-boxed", "default": "cot", "p_best_vs_default": 0.058, "reason": "kept",
             "candidates_run": ["cot", "qwen-boxed"], "alpha": 0.05, "dev_n": 300, "seed": 42, "dev": {"fingerprint": "F"}}
    looks = earlier_looks(first, cfg, "F")
    assert looks == [{"dev_n": 300, "chosen": "cot", "best": "qwen-boxed", "p_best_vs_default": 0.058, "reason": "kept"}]
    line = looks_line({**first, "dev_n": 600, "earlier_looks": looks})
    assert line.startswith("**Look 2 at this comparison**") and "n = 300, 600" in line and "that chance is 0.083 in all" in line
    assert looks_line({**first, "earlier_looks": []}) is None
    # a third look keeps the first two; the same slice, a smaller one or another sweep is no earlier look
    second = {**first, "dev_n": 600, "p_best_vs_default": 0.01, "earlier_looks": looks}
    assert [lk["dev_n"] for lk in earlier_looks(second, cfg.model_copy(update={"dev_n": 900}), "F")] == [300, 600]
    assert earlier_looks(second, cfg, "F") == [] and earlier_looks(None, cfg, "F") == []
    assert earlier_looks({**first, "candidates_run": ["cot", "hash-steps"]}, cfg, "F") == []
    assert earlier_looks({**first, "seed": 7}, cfg, "F") == [] and earlier_looks(first, cfg, "G") == []  # another sweep or data
