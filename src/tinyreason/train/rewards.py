"""GRPO rewards: plain functions `(completions, **kw) -> list[float]` on the project's one grader.

    correctness(["... #### 18"], gold=["18"])                    # [1.0]: answers_match(extract_answer(text, mode), gold)
    correctness(["so 18 apples"], gold=["18"], mode="strict")    # [0.0]: strict reads only `#### N`
    answer_format(["... #### 18", "18"])                        # [1.0, 0.0]: a `#### N` line the strict grader reads
    answer_format(["#### 5"], gold=["18"], when="correct")      # [0.0]: gated on being right, no shortcut to learn
    length_penalty(["..."], completion_ids=[[7] * 300], target=256, limit=320)   # [-0.6875]: 0 up to target, -1 at the limit
    reflection_count(["Wait, let me re-check."], phrases=["wait", "let me re-check"])   # [2.0]

Rewards follow open-r1's plain-function form (so TRL's GRPOTrainer calls them with the dataset columns as
keyword lists: `gold`, `id`), and nanochat's rule that the RL reward *is* the eval grader: correctness and
format call answers.extract_answer / answers_match, never a parser of their own, so a reward of 1 means
exactly what `tinyreason eval` counts as right.

`reward_funcs(cfg)` builds the list the trainer gets, with the recipe's weights. The reflection counter is a
zero-weight probe: TRL logs its mean per step (`rewards/reflection/mean`, the self-reflection phrases per
completion) but a weight of 0 adds nothing to the advantage — it is watched, not rewarded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from tinyreason.answers import Mode, answers_match, extract_answer

RewardFunc = Callable[..., list[float]]


def correctness(completions: Sequence[str], gold: Sequence[str], mode: Mode = "flexible", **_: Any) -> list[float]:
    """1.0 when the grader's answer (flexible or strict extraction) equals the gold answer, else 0.0."""
    return [1.0 if answers_match(extract_answer(c, mode), g) else 0.0 for c, g in zip(completions, gold, strict=True)]


def answer_format(completions: Sequence[str], gold: Sequence[str] | None = None, when: Literal["always", "correct"] = "always", mode: Mode = "flexible",
                  **_: Any) -> list[float]:
    """1.0 when the completion ends its work with the `#### N` line the prompt asks for (strict extraction
    finds a number), else 0.0. `when="always"`: right or wrong (correctness pays for being right);
    `when="correct"`: only when the answer is also right (graded with `mode`). Measured on the reference model
    on CPU: with `always` at weight 0.1 the policy collapsed within 6 steps to bare `#### N` completions of
    ~5 tokens (format reward 1.0, correctness 0, every group's reward equal: no gradient left)."""
    has_line = [extract_answer(c, "strict") is not None for c in completions]
    if when == "always":
        return [1.0 if h else 0.0 for h in has_line]
    if gold is None:
        raise ValueError("answer_format(when='correct') needs the gold answers")
    return [1.0 if h and right else 0.0 for h, right in zip(has_line, correctness(completions, gold, mode), strict=True)]


def length_penalty(completions: Sequence[str], completion_ids: Sequence[Sequence[int]], target: int, limit: int, **_: Any) -> list[float]:
    """0 for completions of at most `target` tokens, falling linearly to -1 at `limit` (the completion budget):
    pushes toward answering within budget without paying for brevity below the target."""
    span = max(1, limit - target)
    return [-min(1.0, max(0, len(ids) - target) / span) for ids in completion_ids]


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    """One case-insensitive pattern for the phrases, matched as whole words ("wait" not in "waiter");
    curly apostrophes match straight ones."""
    alts = sorted({re.escape(p.strip().lower()).replace("'", "['\u2019]") for p in phrases if p.strip()}, key=len, reverse=True)
    if not alts:
        return re.compile(r"(?!x)x")  # matches nothing: an empty phrase list counts zero
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(alts) + r")(?![A-Za-z])", re.IGNORECASE)


def count_phrases(text: str, pattern: re.Pattern[str]) -> int:
    return len(pattern.findall(text or ""))


def reflection_count(completions: Sequence[str], phrases: Sequence[str], **_: Any) -> list[float]:
    """Self-reflection phrases per completion ("wait", "let me re-check", ...; the list is recipe data)."""
    pattern = phrase_pattern(phrases)
    return [float(count_phrases(c, pattern)) for c in completions]


def _named(name: str, fn: RewardFunc, **bound: Any) -> RewardFunc:
    """`fn` with recipe settings bound, under the name TRL logs it by (rewards/<name>/mean)."""

    def reward(completions: Sequence[str], **kw: Any) -> list[float]:
        return fn(completions=completions, **{**kw, **bound})

    reward.__name__ = reward.__qualname__ = name
    return reward


def reward_funcs(cfg: Any) -> tuple[list[RewardFunc], list[float]]:
    """The trainer's reward functions and their weights from a GRPO config: correctness always, format and
    length when their weight is non-zero, and the zero-weight reflection probe."""
    funcs = [_named("correctness", correctness, mode=cfg.correctness_mode)]
    weights = [cfg.correctness_weight]
    if cfg.format_weight:
        funcs.append(_named("format", answer_format, when=cfg.format_when, mode=cfg.correctness_mode))
        weights.append(cfg.format_weight)
    if cfg.length_weight:
        funcs.append(_named("length", length_penalty, target=cfg.length_target, limit=cfg.max_completion_length))
        weights.append(cfg.length_weight)
    funcs.append(_named("reflection", reflection_count, phrases=list(cfg.reflection_phrases)))
    weights.append(0.0)
    return funcs, weights

