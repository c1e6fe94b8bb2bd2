"""A prompted verifier and its audit: can the model tell a right chain from a wrong one?

    tinyreason audit-verifier --run runs/greedy              # audit the run's model on its own chains
    tinyreason eval --method sc-verifier                     # refuses unless that audit passed the gate
    result, path = run_audit(AuditConfig(run="runs/sc"))     # the same from Python (recipes do this)

The audit set is built from an existing run's chains (stages "answer" and "sample", those with an
extracted answer, deduplicated): label = the chain's answer matches gold (the one grader). It is balanced
(equal numbers of right and wrong chains, drawn with a seeded RNG); when a class has fewer chains than
half the requested size, every class is cut to the smaller one and the result says so. The verifier
prompt (default "verify") asks for one word, CORRECT or INCORRECT; a reply with neither is
*unparseable*: counted, reported, and scored as a wrong verdict (never a crash, never a guess).

The result is written to AUDIT_DIR/<key>.json, key = sha256 of (backend.describe(), the verifier
prompt's exact text)[:16], so a different model, adapter, dtype or prompt wording needs its own audit.
Default AUDIT_DIR: runs/verifier-audits (relative to the working directory). The gate compares the
audit's point accuracy with a threshold (0.6, as in the study, where the verifier scored 50%).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from tinyreason.answers import answers_match
from tinyreason.backends.base import backend_identity
from tinyreason.prompts import PromptTemplate
from tinyreason.stats import wilson_interval

Verdict = Literal["CORRECT", "INCORRECT"]
DEFAULT_AUDIT_DIR = "runs/verifier-audits"
_VERDICT = re.compile(r"\b(not\s+correct|incorrect|correct)\b", re.IGNORECASE)
CHAIN_STAGES = ("answer", "sample")


class AuditError(ValueError):
    """A refused sc-verifier run: the message says why and how to fix it; `why` is the reason alone."""

    def __init__(self, message: str, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


def parse_verdict(text: str) -> Verdict | None:
    """The first verdict word in the reply ("not correct" is INCORRECT); None when there is none."""
    m = _VERDICT.search(text or "")
    if m is None:
        return None
    return "CORRECT" if m[1].lower() == "correct" else "INCORRECT"


def audit_key(backend_description: dict[str, Any], template: PromptTemplate) -> str:
    identity = {"backend": backend_identity(backend_description), "system": template.system, "user": template.user}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def prompt_hash(template: PromptTemplate) -> str:
    return hashlib.sha256(json.dumps([template.system, template.user]).encode()).hexdigest()[:16]


def audit_path(audit_dir: str | Path, backend_description: dict[str, Any], template: PromptTemplate) -> Path:
    return Path(audit_dir) / f"{audit_key(backend_description, template)}.json"


def chains_of(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every distinct first-pass chain with an extracted answer, labelled by the grader."""
    seen: set[tuple[int, str]] = set()
    out = []
    for s in samples:
        for g in s.get("generations", []):
            if g.get("stage") not in CHAIN_STAGES or g.get("answer") is None or g.get("extra", {}).get("error"):
                continue
            if (s["id"], g["text"]) in seen:
                continue
            seen.add((s["id"], g["text"]))
            out.append({"id": s["id"], "question": s["question"], "gold": s["gold"], "answer": g["answer"], "text": g["text"],
                        "label": answers_match(g["answer"], s["gold"])})
    return out


