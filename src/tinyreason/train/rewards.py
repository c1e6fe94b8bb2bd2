"""GRPO rewards: plain functions `(completions, **kw) -> list[float]` on the project's one grader, by name.

    correctness(["... #### 18"], gold=["18"])                    # [1.0]: answers_match(extract_answer(text, mode), gold)
    correctness(["so 18 apples"], gold=["18"], mode="strict")    # [0.0]: strict reads only `#### N`
    answer_format(["... #### 18", "18"])                        # [1.0, 0.0]: a `#### N` line the strict grader reads
    answer_format(["#### 5"], gold=["18"], when="correct")      # [0.0]: gated on being right, no shortcut to learn
    length_penalty(["..."], completion_ids=[[7] * 300], target=256, limit=320)   # [-0.6875]: 0 up to target, -1 at the limit
    reflection_count(["Wait, let me re-check."], phrases=["wait", "let me re-check"])   # [2.0]

Rewards follow open-r1's plain-function form (so TRL's GRPOTrainer calls them with the dataset columns as
keyword lists: `gold`, `id`, and its own `completion_ids`, `prompts`, ...), and nanochat's rule that the RL
reward *is* the eval grader: correctness and format call answers.extract_answer / answers_match, never a
parser of their own, so a reward of 1 means exactly what `tinyreason eval` counts as right.

A recipe names its rewards (`rewards: [{name: correctness}, {name: format, weight: 0.1, options: {when: correct}}]`):
a name registered with `@register_reward(name)` (the four here: correctness, format, length, reflection; a
plug-in's, loaded with `--include FILE.py` or an entry point), or `module:function` (imported). A reward's
options are its keyword-only parameters (after the `*`), checked against the recipe before any model loads;
`from_config` binds an option to a run-config field instead (length's `limit` is max_completion_length).

`reward_funcs(cfg)` builds the list the trainer gets, with the weights. Without `rewards` the legacy fields
build today's list (correctness, format and length when weighted). The reflection counter is a zero-weight
probe unless the list names it: TRL logs its mean per step (`rewards/reflection/mean`, the self-reflection
phrases per completion) but a weight of 0 adds nothing to the advantage — it is watched, not rewarded.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from tinyreason.answers import Mode, answers_match, extract_answer
from tinyreason.options import validate_options

RewardFunc = Callable[..., list[float]]
REFLECTION_PHRASES = ["wait", "let me re-check", "let me recheck", "let me check", "let's reconsider", "let me reconsider",
                      "that doesn't seem right", "that's not right", "on second thought", "let me verify", "double-check", "hmm"]


@dataclass(frozen=True)
class Reward:
    """A reward function under its name: `options` is the pydantic model of its keyword-only parameters (None
    when its signature cannot be read: options then pass unchecked); `from_config` maps an option to the run
    config field that sets it."""

    name: str
    fn: RewardFunc
    options: type[BaseModel] | None
    from_config: dict[str, str] = field(default_factory=dict)

    def origin(self) -> str:
        where = inspect.getsourcefile(self.fn) if inspect.isfunction(self.fn) else None
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', self.fn)}" + (f" ({where})" if where else "")

    def settings(self, options: dict[str, Any]) -> dict[str, Any]:
        """The options checked, with the defaults of those not given: an unknown one is a ValueError, a bad value
        an OptionsError, each naming the valid options."""
        if self.options is None:
            return dict(options)
        valid = list(self.options.model_fields)
        unknown = [k for k in options if k not in valid]
        if unknown:
            bound = [f"{k} is set by the run's {self.from_config[k]}" for k in unknown if k in self.from_config]
            takes = ", ".join(valid) if valid else "none (a reward's options are its keyword-only parameters, after `*`)"
            raise ValueError(f"reward '{self.name}': unknown option {', '.join(unknown)}" + (f" ({'; '.join(bound)})" if bound else "")
                             + f"; it takes: {takes}")
        return validate_options(self.options, f"reward '{self.name}'", options).model_dump()


_REGISTRY: dict[str, Reward] = {}


def register_reward(name: str, *, from_config: dict[str, str] | None = None) -> Callable[[RewardFunc], RewardFunc]:
    """Register `fn` as the reward `name` (what recipes list and TRL logs: rewards/<name>/mean). A name registered
    twice is an error naming both functions."""
    if not name or any(c in name for c in ":/ "):
        raise ValueError(f"reward name {name!r}: use a plain name without ':', '/' or spaces (':' marks module:function)")

    def decorate(fn: RewardFunc) -> RewardFunc:
        reward = _reward(name, fn, from_config or {})
        if name in _REGISTRY:
            raise ValueError(f"reward '{name}' is already registered by {_REGISTRY[name].origin()}; {reward.origin()} registers it "
                             "again: rename one of them")
        _REGISTRY[name] = reward
        return fn

    return decorate


def reward_names() -> list[str]:
    return sorted(_REGISTRY)


def get_reward(name: str) -> Reward:
    """A registered reward, or `module:function` imported; an unknown name is an error listing the valid ones."""
    if name in _REGISTRY:
        return _REGISTRY[name]
    if ":" in name:
        return _reward(name, _import(name), {})
    raise ValueError(f"unknown reward '{name}': choose one of {', '.join(reward_names())}, a plug-in's (--include FILE.py), "
                     "or module:function (a function `(completions, **kw) -> list[float]`)")


def _import(name: str) -> RewardFunc:
    module_name, _, attr = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 — the user's module: say which one and why
        raise ValueError(f"reward '{name}': cannot import module '{module_name}': {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if fn is None or not callable(fn):
        raise ValueError(f"reward '{name}': module '{module_name}' ({getattr(module, '__file__', 'built-in')}) has no function '{attr}'")
    return fn


def _reward(name: str, fn: RewardFunc, from_config: dict[str, str]) -> Reward:
    """Check TRL's calling convention (everything by keyword: completions, the dataset columns, ...) and read the options."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return Reward(name, fn, None, from_config)
    kinds = {p.kind for p in params.values()}
    if inspect.Parameter.VAR_KEYWORD not in kinds or inspect.Parameter.POSITIONAL_ONLY in kinds:
        raise ValueError(f"reward '{name}': {getattr(fn, '__qualname__', fn)} must take TRL's reward arguments by keyword: "
                         "`def f(completions, *, my_option=..., **kw) -> list[float]` (the **kw receives gold, id, completion_ids, ...)")
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 — an annotation that does not resolve: its values go unchecked, its names still are
        hints = {}
    options = {p.name: (hints.get(p.name, Any), ... if p.default is p.empty else p.default) for p in params.values()
               if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in from_config}
    model = create_model("RewardOptions_" + re.sub(r"\W", "_", name), __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
                         **options)
    return Reward(name, fn, model, from_config)


