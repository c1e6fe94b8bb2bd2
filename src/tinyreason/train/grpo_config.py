"""The GRPO run config (what `recipes/grpo-4gb.yaml` and the `train grpo` flags fill) and the checks that refuse,
before any model is loaded, a recipe TRL would reject minutes later.

    cfg, src = load_grpo_config("recipes/grpo-4gb.yaml", {"max_steps": 2, "data": "train.jsonl"})
    check_recipe(cfg, src, device="cpu", world_size=1)   # ConfigFileError naming the field and where it was set

The recipe is read by tinyreason.config_io (errors name file:line and key), as `train sft --config` files are.

GRPORunConfig is tinyreason's fields (GRPOFields: data, dev watch, rewards; the model and LoRA in
sft.AdapterRunConfig) plus every trl.GRPOConfig field by its TRL name, type, default and help (train/trl_config.py):
`epsilon`, `top_k`, `num_iterations`, ... are recipe keys and flags with no code here. GRPOFields.TRL says where
tinyreason's defaults differ (and why), which TRL fields it computes (refused in a recipe), and the old names that
still load (batch_size -> per_device_train_batch_size, ...). `tinyreason train grpo --help` shows every text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tinyreason.config_io import ConfigFileError, ConfigSource, flag_names, load_with_source
from tinyreason.identity import EXTENDS
from tinyreason.train.rewards import REFLECTION_PHRASES, RewardSpec, get_reward, reward_specs
from tinyreason.train.sft import ADAPTER_COMPUTED, ADAPTER_DEFAULTS, ADAPTER_RENAMED, AdapterRunConfig
from tinyreason.train.trl_config import TRLPart, extend_trl, tr_default

# the fields a `rewards` list replaces (without one, they build the list: rewards.legacy_specs)
LEGACY_REWARD_FIELDS = ("correctness_mode", "correctness_weight", "format_weight", "format_when", "length_weight", "length_target",
                        "reflection_phrases")
# `train grpo` flags beside the generated --field-name ones (cli/grpo.py); errors name them too
FLAG_ALIASES = {"learning_rate": ["--lr"], "use_vllm": ["--no-vllm"]}


class GRPOFields(AdapterRunConfig):
    """One GRPO run: these fields, and every trl.GRPOConfig field by its TRL name (GRPORunConfig). The YAML recipe
    fills it, flags override; the whole model is stored in train_config.json."""

    TRL = TRLPart(
        "GRPOConfig",
        defaults={
            **ADAPTER_DEFAULTS,
            "max_steps": tr_default(200, "3,200 sampled completions; a larger value continues a finished run from its last checkpoint",
                                    ge=1, json_schema_extra=EXTENDS),
            "learning_rate": tr_default(2e-5, "LoRA wants roughly 10x the full-fine-tuning RL rate", gt=0),
            "lr_scheduler_type": tr_default("constant", "RL has no fixed end point; a resumed or extended run keeps its rate"),
            "num_generations": tr_default(8, "the group size G; a group of one has no advantage", ge=2),
            "generation_batch_size": tr_default(16, "2 prompts x 8 completions per optimizer step; a multiple of num_generations "
                                                "and of per_device_train_batch_size x processes (checked)", ge=2),
            "per_device_train_batch_size": tr_default(2, "completions per forward/backward: the logits are the memory limit", ge=1),
            "max_completion_length": tr_default(320, "the model's greedy answers average ~270 tokens", ge=1),
            "temperature": tr_default(0.7, "as `eval --method sc` samples", gt=0),
        },
        computed={
            **ADAPTER_COMPUTED,
            "gradient_accumulation_steps": "generation_batch_size / (per_device_train_batch_size x processes): set generation_batch_size",
            "reward_weights": "the weights of the `rewards` list (or of the reward fields): set them there",
        },
        renamed=ADAPTER_RENAMED,
    )

    # data and prompt
    data: str | None = Field(None, description="local GSM8K train .jsonl (default: openai/gsm8k train from the Hub)")
    prompt: str = Field("cot", description="prompt template; must be the one eval uses (checked)")
    split_seed: int = Field(42, description="seeded order of the train split: the first dev_n rows are the dev slice, the next train_n the training prompts")
    dev_n: int = Field(100, ge=1, description="questions in the dev slice (train split, never trained on, never the test set)")
    train_n: int | None = Field(None, ge=1, description="training prompts after the dev slice (None: all the rest)")
    # rewards (train/rewards.py)
    rewards: list[RewardSpec] | None = Field(
        None, description="the rewards by name, in order: each {name, weight (default 1), options} with name a registered reward "
                          "(correctness {mode}, format {when, mode}, length {target}, reflection {phrases}, or a plug-in's: --include "
                          "FILE.py) or module:function; the reflection probe is added at weight 0 unless listed. None (the default): "
                          "the correctness_*, format_*, length_* fields and reflection_phrases build the list; beside a list they "
                          "must be left unset")
    correctness_mode: Literal["flexible", "strict"] = Field("flexible", description="grader extraction the correctness reward uses")
    correctness_weight: float = Field(1.0, ge=0, description="weight of correctness (1 right, 0 wrong)")
    format_weight: float = Field(0.1, ge=0, description="weight of the format reward (1 when a `#### N` line is present); 0: off")
    format_when: Literal["always", "correct"] = Field(
        "always", description="pay the format reward for any `#### N` line (always) or only on a correct answer (correct: a bare "
                              "`#### N` cannot be learned as a shortcut)")
    length_weight: float = Field(0.0, ge=0, description="weight of the length penalty (0 up to length_target, -1 at the budget); 0: off")
    length_target: int = Field(256, ge=1, description="completion tokens the length penalty allows for free")
    reflection_phrases: list[str] = Field(default_factory=lambda: list(REFLECTION_PHRASES), description="self-reflection phrases counted per completion (watched, not rewarded)")
    # watching the task
    eval_every: int = Field(25, ge=1, description="greedy dev-slice accuracy every this many steps (and at step 0 and the end)")
    dev_max_new_tokens: int = Field(512, ge=1, description="greedy budget on the dev slice (512: as `tinyreason eval`)")
    dev_batch_size: int | None = Field(None, ge=1, description="sequences per generate call in the dev evaluation (default: the hf backend's)")
    watch_questions: int = Field(3, ge=0, description="first dev questions whose sampled completions are kept at each evaluation")
    watch_samples: int = Field(4, ge=1, description="sampled completions kept per watched question (at the training temperature)")
    zero_std_warn: float = Field(0.9, ge=0, le=1, description="warn when frac_reward_zero_std is at least this ...")
    zero_std_patience: int = Field(5, ge=1, description="... for this many logging steps in a row (the gradient is ~zero)")
    # which adapter the run keeps, and when it stops early (train/watch.py)
    keep: Literal["last", "best_dev"] = Field(
        "last", description="the adapter the run directory holds at the end: the last step's (last), or the dev evaluation's with the "
                            "highest dev accuracy, ties to the earlier step (best_dev: each evaluated step's adapter is saved under "
                            "adapters/; step 0, the base model, is reported beside it, never kept)")
    stop_guessing: float | None = Field(
        None, gt=0, le=1, description="stop training at a dev evaluation where at least this fraction of dev answers are bare guesses "
                                      "(under 20 tokens stating no computation: the collapse measured on CPU); None: never stop early")

    @field_validator("rewards")
    @classmethod
    def _distinct(cls, rewards: list[RewardSpec] | None) -> list[RewardSpec] | None:
        if rewards is not None:
            if not rewards:
                raise ValueError("an empty list rewards nothing: name at least one reward, or leave `rewards` unset for the reward fields")
            seen = [s.name for s in rewards]
            twice = sorted({n for n in seen if seen.count(n) > 1})
            if twice:
                raise ValueError(f"{', '.join(twice)} listed twice: TRL logs each reward under its name; list each once")
        return rewards

    @field_validator(*LEGACY_REWARD_FIELDS)
    @classmethod
    def _not_beside_rewards(cls, value: Any, info: ValidationInfo) -> Any:
        """Runs only for a field that was set (pydantic does not validate defaults): beside a list it would be ignored."""
        if info.data.get("rewards") is not None:
            raise ValueError(f"set, but `rewards` lists the rewards and replaces this field: remove it, or put its value in "
                             f"the list ({_LEGACY_HOME[str(info.field_name)]})")
        return value

    def prompts_per_step(self) -> int:
        return int(getattr(self, "generation_batch_size")) // int(getattr(self, "num_generations"))


GRPORunConfig = extend_trl("GRPORunConfig", GRPOFields, __name__)


_LEGACY_HOME = {"correctness_mode": "correctness's option mode", "correctness_weight": "correctness's weight",
                "format_weight": "format's weight", "format_when": "format's option when", "length_weight": "length's weight",
                "length_target": "length's option target", "reflection_phrases": "reflection's option phrases, at weight 0"}


def load_grpo_config(recipe: str | Path | None, overrides: dict[str, Any]) -> tuple[GRPORunConfig, ConfigSource]:
    """defaults < recipe < overrides, as `train grpo` builds it; an override of None means "flag not given"."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return load_with_source(recipe, GRPORunConfig, given, override_names=flag_names(GRPORunConfig, FLAG_ALIASES))


