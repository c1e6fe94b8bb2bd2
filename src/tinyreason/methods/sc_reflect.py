"""Self-consistency that reflects only on disagreement: one extra call shows the candidate solutions.

Vote; only when the samples disagree, show the model its candidate solutions and ask for one final one.

    tinyreason eval --method sc-reflect --n 5 --temperature 0.7
    tinyreason eval --method sc-reflect --option max_candidates=3

Step 1 is plain self-consistency (n samples, stage "sample", majority vote over the grader's answers).
A question is *disagreeing* when its samples give at least two distinct answers; unanimous questions
(including those where some samples state no answer) keep the vote and cost no extra call. All
disagreeing questions of a batch then share one greedy call (stage "reflect") whose prompt shows one
chain per distinct answer, most-voted first, at most `max_candidates` of them (ties: first seen). The
reflection's answer is the prediction; if it states no answer, the vote stands (recorded as a fallback).

Recorded per question: extra.votes, extra.reflected (bool), extra.initial_answer (the vote),
extra.final_answer, extra.changed, extra.fallback — so metrics.json counts how often reflection
triggered and how many questions it fixed or broke. calls = 1, or 2 when reflection triggered.
"""

from __future__ import annotations

from pydantic import Field

from tinyreason.answers import normalize_number, same_answer, vote_counts
from tinyreason.backends.base import Backend
from tinyreason.methods.records import REFLECTED, REVISION
from tinyreason.methods.base import Method, SampledConfig, register_method
from tinyreason.methods.sc import vote
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.types import Generation, Prediction, Problem


class SCReflectConfig(SampledConfig):
    reflect_prompt: str = Field("sc-reflect", description="prompt template of the reflection call (fields: question, candidates)")
    max_candidates: int = Field(4, ge=2, description="most candidate solutions shown to the reflection call (one per distinct answer)")


def candidate_chains(gens: list[Generation], limit: int) -> list[Generation]:
    """One chain per distinct answer, most-voted answer first (ties: first seen), at most `limit`."""
    first: dict[str, Generation] = {}
    for g in gens:
        key = None if g.answer is None else normalize_number(g.answer)
        if key is not None and key not in first:
            first[key] = g
    return [first[a] for a, _ in vote_counts(g.answer for g in gens)][:limit]


def format_candidates(chains: list[Generation]) -> str:
    return "\n\n".join(f"Candidate solution {chr(ord('A') + i)}:\n{g.text.strip()}" for i, g in enumerate(chains))


@register_method
class SCReflect(Method):
    name = "sc-reflect"
    record_sections = (REVISION, REFLECTED)
    Config = SCReflectConfig

    def templates(self) -> list[PromptTemplate]:
        return [get_prompt(self.config.prompt), get_prompt(self.config.reflect_prompt)]

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        c = self.config
        reflect_t = self.templates()[1]
        samples = self.draw_samples(backend, problems)
        preds = [vote(g, calls=1, reflected=False) for g in samples]
        split = [i for i, p in enumerate(preds) if len(p.extra["votes"]) >= 2]
        for i in range(len(preds)):
            preds[i].extra.update(initial_answer=preds[i].prediction, final_answer=preds[i].prediction, changed=False, fallback=False)
        if not split:
            return preds
        chosen = [candidate_chains(samples[i], c.max_candidates) for i in split]
        sub = [problems[i] for i in split]
        reflections = self.ask(backend, reflect_t, sub, self.sampling(sub), "reflect", candidates=[format_candidates(ch) for ch in chosen])
        for i, (r,), ch in zip(split, reflections, chosen, strict=True):
            self._apply(preds[i], r, len(ch))
        return preds

    @staticmethod
    def _apply(pred: Prediction, r: Generation, shown: int) -> None:
        initial = pred.prediction
        fallback = r.answer is None
        if not fallback:
            pred.prediction, pred.prediction_strict = r.answer, r.answer_strict
        pred.generations.append(r)
        pred.calls += 1
        pred.extra.update(
            reflected=True,
            candidates_shown=shown,
            final_answer=pred.prediction,
            changed=not same_answer(initial, pred.prediction),
            fallback=fallback,
        )
