"""Self-consistency (Wang et al. 2022, arXiv:2203.11171): sample n chains, majority-vote the answers.

    tinyreason eval --method sc --n 5 --temperature 0.7

Votes are over the grader's normalized answers (so "18", "$18.00" and "18." are one vote); samples
without an answer do not vote; ties go to the answer that appeared first. The vote counts are recorded
per question (`extra.votes`), so agreement can be analysed later without the model.
"""

from __future__ import annotations

from tinyreason.answers import majority_vote, vote_counts
from tinyreason.backends.base import Backend
from tinyreason.methods.base import Method, SampledConfig, register_method
from tinyreason.types import Generation, Prediction, Problem


def vote(gens: list[Generation], calls: int, **extra: object) -> Prediction:
    answers = [g.answer for g in gens]
    return Prediction(
        prediction=majority_vote(answers),
        prediction_strict=majority_vote([g.answer_strict for g in gens]),
        generations=gens,
        calls=calls,
        extra={"votes": vote_counts(answers), **extra},
    )


@register_method
class SelfConsistency(Method):
    name = "sc"
    Config = SampledConfig

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        return [vote(g, calls=1) for g in self.draw_samples(backend, problems)]
