"""The protocol experiment: which answer prompt the study measures every method under, chosen on GSM8K train.

    kind: protocol                  # a recipe experiment (recipes/protocol.yaml); `tinyreason reproduce --only protocol`
    config:
      candidates: [cot, qwen-boxed, hash-steps, ...]   # registered prompt names or YAML prompt files
      default: cot                  # kept unless a candidate is significantly better than it on the dev slice
      dev_n: 300                    # the dev slice: the *end* of the seeded train order (never test)

A verdict "method X beats greedy" is only worth something against greedy at its best documented protocol,
and that protocol must be chosen without looking at test. So: greedy runs under every candidate on a dev
slice of GSM8K *train* — the last `dev_n` questions of the seeded order, which SFT (its first train_n) and
GRPO (its dev slice and prompts, from the start of the same order) never take, checked against
`reserve_start` — and the tool chooses by a rule fixed in advance (`choose`):

  1. the highest dev accuracy wins; a tie goes to fewer generated tokens per question;
  2. the winner replaces `default` only if exact McNemar against `default` on the same dev questions gives
     p < alpha; otherwise `default` is kept, and the choice says "not significant".

The candidate runs are ordinary eval run directories (<runs>/protocol/<candidate>/), so they resume like
any eval; the choice is written to <runs>/protocol/choice.json, which recipes read through a variable
`{chosen_by: protocol}` (tinyreason.recipes), and results/PROTOCOL.md shows every candidate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tinyreason.prompts import PROTOCOL_CANDIDATES, check_prompt
from tinyreason.spec import DEFAULT_MODEL

CHOICE = "choice.json"


class ProtocolConfig(BaseModel):
    """The sweep: greedy (or another one-call method) under each candidate prompt on a dev slice of train."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    candidates: list[str] = Field(list(PROTOCOL_CANDIDATES), min_length=2, description="prompt names or YAML prompt files to compare")
    default: str = Field("cot", description="the prompt kept unless a candidate is significantly better on the dev slice")
    alpha: float = Field(0.05, gt=0, lt=1, description="significance level of the McNemar test against `default`")
    method: str = Field("greedy", description="the method measured under each prompt (greedy; pal for the program prompts)")
    method_options: dict[str, Any] = Field(default_factory=lambda: {"max_new_tokens": 512}, description="its options besides prompt")
    model: str = Field(DEFAULT_MODEL, description="Hub id, local model folder, or .gguf")
    backend: str = Field("auto", description="generation backend")
    backend_options: dict[str, Any] = Field(default_factory=dict, description="backend options")
    options_by_backend: dict[str, dict[str, Any]] = Field(default_factory=dict, description="backend options that apply only when that backend generates (EvalSpec's)")
    data: str | None = Field(None, description="local GSM8K *train* .jsonl (None: openai/gsm8k train from the Hub)")
    split: str = Field("train", description="Hub split: train (the protocol never looks at test)")
    dev_n: int = Field(300, ge=1, description="questions in the dev slice (the end of the seeded train order)")
    seed: int = Field(42, description="seed of the train order (the one SFT and GRPO take from the start)")
    reserve_start: int = Field(2000, ge=0, description="questions at the start of the seeded train order that training may take; the dev slice must not reach them")
    out: str = Field(description="the protocol's directory (set by reproduce)")

    @field_validator("candidates")
    @classmethod
    def _candidates(cls, names: list[str]) -> list[str]:
        for n in names:
            check_prompt(n)
        if len(set(names)) != len(names):
            raise ValueError(f"candidates repeat a prompt: {names}")
        return names

    @model_validator(mode="after")
    def _never_test(self) -> "ProtocolConfig":
        check_prompt(self.default)
        if self.default not in self.candidates:
            raise ValueError(f"default '{self.default}' must be one of the candidates ({', '.join(self.candidates)})")
        if "prompt" in self.method_options:
            raise ValueError("method_options must not set prompt: the candidates are the prompts")
        if self.split != "train" or (self.data is not None and "test" in Path(self.data).stem.lower()):
            raise ValueError(f"the protocol is chosen on train, never on test (split {self.split!r}, data {self.data!r})")
        return self

    def spec(self, candidate: str) -> Any:
        from tinyreason.spec import EvalSpec

        return EvalSpec(model=self.model, method=self.method, method_options={**self.method_options, "prompt": candidate},
                        backend=self.backend, backend_options=self.backend_options, options_by_backend=self.options_by_backend,
                        data=self.data, split="train",
                        limit=self.dev_n, seed=self.seed, subset_from="end", out=Path(self.out) / candidate_dir(candidate))