class RewardSpec(BaseModel):
    """One reward of a recipe's `rewards:` list; the name and options are checked when the recipe is read."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="a registered reward (correctness, format, length, reflection, a plug-in's) or module:function")
    weight: float = Field(1.0, allow_inf_nan=False, description="its weight in the sum the advantages are computed from (0: logged only)")
    options: dict[str, Any] = Field(default_factory=dict, description="its keyword-only parameters, e.g. {when: correct} for format")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        unknown = [k for k in data if k not in cls.model_fields] if isinstance(data, dict) else []
        if unknown:  # said here: the config loader's "valid keys" hint would list the run config's fields
            raise ValueError(f"unknown key {', '.join(map(str, unknown))} (valid: {', '.join(cls.model_fields)})")
        return data

    @model_validator(mode="after")
    def _check(self) -> "RewardSpec":
        get_reward(self.name).settings(self.options)  # ValueError naming the reward, the bad option and the valid ones
        return self


# --- the built-in rewards ---------------------------------------------------------------------------------------
@register_reward("correctness")
def correctness(completions: Sequence[str], gold: Sequence[str], *, mode: Mode = "flexible", **_: Any) -> list[float]:
    """1.0 when the grader's answer (flexible or strict extraction) equals the gold answer, else 0.0."""
    return [1.0 if answers_match(extract_answer(c, mode), g) else 0.0 for c, g in zip(completions, gold, strict=True)]


@register_reward("format")
def answer_format(completions: Sequence[str], gold: Sequence[str] | None = None, *, when: Literal["always", "correct"] = "always",
                  mode: Mode = "flexible", **_: Any) -> list[float]:
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
    return [1.0 if h and right else 0.0 for h, right in zip(has_line, correctness(completions, gold, mode=mode), strict=True)]


