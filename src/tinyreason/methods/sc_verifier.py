"""Self-consistency re-weighted by a prompted verifier, gated by an audit of that verifier.

    tinyreason audit-verifier --run runs/sc --model MODEL         # first: does the verifier beat the gate?
    tinyreason eval --model MODEL --method sc-verifier             # refuses unless the audit passed
    tinyreason eval --model MODEL --method sc-verifier --force     # run anyway; `force: true` is recorded

Rule: n samples are drawn and graded as in `sc` (stage "sample"); each sample with an answer is shown
to the verifier prompt (one greedy call per sample, stage "verify"). Each sample then votes for its
answer with weight 1 for a CORRECT verdict, `incorrect_weight` (default 0) for INCORRECT and
`unparseable_weight` (default 0.5) when the reply has no verdict. The answer with the highest total
weight wins; ties go to the plain vote order (more raw votes, then first seen). If every weight is 0
(all INCORRECT) the plain majority vote stands (extra.fallback). So a verifier that says CORRECT to
everything reproduces `sc` exactly, and one that is a coin flip adds noise — which is why the audit
gate exists (the study's verifier scored 50% on its audit against a 60% gate).

Recorded per question: extra.votes (raw), extra.scores (weighted), extra.verdicts (counts),
extra.initial_answer (the plain SC answer) and extra.changed, so metrics.json counts what the verifier
fixed and broke relative to SC. calls = 1 + samples verified.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import Field

from tinyreason.answers import normalize_number, same_answer
from tinyreason.backends.base import Backend
from tinyreason.identity import RESUMABLE
from tinyreason.methods.records import REVISION, VERDICTS
from tinyreason.methods.base import Method, SampledConfig, register_method
from tinyreason.methods.sc import vote
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.types import Generation, Prediction, Problem
from tinyreason.verifier import DEFAULT_AUDIT_DIR, check_gate, parse_verdict


class SCVerifierConfig(SampledConfig):
    verify_prompt: str = Field("verify", description="verifier prompt template (fields: question, solution); must match the audit's")
    verify_max_new_tokens: int = Field(32, ge=1, description="generation budget of one verdict")
    gate: float = Field(0.6, ge=0, le=1, description="least audit accuracy that lets the method run")
    force: bool = Field(False, description="run without a passing audit (recorded in the run config)")
    audit_dir: str = Field(DEFAULT_AUDIT_DIR, description="where `tinyreason audit-verifier` wrote its results",
                           json_schema_extra=RESUMABLE)  # where the audit lies, not what it found (preflight records that)
    incorrect_weight: float = Field(0.0, ge=0, le=1, description="vote weight of a sample judged INCORRECT")
    unparseable_weight: float = Field(0.5, ge=0, le=1, description="vote weight of a sample whose verdict could not be read")


def weighted_choice(gens: list[Generation], weights: list[float]) -> tuple[str | None, dict[str, float]]:
    """The answer with the highest total weight (ties: plain vote order); None when all weights are 0."""
    base = vote(gens, calls=0).extra["votes"]  # [(answer, votes)], plain vote order
    scores = {a: 0.0 for a, _ in base}
    for g, w in zip(gens, weights, strict=True):
        key = None if g.answer is None else normalize_number(g.answer)
        if key is not None:
            scores[key] += w
    if not scores or max(scores.values()) == 0:
        return None, scores
    best = max(scores.values())
    return next(a for a, _ in base if scores[a] == best), scores


@register_method
class SCVerifier(Method):
    name = "sc-verifier"
    record_sections = (REVISION, VERDICTS)
    Config = SCVerifierConfig

    def templates(self) -> list[PromptTemplate]:
        return [get_prompt(self.config.prompt), get_prompt(self.config.verify_prompt)]

    def preflight(self, backend: dict[str, Any], planned: bool = False) -> dict[str, Any]:
        c = self.config
        return check_gate(c.audit_dir, backend, get_prompt(c.verify_prompt), c.gate, c.force, planned=planned)

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        c = self.config
        verify_t = self.templates()[1]
        samples = self.draw_samples(backend, problems)
        todo = [(i, j) for i, gs in enumerate(samples) for j, g in enumerate(gs) if g.answer is not None]
        verdicts: dict[tuple[int, int], Generation] = {}
        if todo:
            sub = [problems[i] for i, _ in todo]
            params = dataclasses.replace(self.sampling(sub), max_new_tokens=c.verify_max_new_tokens)
            outs = self.ask(backend, verify_t, sub, params, "verify", solution=[samples[i][j].text for i, j in todo])
            for (i, j), (g,) in zip(todo, outs, strict=True):
                g.extra.update(verdict=parse_verdict(g.text), verifies=j)
                verdicts[(i, j)] = g
        return [self._decide(gs, [verdicts[(i, j)] for j in range(len(gs)) if (i, j) in verdicts]) for i, gs in enumerate(samples)]

    def _decide(self, gs: list[Generation], checks: list[Generation]) -> Prediction:
        c = self.config
        by_sample = {g.extra["verifies"]: g.extra["verdict"] for g in checks}
        weight = {"CORRECT": 1.0, "INCORRECT": c.incorrect_weight, None: c.unparseable_weight}
        weights = [weight[by_sample[j]] if j in by_sample else 0.0 for j in range(len(gs))]
        choice, scores = weighted_choice(gs, weights)
        pred = vote(gs, calls=1 + len(checks))
        initial = pred.prediction
        if choice is not None and not same_answer(choice, initial):
            pred.prediction = choice
            strict = [g.answer_strict for g in gs if g.answer is not None and normalize_number(g.answer) == choice]
            pred.prediction_strict = next((s for s in strict if s is not None), None)
        counts = {"CORRECT": 0, "INCORRECT": 0, "unparseable": 0}
        for v in by_sample.values():
            counts[v or "unparseable"] += 1
        pred.generations = gs + checks
        pred.extra.update(scores=scores, verdicts=counts, initial_answer=initial, final_answer=pred.prediction,
                          changed=not same_answer(initial, pred.prediction), fallback=choice is None)
        return pred
