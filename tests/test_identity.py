"""The one rule for "the same run" (tinyreason.identity): field metadata says what may change on a resume, and
every command's comparison — eval's, the trainers', reproduce's states — is that one function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from tinyreason.identity import EXTENDS, RESUMABLE, compare, extending_fields, resumable_fields


class Cfg(BaseModel):
    lr: float = 0.1
    steps: int = Field(10, json_schema_extra=EXTENDS)
    save_every: int = Field(5, json_schema_extra=RESUMABLE)
    new_option: str = "old behaviour"


def test_fields_declare_whether_they_make_another_run() -> None:
    assert resumable_fields(Cfg) == {"steps", "save_every"} and extending_fields(Cfg) == {"steps"}
    now = Cfg(lr=0.2, steps=60, save_every=1).model_dump()
    assert compare({"lr": 0.1, "steps": 10, "save_every": 5}, now, model=Cfg) == ["lr: stored 0.1 != now 0.2"]
    assert compare({"lr": 0.2}, Cfg(lr=0.2).model_dump(), model=Cfg) == []  # a field the run predates counts at its default
    assert compare({"lr": 0.2, "new_option": "x"}, Cfg(lr=0.2).model_dump(), model=Cfg) == ['new_option: stored "x" != now "old behaviour"']


def test_unknown_and_partial_keys() -> None:
    stored = {"backend": {"backend": "hf", "model": "m", "engine": "torch 2"}, "example_prompt": "a"}
    assert compare(stored, {"backend": {"backend": "hf", "model": "m"}, "example_prompt": "b"}, unknown=("example_prompt",),
                   partial=("backend",)) == []
    assert compare(stored, {"backend": {"backend": "hf", "model": "other"}}, unknown=("example_prompt",), partial=("backend",)) == [
        'backend.model: stored "m" != now "other"']


def test_a_content_key_that_differs_says_what_it_covers() -> None:
    """A model named by content differs as a hash: the line says which files the hash covers, config.json's
    transformers_version among them (the same weights converted under another release differ there)."""
    stored = {"backend": {"backend": "openvino", "source_sha256": "5ae5"}}
    (line,) = compare(stored, {"backend": {"backend": "openvino", "source_sha256": "a6e9"}})
    assert line.startswith('backend.source_sha256: stored "5ae5" != now "a6e9" (') and "transformers_version" in line
    assert compare({"model": "m"}, {"model": "n"}) == ['model: stored "m" != now "n"']  # other fields as before


def test_a_method_option_declared_resumable_is_not_identity_for_eval() -> None:
    """sc-verifier's audit_dir (where the audit lies, moved with the runs) is RESUMABLE in its Config: eval's
    identity leaves it out, as reproduce's state always did — one rule, no longer two."""
    from tinyreason.runs import config_diff

    base = {"kind": "eval", "method": {"name": "sc-verifier", "audit_dir": "/a/audits"}, "subset": {"limit": 2, "seed": 1, "ids": [1, 2]}}
    moved = json.loads(json.dumps(base))
    moved["method"]["audit_dir"] = "/elsewhere/audits"
    assert config_diff(base, moved) == []
    other = json.loads(json.dumps(base))
    other["method"]["n"] = 99
    assert config_diff(base, other) == ["method.n: stored 5 != now 99"]  # the stored run predates n: it ran at the default, 5


def test_a_training_run_continues_across_a_cadence_change_and_is_refused_for_a_real_one(tmp_path: Path) -> None:
    """The trainers' refusal and reproduce's state read the same config_differences."""
    from tinyreason.train.checkpoints import config_differences, refuse_other_run
    from tinyreason.train.grpo_config import GRPORunConfig

    cfg = GRPORunConfig(model="m", data="/clone/a/train.jsonl").model_dump(mode="json")
    moved = {**cfg, "data": "/clone/b/train.jsonl", "save_steps": 3, "max_steps": 400}  # the data path is not identity: its fingerprint is
    assert config_differences(cfg, moved, GRPORunConfig) == []
    record = {"kind": "grpo", "config": cfg, "data": {"fingerprint": "f"}}
    refuse_other_run(tmp_path, record, {**record, "config": moved}, GRPORunConfig)
    with pytest.raises(FileExistsError, match="learning_rate: stored 2e-05 != now 0.001"):
        refuse_other_run(tmp_path, record, {**record, "config": {**cfg, "learning_rate": 1e-3}}, GRPORunConfig)
    with pytest.raises(FileExistsError, match="fingerprint"):
        refuse_other_run(tmp_path, record, {**record, "data": {"fingerprint": "g"}}, GRPORunConfig)
