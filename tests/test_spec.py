"""EvalSpec validates the whole evaluation before anything loads; the CLI builds one from its flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tinyreason.cli import app
from tinyreason.spec import EvalSpec


def test_defaults_and_run_dir_name() -> None:
    spec = EvalSpec(method="sc", data="x/gsm8k.jsonl", limit=50)
    assert spec.run_dir() == Path("runs/qwen2.5-0.5b-instruct-sc-gsm8k50-s42")
    assert spec.method_config_options() == {"seed": 42}
    assert spec.build_method().config.n == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "nope"}, "unknown method 'nope'"),
        ({"method": "sc", "method_options": {"n": 0}}, "n: Input should be greater than or equal to 1"),
        ({"method": "greedy", "method_options": {"n": 5}}, "it takes: prompt, max_new_tokens, seed"),
        ({"backend": "nope"}, "unknown backend 'nope'"),
        ({"backend": "hf", "backend_options": {"base_url": "http://x"}}, "base_url: Extra inputs are not permitted"),
        ({"backend": "hf", "backend_options": {"model": "m"}}, "must not set model"),
        ({"limit": 0}, "limit"),
        ({"split": "dev"}, "split"),
    ],
)
def test_invalid_specs_name_the_problem(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EvalSpec(**kwargs)


def test_cli_refuses_a_bad_spec_before_loading_anything(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["eval", "--model", str(tmp_path / "no-model"), "--method", "sc", "-o", "n=0", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "-o n=0: must be >= 1" in res.output
    assert not (tmp_path / "r").exists()
