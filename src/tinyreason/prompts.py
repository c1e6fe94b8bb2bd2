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


DISTILL_TRACE = register(
    PromptTemplate(
        name="distill_trace",
        user=(
            "Solve the following math problem. Write your solution in exactly these five labelled sections, "
            "in this order, each label at the start of its own line:\n\n"
            "Facts: the quantities the problem gives, one per line.\n"
            "Relationships: how the quantities are connected (which operations link them).\n"
            "Calculations: the arithmetic, one step per line, each with its result.\n"
            "Verification: check the result another way (work backwards, or recompute differently).\n"
            "Answer: the final answer as a number in the form '#### <number>'.\n\n"
            "Question: {question}"
        ),
        used_by="distill generate (the teacher's prompt; the student is trained on the eval prompt, see train sft)",
    )
)


# -- prompts of the inference-time methods (tinyreason.methods) --------------------------------------

REFLECT = register(
    PromptTemplate(
        name="reflect",
        user=(
            "Here is a math problem and a proposed solution.\n\n"
            "Question: {question}\n\n"
            "Proposed solution:\n{solution}\n\n"
            "Review the proposed solution step by step and check every calculation. If you find a mistake, "
            "correct it. Then write the complete revised solution and, at the end, the final answer as a number "
            "on its own line in the form '#### <number>'."
        ),
        used_by="reflect (the review call after the greedy answer)",
    )
)

SC_REFLECT = register(
    PromptTemplate(
        name="sc-reflect",
        user=(
            "Here is a math problem and several candidate solutions that reach different answers.\n\n"
            "Question: {question}\n\n"
            "{candidates}\n\n"
            "Compare the candidate solutions, check their calculations, and decide which reasoning is correct. "
            "Then write one complete final solution and, at the end, the final answer as a number on its own "
            "line in the form '#### <number>'."
        ),
        used_by="sc-reflect (only when the self-consistency samples disagree)",
    )
)

STRUCTURED = register(
    PromptTemplate(
        name="structured",
        user=(
            "Solve the following math problem. Write your solution in exactly four labelled sections, in this order:\n"
            "Facts: list the quantities given in the problem.\n"
            "Relationships: state how the quantities relate to each other and to what is asked.\n"
            "Calculations: compute step by step.\n"
            "Answer: the final answer as a number on its own line in the form '#### <number>'.\n\n"
            "Question: {question}"
        ),
        used_by="structured-sc",
    )
)

VERIFY = register(
    PromptTemplate(
        name="verify",
        user=(
            "Here is a math problem and a proposed solution.\n\n"
            "Question: {question}\n\n"
            "Proposed solution:\n{solution}\n\n"
            "Is the proposed solution's final answer correct? Reply with exactly one word: CORRECT or INCORRECT."
        ),
        used_by="audit-verifier, sc-verifier (the verifier's verdict on one chain)",
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


# -- program-aided reasoning (methods/pal.py, methods/hybrid.py) --------------------------------------
# The program prompts ask for a solution() function in one ```python block: tinyreason.methods.programs
# extracts it and tinyreason.sandbox runs it; the grader reads what solution() returns.

_PAL_INSTRUCTIONS = (
    "Write a Python program that solves the following math problem. Define a function solution() that "
    "computes the answer step by step: give every quantity in the problem a descriptive variable name, write "
    "each relationship between quantities as its own line of code, and return the final answer as a number. "
    "Put the whole program in one ```python code block. Use only the Python standard library."
)

# Few-shot exemplars: GSM8K *train* questions (row = 0-based line of openai/gsm8k train, as in
# ../shared/data/gsm8k/train.jsonl), never test items; each program returns the train gold answer (both
# pinned by tests/test_pal.py). Chosen for what the reference model gets wrong in programs: units
# (minutes vs hours) and relationships ("5 less than half as many", "half of what Lisa earned").
PAL_EXEMPLARS: list[dict[str, object]] = [
    {
        "train_row": 1,
        "gold": "10",
        "question": "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of babysitting. How much did she earn?",
        "program": (
            "def solution():\n    dollars_per_hour = 12\n    minutes_worked = 50\n    hours_worked = minutes_worked / 60\n"
            "    earned = dollars_per_hour * hours_worked\n    return earned"
        ),
    },
    {
        "train_row": 12,
        "gold": "85",
        "question": "Randy has 60 mango trees on his farm. He also has 5 less than half as many coconut trees as mango trees. How many trees does Randy have in all on his farm?",
        "program": (
            "def solution():\n    mango_trees = 60\n    # 5 less than half as many coconut trees as mango trees\n"
            "    coconut_trees = mango_trees / 2 - 5\n    total_trees = mango_trees + coconut_trees\n    return total_trees"
        ),
    },
    {
        "train_row": 36,
        "gold": "15",
        "question": "Lisa, Jack, and Tommy earned $60 from washing cars all week. However, half of the $60 was earned by Lisa. Tommy earned half of what Lisa earned. How much more money did Lisa earn than Tommy?",
        "program": (
            "def solution():\n    total_earned = 60\n    lisa_earned = total_earned / 2\n    # Tommy earned half of what Lisa earned\n"
            "    tommy_earned = lisa_earned / 2\n    return lisa_earned - tommy_earned"
        ),
    },
]

PAL = register(
    PromptTemplate(
        name="pal",
        user=_PAL_INSTRUCTIONS + "\n\nQuestion: {question}",
        used_by="pal, pal-sc, hybrid-sc's programs (zero-shot program-aided reasoning, Gao et al. 2022)",
    )
)

PAL_3SHOT = register(
    PromptTemplate(
        name="pal-3shot",
        user=(
            _PAL_INSTRUCTIONS
            + "\n\nHere are three solved examples.\n\n"
            + "".join(f"Question: {ex['question']}\n```python\n{ex['program']}\n```\n\n" for ex in PAL_EXEMPLARS)
            + "Question: {question}"
        ),
        used_by="pal, pal-sc, hybrid-sc with --prompt pal-3shot (program_prompt=pal-3shot for hybrid-sc): PAL with 3 GSM8K-train exemplars",
    )
)
