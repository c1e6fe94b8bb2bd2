"""Run directory: config identity on resume, durable appends, torn-line repair, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tinyreason.runs import RunDir, RunError, RunMismatch


def _config(**over) -> dict:
    cfg = {"kind": "eval", "method": {"name": "greedy", "max_new_tokens": 512}, "subset": {"ids": [3, 1, 2]}, "versions": {"torch": "1"}, "created": "t0"}
    cfg.update(over)
    return cfg


def test_reopen_with_same_identity_is_allowed_even_if_versions_differ(tmp_path: Path) -> None:
    RunDir.open(tmp_path, _config())
    RunDir.open(tmp_path, _config(versions={"torch": "2"}, created="t1"))  # no error


def test_reopen_with_different_config_names_the_fields(tmp_path: Path) -> None:
    RunDir.open(tmp_path, _config())
    with pytest.raises(RunMismatch) as e:
        RunDir.open(tmp_path, _config(method={"name": "greedy", "max_new_tokens": 256}))
    assert "method.max_new_tokens" in str(e.value) and "512" in str(e.value) and "256" in str(e.value)


def test_append_and_torn_last_line_is_repaired(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, _config())
    run.append([{"id": 3, "correct": True}, {"id": 1, "correct": False}])
    with run.samples_path.open("a") as fh:
        fh.write('{"id": 2, "corr')  # the process died mid-write
    assert [s["id"] for s in run.samples()] == [3, 1]  # torn line ignored when reading
    assert [s["id"] for s in run.samples(repair=True)] == [3, 1]
    assert run.samples_path.read_text().endswith("}\n")  # and cut off when repairing
    run.append([{"id": 2, "correct": True}])
    assert [s["id"] for s in run.samples()] == [3, 1, 2]


def test_broken_middle_line_and_duplicates_are_errors(tmp_path: Path) -> None:
    run = RunDir.open(tmp_path, _config())
    run.samples_path.write_text('{"id": 1}\nnot json\n{"id": 2}\n')
    with pytest.raises(RunError, match=r"samples.jsonl:2: broken sample line"):
        run.samples()
    run.samples_path.write_text('{"id": 1}\n{"id": 1}\n')
    with pytest.raises(RunError, match=r"samples.jsonl:2: question id 1 appears twice"):
        run.samples()


def test_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a run directory"):
        RunDir(tmp_path).config()
    run = RunDir.open(tmp_path, _config())
    with pytest.raises(RunError, match="has not finished"):
        run.metrics()
    assert json.loads(run.config_path.read_text())["kind"] == "eval"