@register_reward("length", from_config={"limit": "max_completion_length"})
def length_penalty(completions: Sequence[str], completion_ids: Sequence[Sequence[int]], *, target: int = 256, limit: int, **_: Any) -> list[float]:
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


@register_reward("reflection")
def reflection_count(completions: Sequence[str], *, phrases: list[str] = REFLECTION_PHRASES, **_: Any) -> list[float]:  # noqa: B006 — never mutated
    """Self-reflection phrases per completion ("wait", "let me re-check", ...; the list is recipe data)."""
    pattern = phrase_pattern(phrases)
    return [float(count_phrases(c, pattern)) for c in completions]


# --- a run's rewards ----------------------------------------------------------------------------------------------
def legacy_specs(cfg: Any) -> list[RewardSpec]:
    """What the reward fields of a config without `rewards` say: correctness always, format and length when weighted."""
    specs = [RewardSpec(name="correctness", weight=cfg.correctness_weight, options={"mode": cfg.correctness_mode})]
    if cfg.format_weight:
        specs.append(RewardSpec(name="format", weight=cfg.format_weight, options={"when": cfg.format_when, "mode": cfg.correctness_mode}))
    if cfg.length_weight:
        specs.append(RewardSpec(name="length", weight=cfg.length_weight, options={"target": cfg.length_target}))
    return specs


def reward_specs(cfg: Any) -> list[RewardSpec]:
    """The run's rewards in order: its `rewards` list (or the legacy fields'), then the zero-weight reflection
    probe unless the list names reflection."""
    specs = list(cfg.rewards) if cfg.rewards is not None else legacy_specs(cfg)
    if not any(s.name == "reflection" for s in specs):
        specs.append(RewardSpec(name="reflection", weight=0.0, options={"phrases": list(cfg.reflection_phrases)}))
    return specs


def reflection_phrases(cfg: Any) -> list[str]:
    """The phrases the run's reflection reward counts (the dev slice's reflection rate counts the same ones)."""
    spec = next(s for s in reward_specs(cfg) if s.name == "reflection")
    return list(get_reward("reflection").settings(spec.options)["phrases"])


def bound_options(spec: RewardSpec, cfg: Any) -> dict[str, Any]:
    """The keyword arguments fixed for one reward: the options given (checked) and the run-config fields it binds."""
    reward = get_reward(spec.name)
    checked = reward.settings(spec.options)
    return {**{k: checked[k] for k in spec.options}, **{k: getattr(cfg, f) for k, f in reward.from_config.items()}}


def _named(name: str, fn: RewardFunc, **bound: Any) -> RewardFunc:
    """`fn` with recipe settings bound, under the name TRL logs it by (rewards/<name>/mean)."""

    def reward(completions: Sequence[str], **kw: Any) -> list[float]:
        return fn(completions=completions, **{**kw, **bound})

    reward.__name__ = reward.__qualname__ = name
    reward.bound = dict(bound)  # type: ignore[attr-defined]  # what the recipe fixed, for the record and the tests
    return reward


def reward_funcs(cfg: Any) -> tuple[list[RewardFunc], list[float]]:
    """The trainer's reward functions and their weights from a GRPO config (reward_specs: the list, or the legacy
    fields, and the reflection probe)."""
    specs = reward_specs(cfg)
    return [_named(s.name, get_reward(s.name).fn, **bound_options(s, cfg)) for s in specs], [s.weight for s in specs]


def reward_records(cfg: Any) -> list[dict[str, Any]]:
    """What the run config records of the code its rewards run: each plug-in that registered one (file and
    sha256, as eval records a plug-in method) and each module:function's module file, so an edited one is another run."""
    from tinyreason.plugins import records

    specs = reward_specs(cfg)
    out = records({("reward", s.name) for s in specs})
    for name in dict.fromkeys(s.name for s in specs if ":" in s.name):
        module = importlib.import_module(name.partition(":")[0])
        path = getattr(module, "__file__", None)
        out.append({"source": f"module {module.__name__} ({path or 'built-in'})",
                    "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None})
    return out
