"""The GRPO run config (what `recipes/grpo-4gb.yaml` and the `train grpo` flags fill) and the checks that refuse,
before any model is loaded, a recipe TRL would reject minutes later.

    cfg, src = load_grpo_config("recipes/grpo-4gb.yaml", {"max_steps": 2, "data": "train.jsonl"})
    check_recipe(cfg, src, device="cpu", world_size=1)   # ConfigFileError naming the field and where it was set

The recipe is read by tinyreason.config_io (errors name file:line and key), as `train sft --config` files are.

Every field is documented once, here; `tinyreason train grpo --help` and docs/train.md show these texts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from tinyreason.config_io import ConfigFileError, ConfigSource, flag_names, load_with_source
from tinyreason.identity import EXTENDS, RESUMABLE
from tinyreason.train.rewards import REFLECTION_PHRASES, RewardSpec, get_reward, reward_specs
from tinyreason.train.sft import AdapterRunConfig

# the fields a `rewards` list replaces (without one, they build the list: rewards.legacy_specs)
LEGACY_REWARD_FIELDS = ("correctness_mode", "correctness_weight", "format_weight", "format_when", "length_weight", "length_target",
                        "reflection_phrases")
# `train grpo` flags beside the generated --field-name ones (cli/grpo.py); errors name them too
FLAG_ALIASES = {"learning_rate": ["--lr"], "use_vllm": ["--no-vllm"]}


class GRPORunConfig(AdapterRunConfig):
    """One GRPO run. The YAML recipe fills it, flags override; the whole model is stored in train_config.json."""

    # data and prompt
    data: str | None = Field(None, description="local GSM8K train .jsonl (default: openai/gsm8k train from the Hub)")
    prompt: str = Field("cot", description="prompt template; must be the one eval uses (checked)")
    split_seed: int = Field(42, description="seeded order of the train split: the first dev_n rows are the dev slice, the next train_n the training prompts")
    dev_n: int = Field(100, ge=1, description="questions in the dev slice (train split, never trained on, never the test set)")
    train_n: int | None = Field(None, ge=1, description="training prompts after the dev slice (None: all the rest)")
    seed: int = Field(42, description="LoRA init, sampling and prompt order")
    # optimisation
    max_steps: int = Field(200, ge=1, json_schema_extra=EXTENDS,
                           description="optimizer steps (each: generation_batch_size completions); a larger value continues a finished run from its last checkpoint")
    learning_rate: float = Field(2e-5, gt=0, description="AdamW learning rate of the LoRA weights")
    lr_scheduler: Literal["constant", "constant_with_warmup", "cosine", "linear"] = Field("constant", description="learning-rate schedule")
    warmup: float = Field(0.0, ge=0, description="warm-up: fraction of steps if < 1, else a step count")
    # GRPO (TRL GRPOConfig names in parentheses)
    num_generations: int = Field(8, ge=2, description="group size G: completions per prompt (TRL: num_generations)")
    generation_batch_size: int = Field(16, ge=2, description="completions sampled per optimizer step = prompts per step x G (TRL: generation_batch_size)")
    batch_size: int = Field(2, ge=1, description="completions per forward/backward pass (TRL: per_device_train_batch_size)")
    max_completion_length: int = Field(320, ge=1, description="token budget of a sampled completion (TRL: max_completion_length)")
    temperature: float = Field(0.7, gt=0, description="sampling temperature of the groups")
    top_p: float = Field(1.0, gt=0, le=1, description="nucleus sampling threshold of the groups")
    beta: float = Field(0.0, ge=0, description="KL coefficient; 0: no reference pass (and no KL to log)")
    loss_type: Literal["grpo", "dr_grpo", "dapo", "bnpo"] = Field("dapo", description="loss normalisation (TRL: loss_type)")
    scale_rewards: Literal["group", "batch", "none"] = Field("group", description="advantage scaling by the reward std (TRL: scale_rewards)")
    mask_truncated_completions: bool = Field(False, description="leave completions cut at the budget out of the loss")
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
    # logging, checkpoints
    logging_steps: int = Field(1, ge=1, description="a metrics.jsonl line and a console line every this many steps")
    save_every: int = Field(10, ge=1, json_schema_extra=RESUMABLE, description="checkpoint (adapter + optimizer) every this many steps, for resume")
    save_total_limit: int = Field(2, ge=1, json_schema_extra=RESUMABLE, description="checkpoints kept in the run directory")
    # generation engine
    use_vllm: bool = Field(False, description="generate with vLLM colocated on the GPU (needs CUDA and the vllm extra)")
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, lt=1, description="GPU memory share vLLM reserves (colocate mode)")

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
        return self.generation_batch_size // self.num_generations


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
    gb, g, per_pass = cfg.generation_batch_size, cfg.num_generations, cfg.batch_size * world_size
    out = []
    if gb % g:
        out.append(f"{src.where('generation_batch_size')}: generation_batch_size {gb} is not divisible by num_generations {g} "
                   f"({src.where('num_generations')}): each step samples whole groups; use a multiple of {g}, e.g. {g * max(1, gb // g)}")
    if gb % per_pass:
        out.append(f"{src.where('generation_batch_size')}: generation_batch_size {gb} is not divisible by batch_size {cfg.batch_size} x "
                   f"{world_size} process(es) = {per_pass} ({src.where('batch_size')}): a step is a whole number of forward/backward passes")
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
    return cfg.generation_batch_size // (cfg.batch_size * world_size)
