"""Training examples without a model: calculator stripping, traces-file validation, seeded selection,
the eval-prompt warning for adapters, and the prompt-parity check's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyreason.data import DataError, load_jsonl, select
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.train.checks import prompt_parity
from tinyreason.train.examples import human_examples, load_traces, select_examples, strip_calculator
from tinyreason.train.sft import adapter_prompt_warning


def test_strip_calculator_keeps_the_text_a_model_writes() -> None:
    sol = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert strip_calculator(sol) == "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips.\n#### 72"


def test_human_examples_end_with_the_answer_line(gsm8k_file: Path) -> None:
    exs = human_examples(load_jsonl(gsm8k_file))
    assert len(exs) == 12
    for e in exs:
        assert "<<" not in e.completion and e.completion.splitlines()[-1].startswith("#### ")
    assert exs[0].completion == "3 + 4 = 7\n#### 7" and exs[0].gold == "7"


def _write(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


GOOD = {"id": 3, "question": "Q?", "gold": "1,200", "completion": "So 1200.\n#### 1200", "teacher": "x", "steps": 5}


def test_traces_file_is_read_with_extra_keys(tmp_path: Path) -> None:
    (ex,) = load_traces(_write(tmp_path / "t.jsonl", [GOOD]))
    assert (ex.id, ex.gold, ex.completion) == (3, "1200", "So 1200.\n#### 1200")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in GOOD.items() if k != "completion"}, "t.jsonl:2: field 'completion' is missing"),
        ({**GOOD, "id": "3"}, "t.jsonl:2: field 'id' must be a non-negative integer"),
        ({**GOOD, "id": True}, "t.jsonl:2: field 'id' must be a non-negative integer"),
        ({**GOOD, "question": "  "}, "t.jsonl:2: field 'question' must be a non-empty string"),
        ({**GOOD, "gold": "seven"}, "t.jsonl:2: field 'gold' is not a number"),
        ({**GOOD, "id": 1}, "t.jsonl:2: field 'id' 1 already used on line 1"),
        ("{not json", "t.jsonl:2: not valid JSON"),
        ([1, 2], "t.jsonl:2: expected a JSON object"),
    ],
)
def test_bad_traces_name_file_line_and_field(tmp_path: Path, row: object, message: str) -> None:
    path = _write(tmp_path / "t.jsonl", [{**GOOD, "id": 1}, row])
    with pytest.raises(DataError, match=message.replace("?", r"\?")):
        load_traces(path)


def test_selection_is_seeded_prefix_stable_and_matches_data_select(gsm8k_file: Path) -> None:
    ds = load_jsonl(gsm8k_file)
    exs = human_examples(ds)
    five, ten = select_examples(exs, 5, seed=42), select_examples(exs, 10, seed=42)
    assert [e.id for e in ten[:5]] == [e.id for e in five]
    assert [e.id for e in ten] == [p.id for p in select(ds, 10, 42)]
    assert [e.id for e in select_examples(exs, 10, seed=7)] != [e.id for e in ten]
    with pytest.raises(ValueError, match="--train-n"):
        select_examples(exs, 0, seed=42)


def test_adapter_prompt_warning(tmp_path: Path) -> None:
    cot = get_prompt("cot")
    assert "cannot check" in (adapter_prompt_warning(tmp_path, cot) or "")
    record = {"prompt": {"name": "cot", "system": cot.system, "user": cot.user}}
    (tmp_path / "train_config.json").write_text(json.dumps(record))
    assert adapter_prompt_warning(tmp_path, cot) is None
    record["prompt"]["user"] = "Answer: {question}"
    (tmp_path / "train_config.json").write_text(json.dumps(record))
    warning = adapter_prompt_warning(tmp_path, cot) or ""
    assert "differs in: user" in warning and "--prompt cot" in warning


def test_prompt_parity_catches_template_and_token_differences(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    cot, q = get_prompt("cot"), "How many apples?"
    text = tok.apply_chat_template(cot.render(question=q), tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert prompt_parity(tok, cot, q, text, ids)["ok"]

    other = PromptTemplate(name="other", user="Think hard.\n\nQuestion: {question}")
    bad_text = tok.apply_chat_template(other.render(question=q), tokenize=False, add_generation_prompt=True)
    r = prompt_parity(tok, cot, q, bad_text, tok(bad_text, add_special_tokens=False)["input_ids"])
    assert not r["ok"] and not r["text_identical"] and r["text_first_difference"]["train"].startswith("Think hard")

    no_chat = cot.render(question=q)[0]["content"]  # the raw instruction, no chat template: a classic SFT bug
    assert not prompt_parity(tok, cot, q, no_chat, tok(no_chat)["input_ids"])["ok"]

    extra_token = [tok.convert_tokens_to_ids("<|endoftext|>"), *ids]  # same text, but a stray token in training
    r = prompt_parity(tok, cot, q, text, extra_token)
    assert not r["ok"] and r["text_identical"] and r["tokens_first_difference"]["index"] == 0
