"""Adaptive self-consistency: sample in rounds, stop a question as soon as its vote is settled.

    tinyreason eval --method adaptive-sc                                    # up to 5 samples, like sc's default
    tinyreason eval --method adaptive-sc --option max_n=16 --option confidence=0.95

Follows Adaptive-Consistency (Aggarwal et al. 2023, arXiv:2305.11860), Beta stopping criterion: with v1
votes for the leading answer and v2 for the runner-up, the leader's share p has posterior Beta(v1+1,
v2+1) under a uniform prior, and sampling stops once P(p > 1/2) >= `confidence` (0.95 as in the paper;
scipy.stats.beta). A second, exact rule stops a question once the leader can no longer be caught within
`max_n` samples (v1 > v2 + samples left): from then on more samples cannot change what self-consistency
with n = max_n would answer. With max_n = 5 a 3-0 or 3-1 start stops early on that rule; with larger
max_n the Beta rule does most of the work (a unanimous vote settles after 4 samples at 0.95).

Rounds: every still-open question of the batch is sampled in ONE generate call per round (first round
`min_n` samples, then `round_size`), so batching is kept. Samples are stage "sample" (they count for
pass@k, over the samples actually drawn). Recorded per question: extra.votes, extra.n_samples,
extra.rounds, extra.stop_reason ("beta", "decided", or "max_n") and extra.confidence (the Beta posterior
probability at the stop). calls = rounds the question took part in.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from pydantic import Field, model_validator
from scipy.stats import beta

from tinyreason.answers import vote_counts
from tinyreason.backends.base import Backend
from tinyreason.methods.records import STOP_REASONS
from tinyreason.methods.base import Method, MethodConfig, register_method
from tinyreason.methods.sc import vote
from tinyreason.types import Generation, Prediction, Problem

StopReason = Literal["beta", "decided", "max_n"]


class AdaptiveConfig(MethodConfig):
    max_n: int = Field(5, ge=1, description="most samples per question (the self-consistency budget it can save on)")
    min_n: int = Field(3, ge=1, description="samples in the first round")
    round_size: int = Field(2, ge=1, description="samples added per later round")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Beta stopping threshold on P(leader's share > 1/2)")
    temperature: float = Field(0.7, gt=0, description="sampling temperature")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling threshold (1 = off)")

    @model_validator(mode="after")
    def _first_round_fits(self) -> "AdaptiveConfig":
        if self.min_n > self.max_n:
            raise ValueError(f"min_n ({self.min_n}) must be <= max_n ({self.max_n})")
        return self


def leader_confidence(v1: int, v2: int) -> float:
    """P(p > 1/2) for p ~ Beta(v1 + 1, v2 + 1): how sure we are the leading answer is the true majority."""
    return float(beta.sf(0.5, v1 + 1, v2 + 1))


def stop_reason(answers: list[str | None], max_n: int, confidence: float) -> StopReason | None:
    """Why sampling should stop after these answers, or None to keep sampling."""
    counts = [c for _, c in vote_counts(answers)]
    v1, v2 = (counts + [0, 0])[:2]
    if v1 > 0 and leader_confidence(v1, v2) >= confidence:
        return "beta"
    left = max_n - len(answers)
    if left <= 0:
        return "max_n"
    if v1 > 0 and v1 > v2 + left:
        return "decided"
    return None


@register_method
class AdaptiveSC(Method):
    name = "adaptive-sc"
    record_sections = (STOP_REASONS,)
    Config = AdaptiveConfig

    @property
    def samples_per_question(self) -> int:
        return self.config.min_n

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        c = self.config
        gens: list[list[Generation]] = [[] for _ in problems]
        rounds = [0] * len(problems)
        reasons: dict[int, StopReason] = {}
        open_ = list(range(len(problems)))
        round_no = 0
        while open_:
            k = min(c.min_n if round_no == 0 else c.round_size, c.max_n - len(gens[open_[0]]))
            sub = [problems[i] for i in open_]
            params = self.sampling(sub, n=k, temperature=c.temperature, top_p=c.top_p)
            params = dataclasses.replace(params, seed=params.seed + round_no)  # a fresh draw each round
            for i, new in zip(open_, self.ask(backend, self.templates()[0], sub, params, "sample"), strict=True):
                gens[i].extend(new)
                rounds[i] += 1
                why = stop_reason([g.answer for g in gens[i]], c.max_n, c.confidence)
                if why is not None:
                    reasons[i] = why
            open_ = [i for i in open_ if i not in reasons]
            round_no += 1
        return [self._predict(gens[i], rounds[i], reasons[i]) for i in range(len(problems))]

    @staticmethod
    def _predict(gens: list[Generation], rounds: int, reason: StopReason) -> Prediction:
        counts = [n for _, n in vote_counts(g.answer for g in gens)]
        v1, v2 = (counts + [0, 0])[:2]
        return vote(gens, calls=rounds, n_samples=len(gens), rounds=rounds, stop_reason=reason, confidence=round(leader_confidence(v1, v2), 4))