def check_recipe(cfg: GRPORunConfig, src: ConfigSource, *, device: str, world_size: int) -> None:
    """What TRL (or the hardware) would reject, refused now: each problem names the field and where it was set."""
    from tinyreason.models import context_length

    problems = _batch_problems(cfg, src, world_size)
    limit = context_length(cfg.model)  # config.json only
    for name in ("max_completion_length", "dev_max_new_tokens"):
        value = getattr(cfg, name)
        if limit is not None and value >= limit:
            problems.append(f"{src.where(name)}: {name} {value} does not fit the model's context (max_position_embeddings {limit} "
                            f"in {cfg.model}'s config.json, prompt included); use fewer tokens")
    problems += _reward_problems(cfg, src)
    if cfg.watch_questions > cfg.dev_n:
        problems.append(f"{src.where('watch_questions')}: watch_questions {cfg.watch_questions} exceeds dev_n {cfg.dev_n} (they are dev questions)")
    problems += _vllm_problems(cfg, src, device)
    if problems:
        raise ConfigFileError(problems, heading="recipe refused before loading the model:")


def _reward_problems(cfg: GRPORunConfig, src: ConfigSource) -> list[str]:
    """Every weight 0 (the list's or the legacy fields'), and a length penalty whose target is not below the budget."""
    listed, out = cfg.rewards is not None, []
    specs = reward_specs(cfg)
    for i, spec in enumerate(specs):
        target = get_reward("length").settings(spec.options)["target"] if spec.name == "length" else None
        if spec.weight and target is not None and target >= cfg.max_completion_length:
            where, what = (src.where("rewards", i, "options", "target"), "length's target") if listed else (src.where("length_target"), "length_target")
            out.append(f"{where}: {what} {target} must be below max_completion_length {cfg.max_completion_length} "
                       "(the penalty runs from the target to the budget)")
    if not any(s.weight for s in specs):
        out.append(f"{src.where('rewards') if listed else src.where('correctness_weight')}: every reward weight is 0: nothing would be learned")
    return out