def candidate_dir(candidate: str) -> str:
    """A candidate's run directory name: the prompt's name, or a prompt file's stem."""
    return Path(candidate).stem if candidate.endswith((".yaml", ".yml")) else candidate


@dataclass(frozen=True)
class Candidate:
    """One candidate's dev result (what the choice rule reads)."""

    prompt: str
    correct: int
    total: int
    tokens_per_question: float
    right_ids: frozenset[int]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


@dataclass(frozen=True)
class Choice:
    chosen: str
    best: str
    default: str
    p_best_vs_default: float
    reason: str


def choose(results: list[Candidate], default: str, alpha: float) -> Choice:
    """The fixed rule (module docstring). Every candidate must have been run on the same dev questions."""
    from tinyreason.stats import mcnemar_exact

    by_name = {c.prompt: c for c in results}
    if default not in by_name:
        raise ValueError(f"the default prompt '{default}' has no dev result")
    if len({c.total for c in results}) != 1:
        raise ValueError("the candidates were not all run on the same number of dev questions")
    best = sorted(results, key=lambda c: (-c.correct, c.tokens_per_question, c.prompt))[0]
    base = by_name[default]
    fixed, regressed = len(best.right_ids - base.right_ids), len(base.right_ids - best.right_ids)
    p = mcnemar_exact(fixed, regressed)
    if best.prompt == default:
        return Choice(default, best.prompt, default, 1.0, f"the default '{default}' is the best candidate on the dev slice")
    if p < alpha and best.correct > base.correct:
        return Choice(best.prompt, best.prompt, default, p,
                      f"'{best.prompt}' beats '{default}' on the dev slice ({best.correct} vs {base.correct} of {base.total}; "
                      f"{fixed} fixed, {regressed} regressed; exact McNemar p = {p:.2g} < {alpha})")
    return Choice(default, best.prompt, default, p,
                  f"the best candidate '{best.prompt}' ({best.correct} vs {base.correct} of {base.total}) is not significantly "
                  f"better than '{default}' (exact McNemar p = {p:.2g} ≥ {alpha}): '{default}' is kept")


def read_choice(protocol_dir: str | Path) -> dict[str, Any] | None:
    path = Path(protocol_dir) / CHOICE
    return json.loads(path.read_text()) if path.is_file() else None


def earlier_looks(previous: dict[str, Any] | None, cfg: ProtocolConfig, fingerprint: str) -> list[dict[str, Any]]:
    """The looks before this one: a choice made on a smaller prefix of the same dev slice (same candidates,
    default, seed and data), with the looks before it. Growing the slice and testing again is a new look at
    the same comparison, and each look at level alpha adds to the chance of a switch without a real
    difference (stats.repeated_looks_alpha), so the choice records them and the page says what they cost.
    Another sweep (other candidates, default, seed or data, by `fingerprint`) is not an earlier look: it starts none."""
    if not previous or previous.get("dev_n", 0) >= cfg.dev_n:
        return []
    same = (previous.get("candidates_run") == cfg.candidates and previous.get("default") == cfg.default
            and previous.get("seed") == cfg.seed and previous.get("alpha") == cfg.alpha
            and previous.get("dev", {}).get("fingerprint") == fingerprint)
    if not same:
        return []
    look = {k: previous.get(k) for k in ("dev_n", "chosen", "best", "p_best_vs_default", "reason")}
    return [*previous.get("earlier_looks", []), look]


def looks_line(choice: dict[str, Any]) -> str | None:
    """What the earlier looks were, and what testing again cost (None for a first look)."""
    from tinyreason.stats import repeated_looks_alpha

    looks = choice.get("earlier_looks") or []
    if not looks:
        return None
    ns = [int(lk["dev_n"]) for lk in looks] + [int(choice["dev_n"])]
    alpha = float(choice.get("alpha", 0.05))
    said = "; ".join(f"on the first {lk['dev_n']} dev questions the best was `{lk['best']}` (p = {lk['p_best_vs_default']:.2g}): "
                     f"`{lk['chosen']}` chosen" for lk in looks)
    return (f"**Look {len(ns)} at this comparison**: {said}. The slice then grew by prefix to {choice['dev_n']} and the rule ran "
            f"again at the same level. Testing a comparison again as it grows raises the chance of a switch when there is no "
            f"difference: with {len(ns)} looks at n = {', '.join(map(str, ns))}, each at p < {alpha}, that chance is "
            f"{repeated_looks_alpha(ns, alpha):.3f} in all, not {alpha} (Armitage, McPherson & Rowe 1969; normal approximation). "
            f"Read a p near {alpha} with that in mind.")


