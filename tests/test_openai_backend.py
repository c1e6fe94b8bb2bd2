"""The OpenAI-compatible backend against a real HTTP server on loopback (tests/openai_server.py): request
fields, n samples and refills, usage accounting, retries, per-prompt errors, bounded concurrency, secrets;
and `tinyreason eval --backend openai` end to end."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openai_server import Action, FakeOpenAI
from tinyreason.answers import parse_gold
from tinyreason.backends import create_backend
from tinyreason.backends.openai_compat import OpenAIBackend, OpenAIRequestError, public_url, split_tokens
from tinyreason.backends.spec import create_backend_from_spec, parse_backend_spec
from tinyreason.cli import app
from tinyreason.types import SamplingParams
from tiny import PROBLEMS

GOLD = {q: parse_gold(a) for q, a in PROBLEMS}
runner = CliRunner()


def solve(question: str, body: dict, i: int) -> str:
    """A perfect 'model': finds the tiny-dataset question inside the prompt and answers it."""
    gold = next((g for q, g in GOLD.items() if q in question), "0")
    return f"Let me think step by step (sample {i}).\n#### {gold}"


def chat(text: str) -> list:
    return [{"role": "user", "content": text}]


def backend(srv: FakeOpenAI, **kw: object) -> OpenAIBackend:
    kw.setdefault("api_key_env", "TINYREASON_NO_SUCH_VAR")
    return OpenAIBackend(model="fake-model", base_url=srv.base_url, **kw)  # type: ignore[arg-type]


def test_request_fields_n_samples_and_usage() -> None:
    with FakeOpenAI(solve) as srv:
        b = backend(srv)
        (greedy,), (sampled,) = b.generate([chat("How many apples?")], SamplingParams(max_new_tokens=33)), b.generate(
            [chat("A box holds 12 eggs. How many eggs are in 5 boxes?")], SamplingParams(n=3, temperature=0.7, top_p=0.9, seed=5)
        )
        g, s = srv.requests
    assert g["temperature"] == 0 and g["n"] == 1 and g["max_tokens"] == 33 and g["model"] == "fake-model"
    assert s["n"] == 3 and s["temperature"] == 0.7 and s["top_p"] == 0.9 and s["seed"] == 5
    assert len(greedy) == 1 and len(sampled) == 3 and len(srv.requests) == 2  # n in one request
    assert [c.text.split("(sample ")[1][0] for c in sampled] == ["0", "1", "2"]
    assert all(c.finish_reason == "stop" and c.error is None and c.text.endswith("#### 60") for c in sampled)
    assert sum(c.n_tokens for c in sampled) == sum(len(c.text.split()) + 1 for c in sampled)  # usage split, exact sum
    assert all(c.prompt_tokens == len(s["messages"][0]["content"].split()) for c in sampled)  # the prompt's length, from usage


def test_split_tokens_and_public_url() -> None:
    assert split_tokens(10, ["a", "a"]) == [5, 5] and sum(split_tokens(7, ["xx", "y", "zzzz"])) == 7 and split_tokens(0, []) == []
    assert public_url("http://user:pw@127.0.0.1:8000/v1/?api-key=abc") == "http://127.0.0.1:8000/v1"


def test_fewer_choices_than_n_are_refilled_then_reported() -> None:
    with FakeOpenAI(solve, max_choices=2) as srv:
        (five,) = backend(srv).generate([chat("q")], SamplingParams(n=5, temperature=1.0, seed=7))
        assert [r["n"] for r in srv.requests] == [5, 3, 1] and [r["seed"] for r in srv.requests] == [7, 8, 9]
    assert len(five) == 5 and all(c.finish_reason == "stop" for c in five)
    with FakeOpenAI(solve, max_choices=1) as srv:
        (three,) = backend(srv, refill_rounds=1).generate([chat("q")], SamplingParams(n=3, temperature=1.0))
    assert [c.finish_reason for c in three] == ["stop", "stop", "error"] and "2 of n=3" in (three[2].error or "")


def test_retries_then_per_prompt_error_without_losing_the_others() -> None:
    with FakeOpenAI(solve) as srv:
        srv.plan("rate", Action(status=429, headers={"Retry-After": "0"}))
        srv.plan("flaky", Action(status=500), Action(status=503))
        srv.plan("slow", Action(sleep=1.0))
        srv.plan("broken", Action(status=500), repeat=True)
        srv.plan("cut", Action(finish="length"))
        t0 = time.perf_counter()
        outs = backend(srv, max_retries=2, timeout=0.5).generate(
            [chat(x) for x in ("rate", "flaky", "slow", "broken", "cut", "fine")], SamplingParams()
        )
        wall = time.perf_counter() - t0
        counts = {x: srv.count(x) for x in ("rate", "flaky", "slow", "broken", "fine")}
    rate, flaky, slow, broken, cut, fine = (o[0] for o in outs)
    assert counts == {"rate": 2, "flaky": 3, "slow": 2, "broken": 3, "fine": 1}
    for c in (rate, flaky, slow, fine):
        assert c.finish_reason == "stop" and c.error is None and c.text.startswith("Let me think")
    assert broken.finish_reason == "error" and broken.text == "" and "500" in (broken.error or "")
    assert cut.finish_reason == "length"
    assert wall < 10


def test_concurrency_is_bounded() -> None:
    with FakeOpenAI(solve, delay=0.15) as srv:
        outs = backend(srv, concurrency=3).generate([chat(f"q{i}") for i in range(10)], SamplingParams())
        assert srv.max_in_flight == 3 and len(srv.requests) == 10
    assert [len(o) for o in outs] == [1] * 10


def test_key_comes_from_env_and_never_leaks(monkeypatch: pytest.MonkeyPatch) -> None:
    key, wrong = f"sk-test-{secrets.token_hex(16)}", f"sk-wrong-{secrets.token_hex(16)}"
    monkeypatch.setenv("TR_GOOD_KEY", key)
    monkeypatch.setenv("TR_WRONG_KEY", wrong)
    with FakeOpenAI(solve, key=key) as srv:
        good = OpenAIBackend(model="m", base_url=srv.base_url, api_key_env="TR_GOOD_KEY")
        assert good.generate([chat("q")], SamplingParams())[0][0].error is None  # the server checked the key
        assert key not in json.dumps(good.describe()) and key not in repr(good)
        bad = OpenAIBackend(model="m", base_url=srv.base_url, api_key_env="TR_WRONG_KEY")
        with pytest.raises(OpenAIRequestError) as e:
            bad.generate([chat("q")], SamplingParams())
    assert "401" in str(e.value) and "TR_WRONG_KEY" in str(e.value) and wrong not in str(e.value) and "***" in str(e.value)


def test_configuration_errors_are_loud() -> None:
    with FakeOpenAI(solve) as srv:
        with pytest.raises(OpenAIRequestError, match="does not know model 'no-such-model'"):
            OpenAIBackend(model="no-such-model", base_url=srv.base_url).generate([chat("q")], SamplingParams())
        srv.plan("web page", Action(html=True))
        with pytest.raises(OpenAIRequestError, match="did not answer in the chat-completions format"):
            backend(srv).generate([chat("web page")], SamplingParams())
    with pytest.raises(ValueError, match=r"base_url: Field required — server URL, e\.g\. http://127\.0\.0\.1:8000/v1"):
        create_backend("openai", model="m")
    with pytest.raises(ValueError, match=r"api_key: Extra inputs are not permitted.*it takes: model, base_url, api_key_env"):
        create_backend("openai", model="m", base_url="http://127.0.0.1:1/v1", api_key="sk-nope")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("openai:gpt-4o-mini@https://api.openai.com/v1", ("openai", {"model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1"})),
        ("openai:Qwen/Qwen2.5-7B@http://u:p@10.0.0.1:8000/v1", ("openai", {"model": "Qwen/Qwen2.5-7B", "base_url": "http://u:p@10.0.0.1:8000/v1"})),
        ("hf:/models/qwen", ("hf", {"model": "/models/qwen"})),
        ("hf:Qwen/Qwen2.5-0.5B-Instruct", ("hf", {"model": "Qwen/Qwen2.5-0.5B-Instruct"})),
        ("scripted:rules.json", ("scripted", {"model": "rules.json"})),
    ],
)
def test_parse_backend_spec(spec: str, expected: tuple) -> None:
    assert parse_backend_spec(spec) == expected


@pytest.mark.parametrize("spec, msg", [("gpt-4o", "not NAME:MODEL"), ("magic:m", "unknown backend 'magic'"), ("openai:gpt-4o", "MODEL@BASE_URL"), ("hf:", "not NAME:MODEL")])
def test_bad_backend_spec_lists_the_forms(spec: str, msg: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_backend_spec(spec)
    assert msg in str(e.value) and "openai:MODEL@BASE_URL" in str(e.value) and "hf:MODEL" in str(e.value)


def test_create_backend_from_spec(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "", "responses": ["#### 1"]}]))
    assert create_backend_from_spec(f"scripted:{rules}").describe()["model"] == str(rules)
    with pytest.raises(ValueError, match="already sets model"):
        create_backend_from_spec(f"scripted:{rules}", model="x")


def _eval(srv: FakeOpenAI, data: Path, out: Path, *extra: str) -> object:
    args = ["eval", "--backend", "openai", "--model", "fake-model", "--base-url", srv.base_url, "--api-key-env", "TR_EVAL_KEY",
            "--concurrency", "2", "--data", str(data), "--out", str(out), "--limit", "4", *extra]
    return runner.invoke(app, args, catch_exceptions=False)


def test_eval_backend_openai_end_to_end(gsm8k_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"sk-eval-{secrets.token_hex(16)}"
    monkeypatch.setenv("TR_EVAL_KEY", key)
    with FakeOpenAI(solve, key=key) as srv:
        res = _eval(srv, gsm8k_file, tmp_path / "greedy")
        assert res.exit_code == 0, res.output
        assert len(srv.requests) == 4 and all(r["temperature"] == 0 and r["n"] == 1 for r in srv.requests)
        res = _eval(srv, gsm8k_file, tmp_path / "sc", "--method", "sc", "--n", "3", "--temperature", "0.7")
        assert res.exit_code == 0, res.output
        assert len(srv.requests) == 8 and all(r["n"] == 3 for r in srv.requests[4:])
        again = _eval(srv, gsm8k_file, tmp_path / "sc", "--method", "sc", "--n", "3", "--temperature", "0.7")
        assert again.exit_code == 0 and len(srv.requests) == 8  # resumed: nothing left to ask
    for run in ("greedy", "sc"):
        m = json.loads((tmp_path / run / "metrics.json").read_text())
        assert m["accuracy"] == 1.0 and m["total"] == 4 and m["generated_tokens"] > 0
    cfg = json.loads((tmp_path / "sc" / "config.json").read_text())
    assert cfg["backend"] == {"backend": "openai", "model": "fake-model", "base_url": srv.base_url}
    samples = [json.loads(x) for x in (tmp_path / "sc" / "samples.jsonl").read_text().splitlines()]
    assert all(len(s["generations"]) == 3 and s["pass_at_k"] for s in samples)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert key not in f.read_text(errors="replace"), f


def test_base_url_is_refused_by_other_backends(gsm8k_file: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"match": "", "responses": ["#### 1"]}]))
    res = runner.invoke(app, ["eval", "--backend", "scripted", "--model", str(rules), "--data", str(gsm8k_file),
                              "--out", str(tmp_path / "x"), "--base-url", "http://127.0.0.1:1/v1"])
    assert res.exit_code == 2 and "backend 'scripted' options are invalid (base_url: Extra inputs are not permitted" in res.output
    assert "it takes: model" in res.output and not (tmp_path / "x").exists()


@pytest.mark.parametrize("flags", [["--device", "cpu"], ["--dtype", "float32"], ["-b", "nonsense=1"]])
def test_every_backend_flag_reaches_the_backend_config(flags: list[str], gsm8k_file: Path, tmp_path: Path) -> None:
    """No flag is silently dropped: one the chosen backend does not take is refused before any work."""
    res = runner.invoke(app, ["eval", "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:1/v1",
                              "--data", str(gsm8k_file), "--out", str(tmp_path / "x"), *flags])
    key = flags[0].lstrip("-") if flags[0] != "-b" else "nonsense"
    assert res.exit_code == 2 and f"{key}: Extra inputs are not permitted" in res.output, res.output
