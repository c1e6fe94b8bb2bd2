"""Every prompt template in one place, named, with the method that uses it.

A template is data (its text is stored verbatim in each run's config.json, so a run can be re-created
and two runs with different prompts never mix). Render with `get_prompt(name).render(question=...)`.
Training (SFT, distillation) renders the *same* template for the same question: train/eval parity.

Wherever a prompt name is accepted (`--prompt`, `-o prompt=`, `reflect_prompt`, `program_prompt`, recipes,
`train sft` / `train grpo` configs) a path to a YAML prompt file is accepted too (tinyreason.prompt_file):

    system: You are a helpful assistant.     # or null: the model's chat template supplies its default
    user: "{question}\nPlease reason step by step, and put your final answer within \\boxed{}."
    exemplars:                               # optional few-shot turns, rendered as prior user/assistant turns
      - {question: "...", answer: "..."}

`tinyreason prompts` lists every registered template with its text and source. The protocol candidates
(PROTOCOL_CANDIDATES) are the answer prompts the `protocol` experiment sweeps on a dev slice of GSM8K train.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyreason.types import Chat


@dataclass(frozen=True)
class Exemplar:
    """One few-shot example: its question goes through the template's `user` text, its answer is the
    assistant's turn."""

    question: str
    answer: str


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    user: str  # str.format template
    system: str | None = None  # None: the model's chat template supplies its default system prompt
    used_by: str = ""
    exemplars: tuple[Exemplar, ...] = ()
    source: str = ""  # where the text comes from (a paper, a harness, a file)

    def render(self, **fields: str) -> Chat:
        try:
            content = self.user.format(**fields)
        except KeyError as e:
            raise KeyError(f"prompt '{self.name}' needs field {e}; got {sorted(fields)}") from None
        chat: Chat = []
        if self.system is not None:
            chat.append({"role": "system", "content": self.system})
        for ex in self.exemplars:
            chat.append({"role": "user", "content": self.user.format(**{**fields, "question": ex.question})})
            chat.append({"role": "assistant", "content": ex.answer})
        chat.append({"role": "user", "content": content})
        return chat

    def record(self) -> dict[str, object]:
        """The template as a run config stores it: its full text (exemplars only when it has any, so runs
        made before exemplars existed keep their identity)."""
        out: dict[str, object] = {"system": self.system, "user": self.user}
        if self.exemplars:
            out["exemplars"] = [{"question": e.question, "answer": e.answer} for e in self.exemplars]
        return out


PROMPTS: dict[str, PromptTemplate] = {}


def register(t: PromptTemplate) -> PromptTemplate:
    if t.name in PROMPTS:
        raise ValueError(f"prompt '{t.name}' is already registered")
    PROMPTS[t.name] = t
    return t


class UnknownPrompt(ValueError):
    """A prompt name that is neither registered nor a prompt file."""


def get_prompt(name: str) -> PromptTemplate:
    """A registered template by name, or the template in a YAML prompt file (a path ending .yaml/.yml, or
    any existing file). Raises UnknownPrompt naming the valid names, or PromptFileError with file:line."""
    if name in PROMPTS:
        return PROMPTS[name]
    from tinyreason.prompt_file import is_prompt_path, load_prompt_file

    if is_prompt_path(name):
        return load_prompt_file(name)
    raise UnknownPrompt(f"unknown prompt '{name}': choose one of {', '.join(sorted(PROMPTS))}, or give a YAML prompt file "
                        "(system:, user: with {question}, optional exemplars:); `tinyreason prompts` shows each one's text")


def check_prompt(name: str) -> str:
    """Pydantic validator of a prompt field: the name must resolve (ValueError with the valid names)."""
    get_prompt(name)
    return name


COT = register(
    PromptTemplate(
        name="cot",
        user=(
            "Solve the following math problem step by step. "
            "At the end, write the final answer as a number on its own line in the form '#### <number>'.\n\n"
            "Question: {question}"
        ),
        used_by="greedy, sc (the answer prompt of every method unless it names another)",
        source="this project's first answer prompt (the instruction before the question; default system)",
    )
)


# -- protocol candidates: answer prompts from the field, swept by the `protocol` experiment -------------
# Each is registered with its source. "default" = system None (the chat template's own system prompt; for
# Qwen2.5 "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."); "plain" = the generic
# system prompt most harnesses send. The protocol experiment (experiments_protocol.py) measures greedy under
# each on a dev slice of GSM8K *train* and keeps `cot` unless another is significantly better there.

PLAIN_SYSTEM = "You are a helpful assistant."
_QWEN_BOXED = "Please reason step by step, and put your final answer within \\boxed{{}}."
_QWEN_SOURCE = "Qwen2.5-Math's evaluation (qwen25-math-cot): the CoT instruction Qwen reports its GSM8K numbers with"
_HASH = "{question}\nSolve the problem step by step. At the end, write the final numeric answer on its own line as '#### <number>'."
_LMEVAL = "Q: {question}\nA: Let's think step by step."
_LMEVAL_SOURCE = "lm-evaluation-harness, task gsm8k_cot_zeroshot (doc_to_text)"

COT_PLAIN = register(PromptTemplate(name="cot-plain", user=COT.user, system=PLAIN_SYSTEM, source="this project's cot with the plain system prompt",
                                    used_by="protocol candidate"))
QWEN_BOXED = register(PromptTemplate(name="qwen-boxed", user="{question}\n" + _QWEN_BOXED, system=PLAIN_SYSTEM, source=_QWEN_SOURCE,
                                     used_by="protocol candidate"))
QWEN_BOXED_DEFAULT = register(PromptTemplate(name="qwen-boxed-default", user="{question}\n" + _QWEN_BOXED, source=_QWEN_SOURCE + ", default system",
                                             used_by="protocol candidate"))
QWEN_BOXED_SYSTEM = register(PromptTemplate(name="qwen-boxed-system", user="{question}", system=_QWEN_BOXED.replace("{{}}", "{}"),
                                            source=_QWEN_SOURCE + ", given as the system prompt with the bare question",
                                            used_by="protocol candidate"))
LMEVAL_COT = register(PromptTemplate(name="lmeval-cot-zeroshot", user=_LMEVAL, source=_LMEVAL_SOURCE + ", default system",
                                     used_by="protocol candidate"))
LMEVAL_COT_PLAIN = register(PromptTemplate(name="lmeval-cot-zeroshot-plain", user=_LMEVAL, system=PLAIN_SYSTEM, source=_LMEVAL_SOURCE,
                                           used_by="protocol candidate"))
HASH_STEPS = register(PromptTemplate(name="hash-steps", user=_HASH, system=PLAIN_SYSTEM,
                                     source="the common Qwen chat form: plain system, question, then the '#### <number>' instruction",
                                     used_by="protocol candidate"))
HASH_STEPS_DEFAULT = register(PromptTemplate(name="hash-steps-default", user=_HASH, source="the '#### <number>' chat form, default system",
                                             used_by="protocol candidate"))

PROTOCOL_CANDIDATES = ("cot", "cot-plain", "qwen-boxed", "qwen-boxed-default", "qwen-boxed-system",
                       "lmeval-cot-zeroshot", "lmeval-cot-zeroshot-plain", "hash-steps", "hash-steps-default")


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

PAL_PLAIN = register(
    PromptTemplate(
        name="pal-plain",
        user=PAL.user,
        system=PLAIN_SYSTEM,
        used_by="protocol-pal candidate: pal with the plain system prompt instead of the model's default",
        source="this project's pal prompt with the plain system prompt",
    )
)