def check_disjoint(cfg: ProtocolConfig) -> dict[str, Any]:
    """The dev slice against the start of the same seeded order (what training takes); ValueError if they meet."""
    from tinyreason.data import load_problems, select

    ds = load_problems(cfg.data, "train")
    order = select(ds, None, cfg.seed)
    dev = select(ds, cfg.dev_n, cfg.seed, from_end=True)
    reserved = {p.id for p in order[: cfg.reserve_start]}
    overlap = [p.id for p in dev if p.id in reserved]
    if overlap:
        raise ValueError(f"{ds.source}: the dev slice ({cfg.dev_n} from the end of {len(order)} questions) overlaps the first "
                         f"{cfg.reserve_start} that training may take (e.g. id {overlap[0]}); lower dev_n or reserve_start")
    return {"source": ds.source, "fingerprint": ds.fingerprint(), "rows": len(order), "dev_ids": [p.id for p in dev],
            "reserve_start": cfg.reserve_start}


def trained_on(runs_root: Path, fingerprint: str) -> list[tuple[str, str, set[int]]]:
    """(run, what, question ids) for each training run directly under `runs_root` that took questions from the
    data with this fingerprint (by content, wherever it lay): SFT and memorization examples, GRPO's prompt pool
    and its dev slice, every question a distillation asked, kept or not. SFT on traces resolves its data through
    the traces' own distillation record. A GRPO pool counts whole: the run records what its sampler may draw,
    not what it drew."""
    from tinyreason.train.distill import TraceFiles, read_jsonl

    def traces_fingerprint(files: TraceFiles) -> str | None:
        return (json.loads(files.config.read_text(encoding="utf-8")).get("data") or {}).get("fingerprint") if files.config.is_file() else None

    found = []
    for d in sorted(p for p in runs_root.iterdir() if p.is_dir()) if runs_root.is_dir() else []:
        distilled = TraceFiles(d / "traces.jsonl")
        if (d / "train_config.json").is_file():
            data = json.loads((d / "train_config.json").read_text(encoding="utf-8")).get("data") or {}
            took = data.get("fingerprint") if data.get("kind") != "traces" else traces_fingerprint(TraceFiles(Path(str(data.get("source", "")))))
            ids, what = (data["ids"], "examples") if "ids" in data else (data.get("train_ids", []) + data.get("dev_ids", []), "prompt pool and dev")
        elif distilled.config.is_file():
            took = traces_fingerprint(distilled)
            ids, what = [r["id"] for f in (distilled.traces, distilled.rejects) for r in read_jsonl(f, repair=False)], "asked"
        else:
            continue
        if took == fingerprint and ids:
            found.append((d.name, what, set(map(int, ids))))
    return found


def overlap_line(runs_root: Path, fingerprint: str | None, dev_ids: list[int]) -> str:
    """The dev slice checked against what the training runs beside it took: none, or which run holds how many."""
    runs = trained_on(runs_root, fingerprint) if fingerprint else []
    if not runs:
        return "No training run beside it took questions from this data (checked by content)."
    dev = set(dev_ids)
    each = ", ".join(f"`{name}` ({what}: {len(ids):,})" for name, what, ids in runs)
    meet = [(name, what, sorted(ids & dev)) for name, what, ids in runs if ids & dev]
    if not meet:
        return f"Checked against the training runs beside it that took questions from this data: {each} — **none holds a dev question**."
    bad = "; ".join(f"`{name}` ({what}) holds {len(ids)} of its {len(dev)} questions (e.g. id {ids[0]})" for name, what, ids in meet)
    return (f"Checked against the training runs beside it that took questions from this data: {each}. **The dev slice is not "
            f"disjoint from training**: {bad}. That run may have trained on dev questions, so its adapter's score on this slice "
            f"is not held-out (the choice itself, made with the base model, is not affected).")


def candidate_result(run_dir: Path, prompt: str) -> Candidate:
    from tinyreason.analysis.loading import load_run

    run = load_run(run_dir)
    m = run.metrics()
    return Candidate(prompt, m["correct"], m["total"], m["generated_tokens_per_question"],
                     frozenset(i for i in run.order if run.correct(i)))


