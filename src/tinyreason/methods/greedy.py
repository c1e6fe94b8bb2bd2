"""Greedy decoding: one completion at temperature 0, its extracted answer is the prediction.

    tinyreason eval --method greedy
"""

from __future__ import annotations

from tinyreason.backends.base import Backend
from tinyreason.methods.base import Method, register_method
from tinyreason.prompts import get_prompt
from tinyreason.types import Prediction, Problem


@register_method
class Greedy(Method):
    name = "greedy"

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        gens = self.ask(backend, get_prompt(self.config.prompt), problems, self.sampling(problems), "answer")
        return [Prediction(g[0].answer, g[0].answer_strict, g, calls=1) for g in gens]
