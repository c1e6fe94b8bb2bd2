"""An error is not an answer: failed generations never enter the accuracy, a run with errors is incomplete and
exits non-zero, a rerun retries exactly the failed questions, and a run stops early when the server is down.

Against loopback fake servers (tests/openai_server.py): refusing, dropping the connection, 500 for ever, a 200
whose body is not JSON, then healthy; and an in-process backend whose generate raises.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openai_server import Action, FakeOpenAI
from tiny import PROBLEMS, write_gsm8k_jsonl
from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.cli import app
from tinyreason.cli.evaluate import ERRORS_EXIT
from tinyreason.data import load_jsonl, select
from tinyreason.evaluate import evaluate
from tinyreason.methods import create_method

runner = CliRunner()


def _right(question: str, body: dict, i: int) -> str:
    gold = {q: a.rsplit("#### ", 1)[1] for q, a in PROBLEMS}
    return f"So the answer is #### {next((g for q, g in gold.items() if q in question), '0')}"


def _eval(base_url: str, data: Path, out: Path, *extra: str) -> Any:
    args = ["eval", "--backend", "openai", "--model", "m", "--base-url", base_url, "--data", str(data), "--out", str(out),
            "--limit", "4", "-b", "max_retries=0", "--timeout", "5", *extra]
    return runner.invoke(app, args, catch_exceptions=False, env={"COLUMNS": "300"})


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _subset(data: Path, limit: int = 4) -> list[Any]:
    return select(load_jsonl(data), limit, 42)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_refused_server_gives_errors_not_answers_and_a_non_zero_exit(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl")
    res = _eval(f"http://127.0.0.1:{_free_port()}/v1", data, tmp_path / "r")
    assert res.exit_code == ERRORS_EXIT, res.output
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (m["complete"], m["errors"], m["answered"], m["total"], m["correct"], m["expected_total"]) == (False, 4, 0, 0, 0, 4)
    assert not _lines(tmp_path / "r" / "samples.jsonl")  # nothing was graded
    errors = _lines(tmp_path / "r" / "errors.jsonl")
    assert sorted(e["id"] for e in errors) == sorted(p.id for p in _subset(data)) and all("Connection" in e["error"] for e in errors)
    assert "4 question(s) failed to generate" in " ".join(res.output.split()) and "APIConnectionError" in res.output


@pytest.mark.parametrize("fault", [Action(status=500), Action(drop=True), Action(html=True)], ids=["500", "dropped", "not-json"])
def test_a_failing_server_then_a_healthy_one_completes_the_run_on_rerun(tmp_path: Path, fault: Action) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl")
    out = tmp_path / "r"
    victim = _subset(data)[1]
    with FakeOpenAI(_right) as srv:
        srv.plan(victim.question, fault, repeat=True)
        first = _eval(srv.base_url, data, out, "--batch-size", "1")  # a body that is not JSON aborts its whole batch (a wrong URL, usually)
        assert first.exit_code == ERRORS_EXIT, first.output
        m = json.loads((out / "metrics.json").read_text())
        assert (m["complete"], m["errors"], m["answered"], m["correct"], m["total"]) == (False, 1, 3, 3, 3)  # 3/3, not 3/4
        assert [e["id"] for e in _lines(out / "errors.jsonl")] == [victim.id]
        srv.clear_plans()
        asked = len(srv.requests)
        second = _eval(srv.base_url, data, out, "--batch-size", "1")
        assert second.exit_code == 0, second.output
        assert len(srv.requests) == asked + 1 and victim.question in srv.requests[-1]["messages"][-1]["content"]  # only the failed one
    samples = _lines(out / "samples.jsonl")
    assert sorted(s["id"] for s in samples) == sorted(p.id for p in _subset(data))  # no duplicate, no lost id
    m = json.loads((out / "metrics.json").read_text())
    assert (m["complete"], m["errors"], m["correct"], m["total"]) == (True, 0, 4, 4)


def test_a_server_that_is_down_stops_the_run_after_max_errors_questions_in_a_row(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl")
    with FakeOpenAI(_right) as srv:
        srv.plan("", Action(status=503), repeat=True)  # every question
        res = _eval(srv.base_url, data, tmp_path / "r", "--limit", "6", "--batch-size", "1", "--max-errors", "2")
        assert res.exit_code == ERRORS_EXIT, res.output
        assert len(srv.requests) == 2  # stopped after the second failed question, not after all six
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["errors"] == 2 and m["expected_total"] == 6 and "--max-errors 2" in m["stopped"] and "--max-errors 2" in res.output


def test_a_multi_call_method_failing_on_its_second_call_keeps_no_half_question(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl")
    out = tmp_path / "r"
    with FakeOpenAI(_right) as srv:
        srv.plan("Review the proposed solution", Action(status=500), Action(status=200))  # the first review call fails
        res = _eval(srv.base_url, data, out, "--method", "reflect", "--concurrency", "1", "--batch-size", "1")
        assert res.exit_code == ERRORS_EXIT, res.output
        (err,) = _lines(out / "errors.jsonl")
        assert [g["stage"] for g in err["generations"]] == ["answer", "reflect"] and err["calls"] == 2
        assert err["id"] not in {s["id"] for s in _lines(out / "samples.jsonl")}
        assert _eval(srv.base_url, data, out, "--method", "reflect", "--concurrency", "1", "--batch-size", "1").exit_code == 0
    samples = _lines(out / "samples.jsonl")
    assert sorted(s["id"] for s in samples) == sorted(p.id for p in _subset(data)) and all(s["calls"] == 2 for s in samples)


def test_an_in_process_backend_that_raises_makes_errors_with_the_traceback(tmp_path: Path) -> None:
    data = load_jsonl(write_gsm8k_jsonl(tmp_path / "d.jsonl"))
    calls = {"n": 0}

    def respond(chat: Any, params: Any, k: int) -> list[str]:
        calls["n"] += 1
        if _subset(tmp_path / "d.jsonl")[0].question in chat[-1]["content"]:
            raise RuntimeError("CUDA out of memory at batch 1 (scripted)")
        return ["#### 0"] * params.n

    m = evaluate(ScriptedBackend(responder=respond), create_method("greedy"), data, tmp_path / "r", limit=4, seed=42, batch_size=1, progress=False)
    (err,) = _lines(tmp_path / "r" / "errors.jsonl")
    assert err["error"] == "RuntimeError: CUDA out of memory at batch 1 (scripted)" and "Traceback" in err["traceback"]
    assert (m["errors"], m["answered"], m["complete"]) == (1, 3, False) and m["first_error"]["id"] == err["id"]


def test_downstream_an_errored_run_is_incomplete_and_gets_no_verdict(tmp_path: Path) -> None:
    data = write_gsm8k_jsonl(tmp_path / "d.jsonl")
    with FakeOpenAI(_right) as srv:
        assert _eval(srv.base_url, data, tmp_path / "base").exit_code == 0
        srv.plan(_subset(data)[2].question, Action(status=500), repeat=True)
        assert _eval(srv.base_url, data, tmp_path / "flaky", "--method", "sc", "--n", "2").exit_code == ERRORS_EXIT
    res = runner.invoke(app, ["metrics", str(tmp_path / "flaky")], env={"COLUMNS": "300"})
    assert res.exit_code == ERRORS_EXIT and "answered 3 of 4" in res.output
    res = runner.invoke(app, ["leaderboard", str(tmp_path / "base"), str(tmp_path / "flaky"), "--out", str(tmp_path / "lb")], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    board = (tmp_path / "lb" / "LEADERBOARD.md").read_text()
    assert "| flaky |" in board and "none: incomplete 3/4, 1 error" in board and "3/4 (1 failed)" in board
    res = runner.invoke(app, ["leaderboard", str(tmp_path / "base"), str(tmp_path / "flaky"), "--out", str(tmp_path / "lb2"), "--include-incomplete"])
    assert res.exit_code == 0 and "(incomplete 3/4, 1 error)" in (tmp_path / "lb2" / "LEADERBOARD.md").read_text()
