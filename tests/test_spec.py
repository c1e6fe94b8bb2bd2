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
        ({"backend": "hf", "options_by_backend": {"openvino": {"model": "m"}}}, "must not set model"),
        ({"options_by_backend": {"nope": {"dtype": "float32"}}}, "unknown backend 'nope'"),
        ({"backend": "hf", "options_by_backend": {"vllm": {"weight_format": "bf16"}}}, "options_by_backend.vllm: vllm takes no option weight_format"),
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


def test_auto_is_resolved_once_per_eval_and_its_choice_recorded(tmp_path: Path, gsm8k_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from tinyreason.backends import auto
    from tinyreason.spec import run_eval

    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "", "responses": ["#### 1"]}]))
    monkeypatch.setattr(auto, "candidates", lambda model: [("scripted", "the test's only candidate")])
    calls = []
    real = auto.resolve_backend
    monkeypatch.setattr(auto, "resolve_backend", lambda options: calls.append(options) or real(options))
    spec = EvalSpec(model=str(rules), backend="auto", data=str(gsm8k_file), limit=2, out=tmp_path / "run")
    run_eval(spec, progress=False)
    assert len(calls) == 1  # the spec's validation resolved it; loading, the resume check and describe() reuse the choice
    backend = json.loads((tmp_path / "run" / "config.json").read_text())["backend"]
    assert backend["backend"] == "scripted" and backend["auto"] == {"chosen": "scripted", "reason": "the test's only candidate"}
    run_eval(EvalSpec(model=str(rules), backend="scripted", data=str(gsm8k_file), limit=2, out=tmp_path / "run"), progress=False)  # the same run


def test_options_by_backend_apply_only_to_the_backend_that_generates_and_backend_options_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from tinyreason.backends import auto

    given = {"openvino": {"weight_format": "bf16"}, "hf": {"dtype": "float32"}}
    assert EvalSpec(model="./m", backend="hf", options_by_backend=given).backend_config_options() == {"model": "./m", "dtype": "float32"}
    assert EvalSpec(model="./m", backend="openvino", options_by_backend=given).backend_config_options() == {"model": "./m", "weight_format": "bf16"}
    mine = EvalSpec(model="./m", backend="openvino", backend_options={"weight_format": "int4"}, options_by_backend=given)
    assert mine.backend_config_options()["weight_format"] == "int4"
    monkeypatch.setattr(auto, "candidates", lambda model: [("hf", "the test's only candidate")])
    chosen = EvalSpec(model="./m", backend="auto", options_by_backend=given)  # applied after auto chose
    assert chosen.backend_choice()[0] == "hf" and chosen.backend_config_options() == {"model": "./m", "dtype": "float32"}
    with pytest.raises(ValidationError, match="weight_format"):  # the chosen backend's Config still checks the values
        EvalSpec(model="./m", backend="openvino", options_by_backend={"openvino": {"weight_format": "int3"}})