def _batch_problems(cfg: GRPORunConfig, src: ConfigSource, world_size: int) -> list[str]:
    gb, g, per_pass = cfg.generation_batch_size, cfg.num_generations, cfg.per_device_train_batch_size * world_size
    out = []
    if gb % g:
        out.append(f"{src.where('generation_batch_size')}: generation_batch_size {gb} is not divisible by num_generations {g} "
                   f"({src.where('num_generations')}): each step samples whole groups; use a multiple of {g}, e.g. {g * max(1, gb // g)}")
    if gb % per_pass:
        out.append(f"{src.where('generation_batch_size')}: generation_batch_size {gb} is not divisible by per_device_train_batch_size "
                   f"{cfg.per_device_train_batch_size} x {world_size} process(es) = {per_pass} ({src.where('per_device_train_batch_size')}): "
                   "a step is a whole number of forward/backward passes")
    return out


def _vllm_problems(cfg: GRPORunConfig, src: ConfigSource, device: str) -> list[str]:
    if not cfg.use_vllm:
        return []
    if not device.startswith("cuda"):
        return [f"{src.where('use_vllm')}: use_vllm needs a CUDA GPU (device here: {device}); set use_vllm: false"]
    try:
        import vllm  # noqa: F401
    except ImportError:
        return [f"{src.where('use_vllm')}: use_vllm needs vLLM: pip install 'tinyreason[vllm]', or set use_vllm: false"]
    return []


def recipe_warnings(cfg: GRPORunConfig, mode: str) -> list[str]:
    """Settings TRL accepts that the run should say out loud."""
    if cfg.use_vllm and mode == "qlora":
        return ["use_vllm with a 4-bit base: TRL merges the LoRA into the NF4 weights at every sync, which rounds, so vLLM samples "
                "from weights that differ from the policy being trained (TRL issue 3466); prefer quantization: none with vLLM"]
    return []


def grad_accum(cfg: GRPORunConfig, world_size: int) -> int:
    """Forward/backward passes per optimizer step, per process (check_recipe made it a whole number)."""
    return cfg.generation_batch_size // (cfg.per_device_train_batch_size * world_size)