def build_audit_set(samples: list[dict[str, Any]], size: int, seed: int) -> tuple[list[dict[str, Any]], str | None]:
    """A balanced, seeded, shuffled audit set of at most `size` chains, and a note when a class was short."""
    if size < 2:
        raise AuditError(f"audit size must be >= 2 (one chain per class), got {size}")
    chains = chains_of(samples)
    rng = random.Random(seed)
    pos = [c for c in chains if c["label"]]
    neg = [c for c in chains if not c["label"]]
    rng.shuffle(pos)
    rng.shuffle(neg)
    per_class = min(size // 2, len(pos), len(neg))
    if per_class == 0:
        raise AuditError(
            f"cannot build a balanced audit set: the run has {len(pos)} correct and {len(neg)} incorrect chains with an "
            "answer; audit on a run with both (e.g. an sc run, whose samples disagree more often)"
        )
    note = None
    if per_class < size // 2:
        note = (f"requested {size} chains ({size // 2} per class) but the run has only {len(pos)} correct and {len(neg)} "
                f"incorrect chains: using {per_class} per class ({2 * per_class} in all)")
    items = pos[:per_class] + neg[:per_class]
    rng.shuffle(items)
    return items, note


def score_audit(items: list[dict[str, Any]], verdicts: list[Verdict | None], gate: float) -> dict[str, Any]:
    """Accuracy (unparseable = wrong) with a 95% Wilson interval, confusion matrix, unparseable rate, gate."""
    confusion = {row: {"CORRECT": 0, "INCORRECT": 0, "unparseable": 0} for row in ("correct_chain", "incorrect_chain")}
    right = 0
    for item, v in zip(items, verdicts, strict=True):
        confusion["correct_chain" if item["label"] else "incorrect_chain"][v or "unparseable"] += 1
        right += v is not None and (v == "CORRECT") == item["label"]
    n = len(items)
    unparseable = sum(v is None for v in verdicts)
    acc = right / n if n else 0.0
    return {
        "accuracy": acc,
        "correct": right,
        "total": n,
        "ci95": list(wilson_interval(right, n)),
        "confusion": confusion,
        "unparseable": unparseable,
        "unparseable_rate": unparseable / n if n else 0.0,
        "gate": gate,
        "passed": acc >= gate,
    }


def write_audit(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def load_audit(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise AuditError(f"{path}: broken audit file ({e.msg}, line {e.lineno}); rerun `tinyreason audit-verifier`") from None


def audits_like(audit_dir: str | Path, planned: dict[str, Any], template: PromptTemplate) -> list[tuple[Path, dict[str, Any]]]:
    """The audits in `audit_dir` of this verifier prompt that a backend described only in part before it
    loads (`planned`, e.g. without its engine version) may turn out to be: each audit whose recorded backend
    agrees with every key `planned` names and whose file name is the key of that backend and `template`."""
    want = backend_identity(planned)
    found = []
    for path in sorted(Path(audit_dir).glob("*.json")):
        audit = load_audit(path)
        backend = (audit or {}).get("backend")
        if not isinstance(backend, dict) or audit_key(backend, template) != path.stem:
            continue
        have = backend_identity(backend)
        if all(have.get(k) == v for k, v in want.items()):
            found.append((path, audit))
    return found


def check_gate(audit_dir: str | Path, backend_description: dict[str, Any], template: PromptTemplate, gate: float, force: bool,
               *, planned: bool = False) -> dict[str, Any]:
    """What the gate found; raises AuditError (with the command that fixes it) unless it passed or `force`.
    `planned`: the description is the part known before the model loads, so any audit it may match is
    considered, and the run is refused only when none of them passed (the check after loading decides)."""
    if planned:
        candidates = audits_like(audit_dir, backend_description, template)
        path, audit = max(candidates, key=lambda c: c[1]["accuracy"]) if candidates else (Path(audit_dir) / "<key>.json", None)
    else:
        path = audit_path(audit_dir, backend_description, template)
        audit = load_audit(path)
    found: dict[str, Any] = {"audit_file": str(path), "gate": gate, "forced": force}
    if audit is not None:
        found.update(audit_accuracy=audit["accuracy"], audit_total=audit["total"], audit_ci95=audit["ci95"])
    passed = audit is not None and audit["accuracy"] >= gate
    found["passed"] = passed
    if passed or force:
        return found
    model = backend_description.get("model", "?")
    if audit is None:
        why = f"no verifier audit for model '{model}' with prompt '{template.name}' (looked for {path})"
    else:
        why = f"the verifier audit for model '{model}' with prompt '{template.name}' scored {audit['accuracy']:.1%} < gate {gate:.0%} ({path})"
    raise AuditError(
        f"sc-verifier refuses to run: {why}. Audit it first: `tinyreason audit-verifier --run RUN_DIR --model {model}"
        f" --prompt {template.name}`, or override with --force (recorded in the run config).",
        why=why,
    )


class AuditConfig(BaseModel):
    """One verifier audit. `tinyreason audit-verifier` builds it from flags, recipes from YAML."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    run: Path = Field(description="run directory whose chains make the audit set")
    size: int = Field(100, ge=2, description="audit set size (half correct, half incorrect chains)")
    seed: int = Field(42, description="seed of the audit-set draw")
    model: str | None = Field(None, description="verifier model (default: the run's model and adapter)")
    backend: str | None = Field(None, description="generation backend (default: the run's)")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="backend options besides model (dtype, batch_size, ...)")
    prompt: str = Field("verify", description="verifier prompt template (fields: question, solution)")
    gate: float = Field(0.6, ge=0, le=1, description="accuracy the verifier must reach for sc-verifier to run")
    max_new_tokens: int = Field(32, ge=1, description="generation budget of one verdict")
    audit_dir: Path = Field(Path(DEFAULT_AUDIT_DIR), description="where audit results are written (sc-verifier's audit_dir)")


def audit_backend(cfg: AuditConfig, run_config: dict[str, Any]) -> Any:
    """The run's own backend and model (its adapter too, unless cfg.model names another model), with
    cfg.backend_options on top; the backend's Config rejects what it does not take."""
    from tinyreason.backends import create_backend
    from tinyreason.backends.base import backend_class

    stored = run_config.get("backend", {})
    name = cfg.backend or stored.get("backend", "hf")
    opts: dict[str, Any] = {"model": cfg.model or stored.get("model")}
    if not opts["model"]:
        raise AuditError(f"{cfg.run}: the run config names no model: give the verifier model (--model)")
    if name == stored.get("backend"):  # the run's own backend: its model as the run ran it
        if cfg.model is None and stored.get("adapter"):
            opts["adapter"] = stored["adapter"]
        fields = backend_class(name).Config.model_fields
        opts.update({k: stored[k] for k in ("weight_format", "dtype") if k in fields and stored.get(k) is not None})
    return create_backend(name, **{**opts, **cfg.backend_options})


def run_audit(cfg: AuditConfig, progress: Callable[[str], None] | None = None) -> tuple[dict[str, Any], Path]:
    """Ask the verifier about a balanced set of the run's chains, score it, write the audit sc-verifier reads.
    Returns (result, path of the audit file). Raises AuditError / RunError / ValueError with the fix."""
    from tinyreason.prompts import get_prompt
    from tinyreason.runs import RunDir, now
    from tinyreason.types import SamplingParams

    rd = RunDir(cfg.run)
    items, note = build_audit_set(rd.samples(), cfg.size, cfg.seed)
    template = get_prompt(cfg.prompt)
    backend = audit_backend(cfg, rd.config())
    if note and progress:
        progress(f"note: {note}")
    chats = [template.render(question=it["question"], solution=it["text"]) for it in items]
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens)
    step = cfg.backend_options.get("batch_size") or getattr(backend, "batch_size", 16)
    texts: list[str] = []
    for start in range(0, len(chats), step):
        texts += [outs[0].text for outs in backend.generate(chats[start : start + step], params)]
        if progress:
            progress(f"verdicts {len(texts)}/{len(chats)}")
    verdicts = [parse_verdict(t) for t in texts]
    result = score_audit(items, verdicts, cfg.gate)
    desc = backend.describe()
    path = audit_path(cfg.audit_dir, desc, template)
    result.update(
        kind="verifier-audit", created=now(), backend=desc, source_run=str(Path(cfg.run).resolve()), seed=cfg.seed,
        size_requested=cfg.size, note=note, max_new_tokens=cfg.max_new_tokens,
        prompt={"name": template.name, "system": template.system, "user": template.user, "sha256_16": prompt_hash(template)},
        items=[{**{k: it[k] for k in ("id", "gold", "answer", "label")}, "verdict": v, "reply": t} for it, v, t in zip(items, verdicts, texts, strict=True)],
    )
    write_audit(path, result)
    return result, path
