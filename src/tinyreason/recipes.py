"""Recipes: a study as YAML data. Which experiments, on which model and questions, and what needs what.

    recipe = load_recipe("recipes/tinyreason.yaml", {"model": "./qwen-dir", "limit": 50})
    for exp in recipe.plan(["sc-verifier"])[0]:       # sc, verifier-audit, then sc-verifier
        print(exp.name, exp.kind, exp.out)

An index file (recipes/tinyreason.yaml) holds what the experiments share:

    vars: {model: Qwen/Qwen2.5-0.5B-Instruct, backend: hf, limit: 600, seed: 42, test_data: null, ...}
    runs: results/runs          # run directories: <runs>/<experiment name>   (${runs} in any value)
    results: results            # where the pages go
    baseline: greedy            # the leaderboard's and the regression report's base run
    defaults:                   # per kind, laid under each experiment's config (the experiment wins)
      eval: {model: "${model}", backend: "${backend}", data: "${test_data}", limit: "${limit}", seed: "${seed}"}
    experiments: [greedy.yaml, sc.yaml, ...]    # files beside this one, or inline mappings

and each experiment file one run:

    kind: eval                  # eval | audit-verifier | distill | sft | memorize | grpo (tinyreason.experiments)
    needs: [sft]                # experiments that must be done first (their outputs are ${runs}/<name>)
    optional: true              # skip it, saying why, when this install lacks its method or trainer
    config:                     # the kind's config model, validated as a whole (over config_file: FILE.yaml if given)
      method: greedy
      backend_options: {adapter: "${runs}/sft"}

`${name}` takes a variable's value (a whole-value reference keeps its type: `${limit}` is an int). Command
line values (`--var`, `--model`, ...) replace the index's vars; an unknown variable is an error. A variable
whose value is `{chosen_by: EXPERIMENT}` takes what a protocol experiment chose (its choice.json under
`runs`; `pick: best` takes its best dev candidate instead, significant or not): an experiment that uses it needs that experiment (added to its `needs`), and until the choice exists
it is "waiting" (reproduce loads it again once the protocol has run). `--var NAME=VALUE` fixes it instead. The name of
an experiment is its file's stem unless it sets `name:`. Every problem in every file is reported at once,
each with its file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tinyreason.config_io import ConfigFileError, Located, from_overrides, merge, read_mapping, rename_keys, validate
from tinyreason.experiments import KINDS, Kind

NAME = r"^[a-z0-9][a-z0-9._-]*$"
KindName = Literal["eval", "protocol", "audit-verifier", "distill", "sft", "memorize", "grpo"]
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RecipeIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = Field("", description="what this recipe reproduces")
    vars: dict[str, Any] = Field(default_factory=dict, description="values for ${name} references; the command line overrides them")
    runs: str = Field("results/runs", description="root of the run directories (relative to the working directory)")
    results: str = Field("results", description="folder for LEADERBOARD.md, INFERENCE_ANALYSIS.md, OVERFIT_REPORT.md")
    baseline: str | None = Field("greedy", description="eval experiment every other is compared with")
    include: list[str] = Field(default_factory=list, description="plug-in files (.py, relative to this file) loaded before the experiments are read")
    also_runs: list[str] = Field(default_factory=list, description="other run roots (e.g. the study under another prompt) whose eval runs the pages show beside this recipe's")
    defaults: dict[KindName, dict[str, Any]] = Field(default_factory=dict, description="per kind: config laid under each experiment's")
    experiments: list[str | dict[str, Any]] = Field(min_length=1, description="experiment files (beside this one) or inline experiments")


class ExperimentHead(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME, description="run directory name under `runs`, and how --only and needs refer to it")
    kind: KindName = Field(description="what runs (tinyreason.experiments)")
    description: str = Field("", description="one line for people")
    needs: list[str] = Field(default_factory=list, description="experiments that must be done before this one")
    optional: bool = Field(False, description="skip (not fail) when this install lacks the method or trainer")
    same_as: list[str] = Field(default_factory=list, description="the eval experiment(s) this one measures by other means (backend, weights, batch size), one name or a list: FIDELITY.md pairs it with each and measures how far they agree")
    gpu: bool = Field(False, description="GPU-sized: where CUDA is missing, reproduce skips it (saying so) unless it is done, rather than run it for days on the CPU")
    seeds: list[int] | None = Field(None, min_length=1, description="a seed axis: one experiment NAME-s<seed> per seed, with ${run_seed} = the seed and ${seed_suffix} = -s<seed>")
    config: dict[str, Any] | None = Field(None, description="the kind's config")
    config_file: str | None = Field(None, description="a YAML file (beside this one) of the kind's config, under `config`")

    @field_validator("same_as", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else [] if value is None else value


@dataclass(frozen=True)
class Chosen:
    """A variable set by a protocol experiment's choice: `value` is None until that experiment has run."""

    experiment: str
    value: Any


