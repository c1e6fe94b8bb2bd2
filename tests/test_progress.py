"""Progress that moves: tokens are reported while a generate call runs (not only when a batch ends), the
bar shows sequences, tokens and tok/s, a resumed run says how much was done, and a torn last line of
samples.jsonl is repaired out loud."""

from __future__ import annotations

import json
from pathlib import Path

from openai_server import FakeOpenAI
from typer.testing import CliRunner

from tinyreason import progress
from tinyreason.backends.hf import HFBackend
from tinyreason.backends.openai_compat import OpenAIBackend
from tinyreason.cli import app
from tinyreason.types import SamplingParams

CHATS = [[{"role": "user", "content": "How many apples?"}], [{"role": "user", "content": "A longer question about eggs and boxes?"}]]


def _listen(calls: list[tuple[int, int]]):
    return progress.listening(lambda tokens, sequences: calls.append((tokens, sequences)))


def test_hf_reports_every_decoding_step_of_one_generate_call(tiny_model: Path) -> None:
    b = HFBackend(model=str(tiny_model), dtype="float32", batch_size=16)
    calls: list[tuple[int, int]] = []
    with _listen(calls):
        outs = b.generate(CHATS, SamplingParams(n=3, temperature=1.0, max_new_tokens=12, seed=3))  # one model.generate
    assert len(calls) > 2  # many reports from inside the one call, not one at its end
    assert sum(t for t, _ in calls) == sum(c.n_tokens for cs in outs for c in cs)
    assert sum(s for _, s in calls) == 6
    assert not progress.active()  # the listener is gone with its block (and the hf backend stops streaming)


def test_openai_reports_each_finished_request(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    with FakeOpenAI(lambda q, body, i: "one two three #### 3") as srv, _listen(calls):
        outs = OpenAIBackend(model="m", base_url=srv.base_url, concurrency=2).generate(CHATS, SamplingParams(n=2, temperature=0.7))
    assert sorted(s for _, s in calls) == [2, 2] and sum(t for t, _ in calls) == sum(c.n_tokens for cs in outs for c in cs) > 0


def _scripted_eval(tmp_path: Path, data: Path, limit: int) -> str:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "", "responses": ["three words here #### 7"]}]))  # 6 tokens a completion
    args = ["eval", "--backend", "scripted", "--model", str(rules), "--data", str(data), "--out", str(tmp_path / "run"), "--limit", str(limit)]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return " ".join(res.output.split())


def test_the_bar_shows_tokens_and_a_resume_says_how_much_was_done(tmp_path: Path, gsm8k_file: Path) -> None:
    first = _scripted_eval(tmp_path, gsm8k_file, 2)
    assert "2 seq · 12 tok ·" in first and "tok/s" in first and "resuming" not in first
    second = _scripted_eval(tmp_path, gsm8k_file, 4)
    assert "resuming: 2/4 questions done" in second and "2 seq · 12 tok ·" in second  # this session's work only


def test_a_torn_last_line_is_repaired_out_loud(tmp_path: Path, gsm8k_file: Path) -> None:
    _scripted_eval(tmp_path, gsm8k_file, 2)
    samples = tmp_path / "run" / "samples.jsonl"
    torn = '{"id": 99, "quest'  # the process died mid-write
    with samples.open("a") as fh:
        fh.write(torn)
    said = _scripted_eval(tmp_path, gsm8k_file, 3)
    assert f"repaired {samples}: cut off a half-written last line ({len(torn)} bytes" in said
    assert len(samples.read_text().splitlines()) == 3 and samples.read_text().endswith("}\n")
    assert "repaired" not in _scripted_eval(tmp_path, gsm8k_file, 3)  # nothing torn: nothing said
