"""What a new user hits first: `--version`, bad flag values refused with their valid range before anything
loads, and errors about a model path, a data path or a device that say what is wrong and what to do."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from typer.testing import CliRunner

from tinyreason.cli import app

runner = CliRunner()


def test_version_comes_from_the_package_metadata() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"tinyreason {metadata.version('tinyreason')}"
    out = subprocess.run([sys.executable, "-m", "tinyreason", "--version"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == res.output.strip()