@dataclass
class Experiment:
    name: str
    kind: str
    needs: list[str]
    optional: bool
    description: str
    out: Path
    where: str  # file:line of its definition
    config: BaseModel | None  # None when unavailable or waiting
    unavailable: str | None = None
    waiting: str | None = None
    same_as: tuple[str, ...] = ()  # the evals it is a twin of (FIDELITY.md), one name or a list in the recipe
    gpu: bool = False  # runs only where CUDA is (reproduce.no_gpu)

    @property
    def runner(self) -> Kind:
        return KINDS[self.kind]


@dataclass
class Recipe:
    path: Path
    vars: dict[str, Any]
    runs: Path
    results: Path
    baseline: str | None
    experiments: list[Experiment] = field(default_factory=list)
    also_runs: list[Path] = field(default_factory=list)
    reload_args: dict[str, Any] = field(default_factory=dict)  # what load_recipe was given, for reload()

    def reload(self) -> "Recipe":
        """The same recipe read again (a protocol's choice made since is now in its variables)."""
        return load_recipe(self.path, **self.reload_args)

    def get(self, name: str) -> Experiment:
        for e in self.experiments:
            if e.name == name:
                return e
        raise KeyError(f"{self.path} has no experiment '{name}'")

    def plan(self, only: list[str] | None = None) -> tuple[list[Experiment], list[str]]:
        """Experiments in dependency order (recipe order where free). With `only`: those and, transitively,
        what they need; the second value lists the names added that way."""
        names = [e.name for e in self.experiments]
        only = [m for n in only or [] for m in (_seeded(n, names) or [n])] if only else only  # NAME selects every NAME-s<seed>
        unknown = [n for n in only or [] if n not in names]
        if unknown:
            raise ConfigFileError([f"--only: no experiment named {', '.join(unknown)} in {self.path} (it has: {', '.join(names)})"])
        wanted = set(only or names)
        stack = list(wanted)
        while stack:
            for need in self.get(stack.pop()).needs:
                if need not in wanted:
                    wanted.add(need)
                    stack.append(need)
        order, placed = [], set()
        while len(order) < len(wanted):  # cycles were refused at load time, so each pass places at least one
            for e in self.experiments:
                if e.name in wanted and e.name not in placed and all(n in placed for n in e.needs):
                    order.append(e)
                    placed.add(e.name)
        return order, [n for n in names if n in wanted and only is not None and n not in only]


def _seeded(base: str, names: list[str]) -> list[str]:
    return [] if base in names else [n for n in names if re.fullmatch(re.escape(base) + r"-s\d+", n)]


