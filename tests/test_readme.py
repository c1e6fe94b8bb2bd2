"""The README's set-up is what a new user and CI run: two commands (install; test), CPU torch before the
project, CI's test command the README's, and the set-up says where a user without the Hub gets a model and data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Set-up")
    return readme[start : readme.index("\n## ", start)]


def _commands() -> list[str]:
    block = _setup().split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_setup_is_two_commands_and_cpu_torch_comes_before_the_project() -> None:
    install, test = _commands()
    assert "whl/cpu" in install and install.index("torch==") < install.index("pip install -e")
    assert "pytest" in test and "pip install" not in test


def test_ci_runs_the_readme_test_command() -> None:
    assert _commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_setup_says_where_a_model_and_data_come_from_without_the_hub() -> None:
    setup = " ".join(_setup().split())
    assert "--model PATH --data PATH" in setup
    assert "../shared/tools/get-reference-model.sh --hf" in setup and "../shared/data/gsm8k/" in setup
