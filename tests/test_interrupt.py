"""Ctrl-C stops an eval promptly even while an OpenAI-compatible server never answers, and keeps every
finished question; SIGTERM does the same (also in a background job, where SIGINT is ignored); --timeout
bounds one request. Real subprocesses and a real SIGINT, against a loopback
server (tests/openai_server.py) that accepts requests and, for the planned questions, never answers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from openai_server import Action, FakeOpenAI
from typer.testing import CliRunner

from tiny import write_gsm8k_jsonl
from tinyreason.backends.openai_compat import OpenAIConfig
from tinyreason.cli import app

# Four questions of growing length: evaluate asks the shortest first, so with --batch-size 1 the HANG one is last.
QUESTIONS = [
    ("Add 1 and 2.", "#### 3"),
    ("Add 10 and 20, please.", "#### 30"),
    ("Add 100 and 200, then tell me the sum.", "#### 300"),
    ("HANG: add 1000 and 2000, and write out every step of the sum in full.", "#### 3000"),
]
EXIT_WITHIN_S = 10  # "a few seconds", generously: the interpreter itself is already running


def _reply(question: str, body: dict, i: int) -> str:
    return "The answer is 1. #### 1"


def _command(srv: FakeOpenAI, data: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "tinyreason", "eval", "--backend", "openai", "--model", "m", "--base-url", srv.base_url,
            "--data", str(data), "--out", str(out), "--limit", "4", "-b", "max_retries=0", *extra]


def _wait_until(condition: Callable[[], bool], proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 180  # startup imports torch and transformers: slow on a busy 2-core machine
    while not condition():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the eval never reached the hanging request"
        time.sleep(0.05)


def _interrupt(proc: subprocess.Popen, sig: int = signal.SIGINT) -> tuple[float, str]:
    """SIGINT (or `sig`), then seconds until the process exited and what it printed (killed after EXIT_WITHIN_S)."""
    proc.send_signal(sig)
    t0 = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=EXIT_WITHIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"still running {EXIT_WITHIN_S} s after Ctrl-C:\n{out}")
    return time.monotonic() - t0, out


def test_ctrl_c_stops_an_eval_waiting_on_a_server_that_never_answers(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl", QUESTIONS)
    with FakeOpenAI(_reply) as srv:
        srv.plan("", Action(hang=True), repeat=True)  # every request hangs
        proc = subprocess.Popen(_command(srv, data, tmp_path / "run", "--concurrency", "2"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        _wait_until(lambda: srv.in_flight >= 2, proc)
        seconds, out = _interrupt(proc)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "rerun the same command to resume" in " ".join(out.split()) and seconds < EXIT_WITHIN_S
    assert "Traceback" not in out


def _as_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what `cmd &` in a script does to the child: Ctrl-C never reaches it


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm-background"])
def test_interrupt_keeps_the_questions_that_finished_and_a_rerun_asks_only_the_rest(sig: int, tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl", QUESTIONS)
    out_dir = tmp_path / "run"
    with FakeOpenAI(_reply) as srv:
        srv.plan("HANG", Action(hang=True), repeat=True)
        cmd = _command(srv, data, out_dir, "--concurrency", "1", "--batch-size", "1")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=_as_background_job if sig == signal.SIGTERM else None)
        _wait_until(lambda: srv.count("HANG") >= 1, proc)
        seconds, out = _interrupt(proc, sig)
        assert proc.returncode == 130, out
        assert "rerun the same command to resume" in " ".join(out.split()) and "Traceback" not in out and seconds < EXIT_WITHIN_S
        saved = [json.loads(line) for line in (out_dir / "samples.jsonl").read_text().splitlines()]
        assert sorted(s["id"] for s in saved) == [0, 1, 2] and all(s["error"] is None for s in saved)
        srv.clear_plans()
        rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert len(srv.requests) == 5 and srv.count("HANG") == 2  # the three saved questions were not asked again
    assert sorted(json.loads(line)["id"] for line in (out_dir / "samples.jsonl").read_text().splitlines()) == [0, 1, 2, 3]


def test_timeout_bounds_one_request_and_says_which_flag_to_raise(tmp_path: Path) -> None:
    assert OpenAIConfig.model_fields["timeout"].default <= 120  # a hung server costs minutes at most, not hours
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl", QUESTIONS)
    before = signal.getsignal(signal.SIGTERM)
    with FakeOpenAI(_reply) as srv:
        srv.plan("HANG", Action(hang=True), repeat=True)
        res = CliRunner().invoke(app, _command(srv, data, tmp_path / "run", "--timeout", "0.5")[3:], catch_exceptions=False)
    assert res.exit_code == 3, res.output  # a timed-out question is an error, not a wrong answer: the run is incomplete
    assert signal.getsignal(signal.SIGTERM) is before  # the CLI's SIGTERM handler is gone once the command returns
    samples = {s["id"]: s for s in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    errors = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").read_text().splitlines()]
    assert [e["id"] for e in errors] == [3] and errors[0]["error"].startswith("APITimeoutError") and "--timeout" in errors[0]["error"]
    assert sorted(samples) == [0, 1, 2] and all(samples[i]["error"] is None for i in (0, 1, 2))