def interpolate(doc: Located, values: dict[str, Any], used: list[tuple[str, Chosen]] | None = None,
                unset: dict[str, set[str]] | None = None) -> Located:
    """Replace ${name} in every string of `doc` (a whole-value reference keeps the variable's type). A
    Chosen variable gives its value and is listed in `used`; a variable left null is listed in `unset`
    (name -> the places it is used)."""
    problems: list[str] = []

    def value_of(name: str, loc: tuple[Any, ...]) -> Any:
        if name not in values:
            problems.append(f"{doc.at(loc)}: unknown variable ${{{name}}} (defined: {', '.join(sorted(values))})")
        value = values.get(name)
        if value is None and name in values and unset is not None:
            unset.setdefault(name, set()).add(f"{doc.at(loc)}: {loc[-1]}" if loc else doc.at(loc))  # as validation names it
        if isinstance(value, Chosen):
            if used is not None:
                used.append((name, value))
            return value.value
        return value

    def walk(v: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(v, dict):
            return {k: walk(x, (*loc, k)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, (*loc, i)) for i, x in enumerate(v)]
        if not isinstance(v, str):
            return v
        whole = _VAR.fullmatch(v)
        if whole:
            return value_of(whole[1], loc)
        return _VAR.sub(lambda m: str(value_of(m[1], loc)), v)

    data = walk(doc.data, ())
    if problems:
        raise ConfigFileError(problems)
    return Located(data, doc.origin, doc.where, doc.spelled)


def _experiment_doc(index: Located, i: int, entry: Any, base: Path) -> tuple[Located, Path, str | None]:
    """(the experiment's located mapping, the folder its relative files are in, its default name)."""
    if isinstance(entry, dict):
        return index.sub("experiments").sub(i), base, None
    path = base / entry
    if not path.is_file():
        raise ConfigFileError([f"{index.at(('experiments', i))}: experiment file {path} does not exist"])
    return read_mapping(path), path.parent, path.stem


def _config_doc(doc: Located, folder: Path, config_file: str | None, layer: Callable[[Located], Located]) -> Located:
    """The experiment's config: `config_file` (a flat config YAML, as the training commands' --config read)
    with the experiment's own `config:` keys over it; `layer` is applied to each before they merge."""
    config = doc.sub("config")
    if config.data is None:
        config = Located({}, doc.origin, {(): doc.at(())})
    if config_file is None:
        return layer(config)
    path = folder / config_file
    if not path.is_file():
        raise ConfigFileError([f"{doc.at(('config_file',))}: config file {path} does not exist"])
    return merge(layer(read_mapping(path)), layer(config))


def load_experiments(index: Located, i: int, entry: Any, base: Path, values: dict[str, Any], runs: Path,
                     settings: dict[str, dict[str, Any]] | None = None, unset: dict[str, set[str]] | None = None) -> list[Experiment]:
    """One entry of the index: one experiment, or one per seed of its `seeds:` axis (NAME-s<seed>)."""
    doc, folder, stem = _experiment_doc(index, i, entry, base)
    if stem is not None and "name" not in doc.data:
        doc = merge(doc, from_overrides({"name": stem}, {"name": f"{doc.origin} (name from the file name)"}))
    head = validate(ExperimentHead, doc)
    if not head.seeds:
        return [load_experiment(index, doc, folder, head, values, runs, settings, unset)]
    out = []
    for seed in head.seeds:
        axis = {**values, "run_seed": seed, "seed_suffix": f"-s{seed}"}
        per_seed = lambda text: _VAR.sub(lambda m: str(axis.get(m[1], m[0])), text)  # noqa: E731 - needs and same_as follow the seed
        named = head.model_copy(update={"name": f"{head.name}-s{seed}", "needs": [per_seed(n) for n in head.needs],
                                        "same_as": [per_seed(n) for n in head.same_as]})
        out.append(load_experiment(index, doc, folder, named, axis, runs, settings, unset))
    return out


def load_experiment(index: Located, doc: Located, folder: Path, head: ExperimentHead, values: dict[str, Any], runs: Path,
                    settings: dict[str, dict[str, Any]] | None = None, unset: dict[str, set[str]] | None = None) -> Experiment:
    kind = KINDS[head.kind]
    out = runs / head.name
    exp = Experiment(head.name, head.kind, head.needs, head.optional, head.description, out, doc.at(()), None, same_as=tuple(head.same_as),
                     gpu=head.gpu)
    absent = kind.unavailable({})  # the kind itself (a trainer module) is missing: its config cannot be read
    if head.optional and absent is not None:
        exp.unavailable = absent[1]
        return exp
    used: list[tuple[str, Chosen]] = []
    model = kind.config_model() if absent is None else None
    layer = (lambda d: rename_keys(model, d)) if model is not None else (lambda d: d)  # old names, per layer (config_io)
    config = interpolate(merge(layer(index.sub("defaults").sub(head.kind)), _config_doc(doc, folder, head.config_file, layer)), values,
                         used, unset)
    exp.needs = [*exp.needs, *dict.fromkeys(c.experiment for _, c in used if c.experiment not in exp.needs)]
    pending = [(n, c) for n, c in used if c.value is None]
    if pending:
        exp.waiting = "; ".join(f"${{{n}}} is chosen by {c.experiment}, which has not run yet" for n, c in pending)
        return exp
    own = (settings or {}).get(head.name)
    if own:  # --set NAME.FIELD=VALUE: over everything the files say
        config = merge(config, layer(from_overrides(own, {k: f"--set {head.name}.{k}" for k in own})))
    missing = kind.unavailable(config.data)
    if missing is not None:
        where, reason = missing
        if head.optional:
            exp.unavailable = reason
            return exp
        place = doc.at(("kind",)) if where == "kind" else config.at((where,))
        raise ConfigFileError([f"{place}: {reason}; mark the experiment `optional: true` to skip it while it is missing"])
    taken = [f for f in kind.fixed if f in config.data]
    if taken:
        raise ConfigFileError([f"{config.at((f,))}: {f} is set by reproduce ({kind.fixed_fields(out)[f]}); remove it" for f in taken])
    exp.config = validate(kind.config_model(), merge(config, from_overrides(kind.fixed_fields(out), origin=config.origin)))
    return exp


def _check_graph(recipe: Recipe, index: Located) -> list[str]:
    problems, seen = [], {}
    for e in recipe.experiments:
        if e.name in seen:
            problems.append(f"{e.where}: experiment name '{e.name}' is used twice (also {seen[e.name]})")
        seen[e.name] = e.where
    for e in recipe.experiments:
        problems += [f"{e.where}: needs '{n}', which is not an experiment of this recipe" for n in e.needs if n not in seen]
        problems += [f"{e.where}: same_as '{n}' is not an eval experiment of this recipe" for n in e.same_as
                     if n not in seen or recipe.get(n).kind != "eval"]
    done: set[str] = set()
    while True:
        ready = [e.name for e in recipe.experiments if e.name not in done and all(n in done or n not in seen for n in e.needs)]
        if not ready:
            break
        done.update(ready)
    stuck = [e.name for e in recipe.experiments if e.name not in done]
    if stuck:
        problems.append(f"{recipe.path}: these experiments need each other in a cycle: {', '.join(stuck)}")
    if recipe.baseline is not None and (recipe.baseline not in seen or recipe.get(recipe.baseline).kind != "eval"):
        problems.append(f"{index.at(('baseline',))}: baseline '{recipe.baseline}' is not an eval experiment of this recipe")
    return problems


def load_recipe(path: str | Path, variables: dict[str, Any] | None = None, *, runs: str | Path | None = None,
                results: str | Path | None = None, settings: dict[str, dict[str, Any]] | None = None) -> Recipe:
    """Read and validate an index file and every experiment it lists. `variables` (from the command line)
    replace the index's vars; `settings` ({experiment: {field: value}}, from --set) replace fields of one
    experiment's config; `runs` / `results` replace its folders. Raises ConfigFileError listing every problem."""
    path = Path(path)
    doc = read_mapping(path)
    index = validate(RecipeIndex, doc)
    from tinyreason.plugins import PluginError, load

    try:
        load([str(p if p.is_absolute() else path.parent / p) for p in map(Path, index.include)])
    except PluginError as e:
        raise ConfigFileError([f"{doc.at(('include',))}: {e}"]) from None
    variables = variables or {}
    unknown = [k for k in variables if k not in index.vars]
    if unknown:
        raise ConfigFileError([f"--var {k}: {path} has no such variable (its variables: {', '.join(index.vars)})" for k in unknown])
    for builtin in ("runs", "run_seed", "seed_suffix"):
        if builtin in index.vars:
            raise ConfigFileError([f"{doc.at(('vars', builtin))}: `{builtin}` is a built-in variable; set the top-level `runs:` or an experiment's `seeds:` instead"])
    runs_root = Path(runs if runs is not None else index.runs)
    values = {**index.vars, **variables, "runs": str(runs_root), "run_seed": variables.get("seed", index.vars.get("seed")), "seed_suffix": ""}
    chosen = {k: v for k, v in values.items() if isinstance(v, dict) and "chosen_by" in v}
    problems: list[str] = [f"{doc.at(('vars', k))}: {k}: a chosen variable is {{chosen_by: EXPERIMENT}} (and optionally pick: chosen|best), nothing else"
                           for k, v in chosen.items() if not set(v) <= {"chosen_by", "pick"} or v.get("pick", "chosen") not in ("chosen", "best")]
    values.update({k: Chosen(str(v["chosen_by"]), _chosen_value(runs_root / str(v["chosen_by"]), str(v.get("pick", "chosen")))) for k, v in chosen.items()})
    recipe = Recipe(path, values, runs_root, Path(results if results is not None else index.results), index.baseline,
                    also_runs=[Path(p) for p in index.also_runs], reload_args={"variables": variables, "runs": runs, "results": results, "settings": settings})
    unset: dict[str, set[str]] = {}
    for i, entry in enumerate(index.experiments):
        try:
            recipe.experiments += load_experiments(doc, i, entry, path.parent, values, runs_root, settings, unset)
        except ConfigFileError as e:
            problems += e.problems
    nulls = [p for p in problems if "(got None)" in p]
    culprits = {k: sorted(w for w in places if any(p.startswith(w + ":") for p in nulls)) for k, places in unset.items()}  # "file:line: field"
    culprits = {k: w for k, w in culprits.items() if w}
    if culprits:  # one line per variable left null that something needs, not one per experiment that uses it
        blamed = {w for ws in culprits.values() for w in ws}
        problems = [*(_unset_line(k, w[0], doc) for k, w in culprits.items()),
                    *(p for p in problems if not (p in nulls and any(p.startswith(w + ":") for w in blamed)))]
    if not problems:
        names = {e.name for e in recipe.experiments}
        problems += [f"--set {n}.…: {path} has no experiment '{n}' (its experiments: {', '.join(sorted(names))})" for n in settings or {} if n not in names]
    problems += _check_graph(recipe, doc) if not problems else []
    if not problems:
        problems += [f"{doc.at(('vars', k))}: {k} is chosen by '{c.experiment}', which is not a protocol experiment of this recipe"
                     for k, c in values.items() if isinstance(c, Chosen) and c.experiment not in {e.name for e in recipe.experiments if e.kind == "protocol"}]
    if problems:
        raise ConfigFileError(problems)
    return recipe


_FLAGS = {"model": "--model PATH", "backend": "--backend NAME", "limit": "--limit N"}


def _unset_line(name: str, where: str, doc: Located) -> str:
    flag = f" (or {_FLAGS[name]})" if name in _FLAGS else ""
    return f"{doc.at(('vars', name))}: variable ${{{name}}} is not set (null), and {where.rsplit(': ', 1)[0]} needs it: pass --var {name}=VALUE{flag}"


def _chosen_value(protocol_dir: Path, pick: str) -> Any:
    """The protocol's choice (`chosen`: what the rule kept) or its best dev candidate (`best`), None before it ran."""
    from tinyreason.protocol import read_choice

    choice = read_choice(protocol_dir)
    return None if choice is None else choice[pick]
