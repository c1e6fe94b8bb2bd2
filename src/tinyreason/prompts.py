"""Every prompt template in one place, named, with the method that uses it.

A template is data (its text is stored verbatim in each run's config.json, so a run can be re-created
and two runs with different prompts never mix). Render with `PROMPTS[name].render(question=...)`.
Training (SFT, distillation) renders the *same* template for the same question: train/eval parity.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyreason.types import Chat


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    user: str  # str.format template
    system: str | None = None  # None: the model's chat template supplies its default system prompt
    used_by: str = ""

    def render(self, **fields: str) -> Chat:
        try:
            content = self.user.format(**fields)
        except KeyError as e:
            raise KeyError(f"prompt '{self.name}' needs field {e}; got {sorted(fields)}") from None
        chat: Chat = []
        if self.system is not None:
            chat.append({"role": "system", "content": self.system})
        chat.append({"role": "user", "content": content})
        return chat


PROMPTS: dict[str, PromptTemplate] = {}


def register(t: PromptTemplate) -> PromptTemplate:
    if t.name in PROMPTS:
        raise ValueError(f"prompt '{t.name}' is already registered")
    PROMPTS[t.name] = t
    return t


def get_prompt(name: str) -> PromptTemplate:
    try:
        return PROMPTS[name]
    except KeyError:
        raise KeyError(f"unknown prompt '{name}': choose one of {', '.join(sorted(PROMPTS))}") from None


COT = register(
    PromptTemplate(
        name="cot",
        user=(
            "Solve the following math problem step by step. "
            "At the end, write the final answer as a number on its own line in the form '#### <number>'.\n\n"
            "Question: {question}"
        ),
        used_by="greedy, sc (the answer prompt of every method unless it names another)",
    )
)


TAXONOMY_JUDGE = register(
    PromptTemplate(
        name="taxonomy-judge",
        user=(
            "A student answered this math problem wrong.\n\n"
            "Problem: {question}\nCorrect answer: {gold}\n\nStudent's solution:\n{solution}\n\n"
            "What is the main cause of the error? Reply with one word: RELATIONSHIP if the student set the problem up "
            "wrongly (misread how the quantities relate), or UNIT if the student confused units (minutes vs hours, "
            "percent vs fraction, dozens, cents vs dollars, 'percent more' read as 'percent of')."
        ),
        used_by="tinyreason regressions --judge-model (analysis.judge): optional LLM split of relationship vs unit errors",
    )
)
