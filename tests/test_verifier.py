"""The verifier family without a model: verdict parsing, the balanced audit set, audit scoring, the gate
that guards sc-verifier (blocks without a passing audit, passes with one, --force recorded), and
malformed verdicts counted rather than crashed on."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tinyreason.backends.scripted import ScriptedBackend
from tinyreason.data import Dataset
from tinyreason.evaluate import evaluate
from tinyreason.methods import create_method
from tinyreason.metrics import compute_metrics
from tinyreason.prompts import get_prompt
from tinyreason.types import Chat, Problem, SamplingParams
from tinyreason.verifier import AuditError, audit_path, build_audit_set, check_gate, parse_verdict, score_audit, write_audit

PROBLEMS = [Problem(id=i, question=f"Question number {i}?", gold=str(10 + i)) for i in range(3)]


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("CORRECT", "CORRECT"),
        ("INCORRECT", "INCORRECT"),
        ("The solution is correct.", "CORRECT"),
        ("incorrect - the second step is wrong, the correct answer is 5", "INCORRECT"),
        ("It is not correct.", "INCORRECT"),
        ("**Correct**", "CORRECT"),
        ("Yes.", None),
        ("", None),
        ("uncorrected", None),
    ],
)
def test_parse_verdict(text: str, verdict: str | None) -> None:
    assert parse_verdict(text) == verdict


def _samples(n_right: int, n_wrong: int) -> list[dict]:
    gens = [{"stage": "sample", "text": f"right {k} #### 10", "answer": "10", "extra": {}} for k in range(n_right)]
    gens += [{"stage": "sample", "text": f"wrong {k} #### 3", "answer": "3", "extra": {}} for k in range(n_wrong)]
    gens += [{"stage": "sample", "text": "no answer", "answer": None, "extra": {}}, {"stage": "verify", "text": "CORRECT", "answer": None, "extra": {}}]
    return [{"id": 0, "question": "Q?", "gold": "10", "generations": gens}]


def test_audit_set_is_balanced_seeded_and_says_when_a_class_is_short() -> None:
    items, note = build_audit_set(_samples(30, 70), size=40, seed=1)
    assert len(items) == 40 and sum(it["label"] for it in items) == 20 and note is None
    assert items == build_audit_set(_samples(30, 70), size=40, seed=1)[0]  # seeded
    assert items != build_audit_set(_samples(30, 70), size=40, seed=2)[0]
    items, note = build_audit_set(_samples(7, 70), size=40, seed=1)
    assert len(items) == 14 and sum(it["label"] for it in items) == 7 and "7 per class" in note
    with pytest.raises(AuditError, match="0 correct"):
        build_audit_set(_samples(0, 5), size=10, seed=1)


def test_audit_scoring_counts_unparseable_as_wrong() -> None:
    items = [{"label": True}, {"label": True}, {"label": False}, {"label": False}]
    r = score_audit(items, ["CORRECT", None, "INCORRECT", "CORRECT"], gate=0.6)
    assert r["accuracy"] == 0.5 and r["unparseable"] == 1 and r["unparseable_rate"] == 0.25 and not r["passed"]
    assert r["confusion"]["correct_chain"] == {"CORRECT": 1, "INCORRECT": 0, "unparseable": 1}
    assert r["confusion"]["incorrect_chain"] == {"CORRECT": 1, "INCORRECT": 1, "unparseable": 0}
    assert r["ci95"][0] < 0.5 < r["ci95"][1]


def _respond_factory(verdicts: dict[int, str]):
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        text = chat[-1]["content"]
        i = int(text.split("Question number ")[1].split("?")[0])
        if "Reply with exactly one word" in text:
            return [verdicts[i] if "#### 3" in text else "CORRECT"]  # only answers "3" get the scripted verdict
        return ["#### 3", "#### 3", f"#### {10 + i}", "nothing"][: params.n]

    return respond


def _write_audit(audit_dir: Path, backend: ScriptedBackend, accuracy: float) -> Path:
    path = audit_path(audit_dir, backend.describe(), get_prompt("verify"))
    write_audit(path, {"accuracy": accuracy, "total": 100, "ci95": [0.0, 1.0]})
    return path


def test_gate_blocks_without_a_passing_audit_and_passes_with_one(tmp_path: Path) -> None:
    b = ScriptedBackend(responder=_respond_factory({0: "INCORRECT", 1: "INCORRECT", 2: "INCORRECT"}))
    ds = Dataset(problems=PROBLEMS, source="test", split="test")
    audits = tmp_path / "audits"
    method = create_method("sc-verifier", n=4, audit_dir=str(audits))
    with pytest.raises(AuditError, match="no verifier audit.*audit-verifier"):
        evaluate(b, method, ds, tmp_path / "blocked", limit=None, progress=False)
    assert not (tmp_path / "blocked").exists()  # refused before the run directory was made
    _write_audit(audits, b, 0.5)
    with pytest.raises(AuditError, match="50.0% < gate 60%"):
        evaluate(b, method, ds, tmp_path / "blocked", limit=None, progress=False)
    # a lower gate lets the same audit pass; the audit found is recorded in the run config
    m = evaluate(b, create_method("sc-verifier", n=4, audit_dir=str(audits), gate=0.5), ds, tmp_path / "ok", limit=None, progress=False)
    cfg = json.loads((tmp_path / "ok" / "config.json").read_text())
    assert cfg["preflight"]["passed"] and cfg["preflight"]["audit_accuracy"] == 0.5 and not cfg["method"]["force"]
    assert m["total"] == 3
    # the audit is per model: another model's identity finds none
    with pytest.raises(AuditError):
        check_gate(audits, {**b.describe(), "model": "other"}, get_prompt("verify"), 0.5, False)


def test_before_the_model_loads_the_gate_weighs_every_audit_the_backend_may_turn_out_to_be(tmp_path: Path) -> None:
    """The description known before loading lacks what only the loaded backend says (here an engine version):
    the planned check refuses only when no audit it may match passed; the check after loading decides."""
    verify = get_prompt("verify")
    planned = {"backend": "openvino", "model": "m", "weight_format": "bf16"}
    audits = tmp_path / "audits"
    with pytest.raises(AuditError, match="no verifier audit for model 'm'"):
        check_gate(audits, planned, verify, 0.6, False, planned=True)
    one, two = {**planned, "engine": "openvino-genai 1"}, {**planned, "engine": "openvino-genai 2"}
    write_audit(audit_path(audits, one, verify), {"accuracy": 0.53, "total": 100, "ci95": [0.4, 0.6], "backend": one})
    with pytest.raises(AuditError, match=r"scored 53.0% < gate 60%") as refused:
        check_gate(audits, planned, verify, 0.6, False, planned=True)
    assert refused.value.why.startswith("the verifier audit") and "audit-verifier" not in refused.value.why  # the reason alone
    write_audit(audit_path(audits, two, verify), {"accuracy": 0.7, "total": 100, "ci95": [0.6, 0.8], "backend": two})
    assert check_gate(audits, planned, verify, 0.6, False, planned=True)["audit_accuracy"] == 0.7  # it may load as engine 2
    with pytest.raises(AuditError, match="scored 53.0%"):
        check_gate(audits, one, verify, 0.6, False)  # it loaded as engine 1: refused after loading
    for other, template in (({**planned, "weight_format": "int8"}, verify), (planned, dataclasses.replace(verify, user=verify.user + " "))):
        with pytest.raises(AuditError, match="no verifier audit"):  # other weights, or another prompt text, match neither
            check_gate(audits, other, template, 0.6, False, planned=True)


def test_force_overrides_the_gate_and_is_recorded(tmp_path: Path) -> None:
    b = ScriptedBackend(responder=_respond_factory({0: "INCORRECT", 1: "CORRECT", 2: "INCORRECT"}))
    ds = Dataset(problems=PROBLEMS, source="test", split="test")
    method = create_method("sc-verifier", n=4, audit_dir=str(tmp_path / "none"), force=True)
    m = evaluate(b, method, ds, tmp_path / "forced", limit=None, progress=False)
    cfg = json.loads((tmp_path / "forced" / "config.json").read_text())
    assert cfg["method"]["force"] is True and cfg["preflight"] == {**cfg["preflight"], "forced": True, "passed": False}
    rows = {json.loads(x)["id"]: json.loads(x) for x in (tmp_path / "forced" / "samples.jsonl").read_text().splitlines()}
    # votes 3,3,gold,None: plain SC says 3; the verifier rejects "3" on q0 and q2 -> the gold answer wins there
    assert rows[0]["prediction"] == "10" and rows[0]["extra"]["initial_answer"] == "3" and rows[0]["extra"]["changed"]
    assert rows[1]["prediction"] == "3"  # "3" judged CORRECT twice (weight 2) beats gold's 1
    assert rows[0]["calls"] == 4 and rows[0]["extra"]["verdicts"] == {"CORRECT": 1, "INCORRECT": 2, "unparseable": 0}
    assert m["revision"]["fixed"] == 2 and m["verdicts"]["INCORRECT"] == 4
    assert rows[0]["pass_at_k"] is True and sum(g["stage"] == "sample" for g in rows[0]["generations"]) == 4


def test_malformed_verdicts_are_counted_not_crashed_on() -> None:
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        if "Reply with exactly one word" in chat[-1]["content"]:
            return [["", "maybe?", "\u0000\ufffd garbage", "I think the solution looks fine"][k % 4]]
        return ["#### 3", "#### 10", "#### 10", "#### 7"][: params.n]

    method = create_method("sc-verifier", n=4, force=True)
    preds = method.solve(ScriptedBackend(responder=respond), PROBLEMS[:2])
    for p in preds:
        assert p.extra["verdicts"] == {"CORRECT": 0, "INCORRECT": 0, "unparseable": 4}
        assert p.prediction == "10" and not p.extra["fallback"]  # equal 0.5 weights: the plain vote order decides
    m = compute_metrics([
        {"id": i, "gold": "10", "correct": True, "prediction": p.prediction, "calls": p.calls, "prompt_tokens": 0,
         "generated_tokens": 0, "generations": [g.__dict__ for g in p.generations], "extra": p.extra}
        for i, p in enumerate(preds)
    ])
    assert m["verdicts"] == {"CORRECT": 0, "INCORRECT": 0, "unparseable": 8}


def test_all_incorrect_verdicts_fall_back_to_the_plain_vote() -> None:
    def respond(chat: Chat, params: SamplingParams, k: int) -> list[str]:
        if "Reply with exactly one word" in chat[-1]["content"]:
            return ["INCORRECT"]
        return ["#### 3", "#### 10", "#### 3"][: params.n]

    (p,) = create_method("sc-verifier", n=3, force=True).solve(ScriptedBackend(responder=respond), PROBLEMS[:1])
    assert p.prediction == "3" and p.extra["fallback"] and not p.extra["changed"]


def test_audit_key_depends_on_model_identity_and_prompt_text() -> None:
    from tinyreason.prompts import PromptTemplate
    from tinyreason.verifier import audit_key

    desc = {"backend": "hf", "model": "m", "dtype": "bfloat16"}
    verify = get_prompt("verify")
    reworded = PromptTemplate(name="verify", user=verify.user + " ")
    assert audit_key(desc, verify) == audit_key(dict(desc), verify)
    assert audit_key(desc, verify) != audit_key({**desc, "dtype": "float32"}, verify)
    assert audit_key(desc, verify) != audit_key(desc, reworded)


def test_the_audit_asks_the_runs_own_backend_as_the_run_ran_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import tinyreason.backends
    from tinyreason.verifier import AuditConfig, audit_backend

    made = []
    monkeypatch.setattr(tinyreason.backends, "create_backend", lambda name, **opts: made.append((name, opts)))
    stored = {"backend": {"backend": "openvino", "model": "/m", "weight_format": "bf16", "adapter": "/a"}}
    audit_backend(AuditConfig(run=Path("r")), stored)
    audit_backend(AuditConfig(run=Path("r"), backend_options={"weight_format": "int8"}), stored)
    audit_backend(AuditConfig(run=Path("r"), backend="hf"), stored)  # another backend: only the model
    assert made == [("openvino", {"model": "/m", "adapter": "/a", "weight_format": "bf16"}),
                    ("openvino", {"model": "/m", "adapter": "/a", "weight_format": "int8"}),
                    ("hf", {"model": "/m"})]