def _row(run_dir: Path, against: Any) -> dict[str, Any]:
    """One candidate's run and metrics, and its transitions against `against` (the chosen candidate's loaded run)."""
    from tinyreason.analysis.loading import align, load_run
    from tinyreason.analysis.paired import transitions

    run = load_run(run_dir)
    m = run.metrics()
    row = {"run": run, "m": m, "p": None, "fixed": None, "regressed": None}
    if against is not None and against.path != run_dir:
        t = transitions(align(against, run))
        row.update(p=t.p_value, fixed=t.fixed, regressed=t.regressed)
    return row


def protocol_page(name: str, cfg: ProtocolConfig, out: Path) -> str:
    """One protocol experiment as Markdown: every candidate's dev result, the choice, and each prompt's text."""
    choice = read_choice(out)
    ref = choice["chosen"] if choice else cfg.default
    from tinyreason.analysis.loading import load_run

    ref_dir = out / candidate_dir(ref)
    ref_run = load_run(ref_dir) if (ref_dir / "samples.jsonl").is_file() else None  # loaded once, paired with every candidate
    lines = [f"## {name}: {cfg.method} under {len(cfg.candidates)} candidate prompts", ""]
    if choice:
        lines += [f"**Chosen: `{choice['chosen']}`** — {choice['reason']}.", ""]
        if (said := looks_line(choice)) is not None:
            lines += [said, ""]
    else:
        lines += ["**No choice yet**: not every candidate has run (`tinyreason reproduce --only " + name + "` runs the rest).", ""]
    fingerprint = ref_run.config.get("data", {}).get("fingerprint") if ref_run else None
    overlap = [overlap_line(out.parent, fingerprint, ref_run.order), ""] if ref_run else []  # before the table
    lines += [f"Dev slice: the last {cfg.dev_n} questions of the seed-{cfg.seed} order of GSM8K **train** (never test; the first "
              f"{cfg.reserve_start} of that order, reserved for training, are disjoint from it). Rule, fixed before the runs: highest "
              f"accuracy, ties to fewer generated tokens; a candidate replaces `{cfg.default}` only when exact McNemar against it gives "
              f"p < {cfg.alpha}. Flexible = the headline grader; strict = the last `#### N` only. p: paired against `{ref}`.", "",
              *overlap,
              "| prompt | system | accuracy | 95% CI | strict | truncated | no answer | gen tok/q | vs chosen: fixed / regressed | p |",
              "|---|---|---:|---|---:|---:|---:|---:|---|---:|"]
    texts = []
    for c in cfg.candidates:
        run_dir = out / candidate_dir(c)
        if not (run_dir / "samples.jsonl").is_file():
            lines.append(f"| `{c}` | | not run | | | | | | | |")
            continue
        r = _row(run_dir, ref_run)
        m, run = r["m"], r["run"]
        tpl = next(iter(run.config.get("prompts", {}).values()), {})
        system = "model default" if tpl.get("system") is None else ("plain" if tpl["system"] == "You are a helpful assistant." else "instruction")
        lo, hi = m["ci95"]
        done = "" if run.complete else f", {m['total']} of {run.expected} so far"
        vs = "—" if r["p"] is None else f"{r['fixed']} / {r['regressed']}"
        p = "—" if r["p"] is None else f"{r['p']:.2g}"
        mark = "**" if c == ref else ""
        lines.append(f"| {mark}`{c}`{mark} | {system} | {mark}{m['accuracy']:.1%}{mark} ({m['correct']}/{m['total']}{done}) | "
                     f"{lo:.1%}–{hi:.1%} | {m['strict']['accuracy']:.1%} | {m['truncated_questions']} | {m['no_answer']} | "
                     f"{m['generated_tokens_per_question']:.0f} | {vs} | {p} |")
        system_text = "(the model's default system prompt)" if tpl.get("system") is None else tpl["system"]
        user = str(tpl.get("user", "?")).replace("{{", "{").replace("}}", "}")  # as the model sees it ({question} aside)
        texts += [f"**`{c}`**", "", "```text", f"[system] {system_text}", f"[user] {user}", "```", ""]
    return "\n".join([*lines, "", "### The candidates' text", "", *texts])


def write_protocol_page(protocols: list[tuple[str, ProtocolConfig, Path]], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    body = "\n\n".join(protocol_page(n, c, o) for n, c, o in protocols)
    head = ("# Protocol: which answer prompt the study measures under\n\nRendered by `tinyreason reproduce` from the protocol "
            "experiments' run directories (tinyreason.protocol). Each candidate is an ordinary eval run on the dev slice.\n\n")
    path = out_dir / "PROTOCOL.md"
    path.write_text(head + body + "\n")
    return path
