"""Data loading, gold parsing, clear errors on bad rows, and the seeded subset."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tinyreason.data import DataError, load_jsonl, load_problems, select, subset_ids


def test_load_jsonl_parses_gold_and_ids(gsm8k_file: Path) -> None:
    ds = load_jsonl(gsm8k_file)
    assert [p.id for p in ds.problems] == list(range(12))
    assert ds.problems[0].gold == "7"
    assert ds.problems[9].gold == "3600"  # "#### 3,600" normalized
    assert ds.problems[10].gold == "-4"
    assert ds.problems[0].solution.endswith("#### 7")
    assert load_problems(str(gsm8k_file)).fingerprint() == ds.fingerprint()


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"question": "q?"}), "missing field 'answer'"),
        (json.dumps({"answer": "#### 3"}), "missing field 'question'"),
        (json.dumps({"question": "q?", "answer": "no number here"}), "no number after '####'"),
        (json.dumps({"question": "", "answer": "#### 3"}), "field 'question' must be a non-empty string"),
        (json.dumps([1, 2]), "expected a JSON object"),
        ("", "blank line"),
    ],
)
def test_bad_rows_name_file_line_and_problem(tmp_path: Path, line: str, message: str) -> None:
    f = tmp_path / "bad.jsonl"
    ok = json.dumps({"question": "ok?", "answer": "#### 1"})
    f.write_text(ok + "\n" + line + "\n" + ok + "\n")
    with pytest.raises(DataError) as e:
        load_jsonl(f)
    assert f"{f}:2" in str(e.value) and message in str(e.value) and "--skip-bad-rows" in str(e.value)
    ds = load_jsonl(f, skip_bad_rows=True)
    assert [p.id for p in ds.problems] == [0, 2]
    assert len(ds.skipped) == 1 and f"{f}:2" in ds.skipped[0]


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        load_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataError, match="no usable rows"):
        load_jsonl(tmp_path / "empty.jsonl")


def test_trailing_blank_lines_are_accepted_but_a_blank_line_in_the_middle_is_not(tmp_path: Path) -> None:
    row = json.dumps({"question": "ok?", "answer": "#### 1"})
    f = tmp_path / "trailing.jsonl"
    f.write_text(f"{row}\n{row}\n\n  \n\n")  # an editor's extra newline, or a few
    ds = load_jsonl(f)
    assert [p.id for p in ds.problems] == [0, 1] and ds.skipped == []
    f.write_text(f"{row}\n\n{row}\n")
    with pytest.raises(DataError, match=r"trailing.jsonl:2: blank line.*--skip-bad-rows"):
        load_jsonl(f)


def test_every_bad_row_error_names_the_skip_flag(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text("{not json\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: not valid JSON .*--skip-bad-rows"):
        load_jsonl(f)


def test_a_directory_as_data_says_so_and_names_the_files_in_it(tmp_path: Path) -> None:
    (tmp_path / "test.jsonl").write_text(json.dumps({"question": "ok?", "answer": "#### 1"}) + "\n")
    for data in (str(tmp_path), str(tmp_path) + "/"):
        with pytest.raises(DataError) as e:
            load_problems(data)
        message = str(e.value)
        assert "is a directory" in message and "no such file" not in message
        assert str(tmp_path / "test.jsonl") in message


def test_subset_is_the_documented_sha256_order() -> None:
    ids = subset_ids(1319, 600, 42)
    key = lambda i: hashlib.sha256(f"tinyreason-subset:42:{i}".encode()).digest()  # noqa: E731
    assert ids == sorted(range(1319), key=key)[:600]
    assert len(set(ids)) == 600 and all(0 <= i < 1319 for i in ids)
    # pinned: the same ids on every machine and Python version
    assert ids[:5] == PINNED_FIRST_IDS
    assert subset_ids(1319, 600, 42) == ids
    assert subset_ids(1319, 600, 43) != ids
    assert subset_ids(1319, 100, 42) == ids[:100]  # a smaller limit is a prefix


def test_limit_at_or_above_rows_takes_every_row(gsm8k_file: Path) -> None:
    ds = load_jsonl(gsm8k_file)
    assert sorted(p.id for p in select(ds, 12, 42)) == list(range(12))
    assert sorted(p.id for p in select(ds, 10_000, 42)) == list(range(12))
    assert len(select(ds, 5, 42)) == 5
    with pytest.raises(ValueError, match="--limit"):
        subset_ids(10, 0, 42)


PINNED_FIRST_IDS = [556, 1005, 670, 979, 653]
