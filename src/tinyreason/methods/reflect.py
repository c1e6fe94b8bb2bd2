"""Self-reflection: a greedy answer, then the model reviews its own solution and writes a revised one.

    tinyreason eval --method reflect
    tinyreason eval --method reflect --option reflect_prompt=reflect

Two greedy calls per question (Prediction.calls == 2): the answer prompt (stage "answer"), then the
review prompt showing the question and the first solution (stage "reflect"). The revised answer is the
prediction, even when the review states no answer (that is what the protocol measures: whether asking a
model to check itself helps). Both answers are recorded per question:

    extra.initial_answer   the first answer (what greedy would have predicted)
    extra.final_answer     the revised answer (the prediction)
    extra.changed          whether the two differ

so metrics.json counts questions fixed (initial wrong -> final right) and regressed (initial right ->
final wrong) straight from the run. The study this toolkit reproduces found reflection *hurt* a 0.5B
model (12 regressions vs 2 fixes on 100 questions); this is the method that measures it.
"""

from __future__ import annotations

from pydantic import Field

from tinyreason.answers import same_answer
from tinyreason.backends.base import Backend
from tinyreason.methods.records import REVISION
from tinyreason.methods.base import Method, MethodConfig, register_method
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.types import Prediction, Problem


class ReflectConfig(MethodConfig):
    reflect_prompt: str = Field("reflect", description="prompt template of the review call (fields: question, solution)")


@register_method
class Reflect(Method):
    name = "reflect"
    record_sections = (REVISION,)
    Config = ReflectConfig

    def templates(self) -> list[PromptTemplate]:
        return [get_prompt(self.config.prompt), get_prompt(self.config.reflect_prompt)]

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        answer_t, reflect_t = self.templates()
        params = self.sampling(problems)
        first = self.ask(backend, answer_t, problems, params, "answer")
        second = self.ask(backend, reflect_t, problems, params, "reflect", solution=[g[0].text for g in first])
        preds = []
        for a, r in zip(first, second, strict=True):
            initial, final = a[0], r[0]
            extra = {
                "initial_answer": initial.answer,
                "final_answer": final.answer,
                "changed": not same_answer(initial.answer, final.answer),
            }
            preds.append(Prediction(final.answer, final.answer_strict, [initial, final], calls=2, extra=extra))
        return preds
