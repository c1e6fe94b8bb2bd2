"""`tinyreason eval`'s flags are generated from EvalSpec (cli/config_flags.py, as for `train sft`): each field a
flag, `--config FILE` an EvalSpec in YAML with flags winning, and the common method and backend options
(`--n`, `--dtype`, ...) plus `-o` / `-b KEY=VALUE` filling method_options and backend_options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tinyreason.cli import app
from tinyreason.spec import EvalSpec

runner = CliRunner()


@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> list[EvalSpec]:
    """The spec `eval` would run (run_eval replaced: nothing loads)."""
    import tinyreason.spec

    specs: list[EvalSpec] = []

    def run_eval(spec: EvalSpec, **kw: Any) -> None:
        specs.append(spec)
        raise OSError("captured: not run")

    monkeypatch.setattr(tinyreason.spec, "run_eval", run_eval)
    return specs


def _eval(*args: object) -> Any:
    return runner.invoke(app, ["eval", *map(str, args)], catch_exceptions=False)


def _spec(captured: list[EvalSpec], *args: object) -> EvalSpec:
    res = _eval(*args)
    assert res.exit_code == 2 and "captured: not run" in res.output and captured, res.output
    return captured[-1]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_no_flag_leaves_every_field_at_the_specs_default(captured: list[EvalSpec]) -> None:
    assert _spec(captured) == EvalSpec()


def test_generated_flags_set_their_fields(captured: list[EvalSpec], tmp_path: Path) -> None:
    spec = _spec(captured, "--subset-from", "end", "--max-errors", "0", "--split", "train", "--limit", "3", "--seed", "7",
                 "--skip-bad-rows", "--out", tmp_path / "run")
    assert (spec.subset_from, spec.max_errors, spec.split, spec.limit, spec.seed) == ("end", 0, "train", 3, 7)
    assert spec.skip_bad_rows is True and spec.out == tmp_path / "run"


def test_common_method_and_backend_flags_land_in_their_options(captured: list[EvalSpec], tmp_path: Path) -> None:
    spec = _spec(captured, "--method", "sc", "--n", "3", "--temperature", "0.5", "--top-p", "0.9", "--max-new-tokens", "64", "--prompt", "cot",
                 "--backend", "hf", "--adapter", tmp_path / "sft", "--dtype", "float32", "--device", "cpu", "--batch-size", "2", "-b", "revision=main")
    assert spec.method_options == {"n": 3, "temperature": 0.5, "top_p": 0.9, "max_new_tokens": 64, "prompt": "cot"}
    assert spec.backend_options == {"adapter": str(tmp_path / "sft"), "dtype": "float32", "device": "cpu", "batch_size": 2, "revision": "main"}
    spec = _spec(captured, "--backend", "openai", "--base-url", "http://127.0.0.1:1/v1", "--timeout", "60", "--concurrency", "4",
                 "--api-key-env", "KEY", "--method", "sc-verifier", "--force")
    assert spec.backend_options == {"base_url": "http://127.0.0.1:1/v1", "timeout": 60.0, "concurrency": 4, "api_key_env": "KEY"}
    assert spec.method_options == {"force": True}


def test_a_key_value_pair_wins_over_the_keys_own_flag(captured: list[EvalSpec]) -> None:
    spec = _spec(captured, "--method", "sc", "--n", "3", "-o", "n=4", "--option", "temperature=0.2", "--backend", "hf", "--dtype", "float16",
                 "--backend-option", "dtype=float32")
    assert spec.method_options == {"n": 4, "temperature": 0.2} and spec.backend_options == {"dtype": "float32"}


EVAL_YAML = """\
method: sc
method_options: {n: 3, temperature: 0.5}
backend: hf
backend_options: {dtype: float32}
limit: 7
"""


def test_a_config_file_is_an_eval_spec_and_flags_given_win_key_by_key(captured: list[EvalSpec], tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text(EVAL_YAML)
    assert _spec(captured, "--config", path) == EvalSpec(method="sc", method_options={"n": 3, "temperature": 0.5}, backend="hf",
                                                          backend_options={"dtype": "float32"}, limit=7)
    spec = _spec(captured, "--config", path, "--limit", "9", "--n", "4", "--adapter", "sft")
    assert (spec.limit, spec.method, spec.backend) == (9, "sc", "hf")
    assert spec.method_options == {"n": 4, "temperature": 0.5}  # --n replaces the file's n, and keeps its temperature
    assert spec.backend_options == {"dtype": "float32", "adapter": "sft"}


@pytest.mark.parametrize(
    ("yaml", "message"),
    [
        ("method: sc\nlimit: 7\ntemprature: 0.5\n", "eval.yaml:3: temprature: unknown key (valid: model, method, method_options,"),
        ("method: greedy\nlimit: 0\n", "eval.yaml:2: limit 0: must be >= 1"),
        ("method: sc\nmethod_options:\n  n: 0\n", "eval.yaml:3: n 0: must be >= 1 — samples per question"),
        ("method: greedy\nmethod_options:\n  n: 2\n", "eval.yaml:3: method 'greedy' options are invalid (n: Extra inputs are not permitted); "
                                                     "it takes: prompt, max_new_tokens, seed"),
        ("limit: [600\n", "eval.yaml:2: not valid YAML"),
    ],
)
def test_a_bad_config_file_is_refused_naming_its_line(yaml: str, message: str, captured: list[EvalSpec], tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text(yaml)
    res = _eval("--config", path)
    assert res.exit_code == 2 and message in _flat(res.output) and not captured, res.output


def test_a_flag_over_a_bad_file_value_fixes_it_and_a_bad_flag_is_named(captured: list[EvalSpec], tmp_path: Path) -> None:
    path = tmp_path / "eval.yaml"
    path.write_text("method: sc\nmethod_options: {n: 0}\nlimit: 0\n")
    assert _spec(captured, "--config", path, "--n", "2", "--limit", "1").method_options == {"n": 2}
    res = _eval("--config", path, "--n", "2", "--limit", "-1")
    assert res.exit_code == 2 and "--limit -1: must be >= 1" in _flat(res.output)


def test_an_option_the_method_does_not_take_is_one_line_naming_those_it_does(captured: list[EvalSpec]) -> None:
    res = _eval("--method", "greedy", "--n", "3")
    line = "error: method 'greedy' options are invalid (n: Extra inputs are not permitted); it takes: prompt, max_new_tokens, seed"
    assert res.exit_code == 2 and res.output.strip() == line and not captured


def test_help_lists_the_generated_flags_the_shortcuts_and_the_config_file() -> None:
    out = runner.invoke(app, ["eval", "--help"]).output
    for flag in ("--config", "--subset-from", "--max-errors", "--skip-bad-rows", "--n", "--temperature", "--max-new-tokens", "--prompt",
                 "--force", "--option", "-o", "--adapter", "--dtype", "--base-url", "--timeout", "--backend-option", "-b", "--include"):
        assert f" {flag} " in f" {_flat(out).replace(',', ' ')} ", flag
    assert "--method-options" not in out and "--backend-options" not in out  # the mappings are filled by the flags above
