"""Validated configs from YAML files, with the file and line of every problem.

    cfg = load_yaml_model("recipes/sft.yaml", SFTRunConfig)                       # the file alone
    cfg = load_yaml_model("recipes/sft.yaml", SFTRunConfig, {"lora_r": 8},        # flags win over the file
                          override_names={"lora_r": "--lora-r"})

Any pydantic model works (TRL's `TrlParser` fills a dataclass from flags or YAML the same way). The file is
read with PyYAML's composer, which keeps each key's line, so a problem is reported where it is:

    recipes/sft.yaml:7: lora_rank: unknown key (valid: model, data, traces, ...)
    recipes/sft.yaml:9: num_train_epochs: Input should be a valid number, unable to parse string as a number (got 'one')
    --lora-r: Input should be greater than or equal to 1 (got 0)

When later checks need to say where a value was set (train grpo's recipe checks), `load_with_source` also
returns a `ConfigSource`:

    cfg, src = load_with_source("recipes/grpo-4gb.yaml", GRPORunConfig, {"max_steps": 2},
                                override_names={"max_steps": "--max-steps"})
    src.where("max_steps")        # '--max-steps' (a flag overrode the file)
    src.where("learning_rate")    # 'recipes/grpo-4gb.yaml:28'
    src.where("seed")             # 'default'

Building blocks for other loaders (recipes.py): `read_yaml` gives a `Located` (the data plus where each key
came from), `merge` lays one over another (the top one wins, key by key, nested mappings merged), and
`validate` builds the model from a Located (`locate` is load_with_source short of that step, for a command that
words validation errors its own way: `ConfigFileError.errors` keeps pydantic's). Duplicate keys are an error,
never "the last one wins".
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[Any, ...]


class ConfigFileError(ValueError):
    """A config that cannot be read or does not validate; each problem names its file:line (or flag)."""

    def __init__(self, problems: list[str], heading: str | None = None, errors: list[Any] | None = None) -> None:
        self.problems = problems
        self.errors = errors or []  # pydantic's errors, when validation failed: for a caller that words them its own way
        super().__init__("\n".join(problems) if heading is None else "\n  ".join([heading, *problems]))


@dataclass
class Located:
    """Data read from YAML (or flags), and where each key path came from ('file:line' or '--flag')."""

    data: Any
    origin: str  # where the whole thing came from: a file path, or "flags"
    where: dict[Loc, str] = field(default_factory=dict)
    spelled: dict[str, str] = field(default_factory=dict)  # a renamed top-level key -> the old name it was written as

    def at(self, loc: Loc) -> str:
        """The place of the longest known prefix of `loc` (the origin when nothing is known)."""
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.where:
                return self.where[loc[:end]]
        return self.where.get((), self.origin)

    def sub(self, key: str | int) -> "Located":
        """The value under `key` (a mapping key or a list index; None when absent), with its places."""
        places = {loc[1:]: w for loc, w in self.where.items() if loc[:1] == (key,)}
        if isinstance(self.data, dict):
            value = self.data.get(key)
        else:
            value = self.data[key] if isinstance(self.data, list) and isinstance(key, int) and key < len(self.data) else None
        return Located(value, self.origin, places)


def _mark(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _build(node: yaml.Node, path: Path, loc: Loc, where: dict[Loc, str], constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise ConfigFileError([f"{_mark(path, key_node)}: a key must be a plain scalar, got {type(key).__name__}"])
            if key in out:
                raise ConfigFileError([f"{_mark(path, key_node)}: duplicate key '{key}' (first at {where[(*loc, key)]})"])
            where[(*loc, key)] = _mark(path, key_node)
            out[key] = _build(value_node, path, (*loc, key), where, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            where[(*loc, i)] = _mark(path, item)
            items.append(_build(item, path, (*loc, i), where, constructor))
        return items
    return constructor.construct_object(node, deep=True)


def read_yaml(path: str | Path) -> Located:
    """Parse a YAML file keeping each key's line. An empty file is an empty mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigFileError([f"{path}: no such file"])
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigFileError([f"{at}: not valid YAML ({getattr(e, 'problem', None) or e})"]) from None
    if node is None:
        return Located({}, str(path), {(): str(path)})
    where: dict[Loc, str] = {(): _mark(path, node)}
    try:
        data = _build(node, path, (), where, yaml.constructor.SafeConstructor())
    except yaml.constructor.ConstructorError as e:
        mark = e.problem_mark
        raise ConfigFileError([f"{path}:{mark.line + 1 if mark else '?'}: {e.problem}"]) from None
    return Located(data, str(path), where)


def read_mapping(path: str | Path) -> Located:
    """read_yaml, requiring a mapping at the top."""
    doc = read_yaml(path)
    if not isinstance(doc.data, dict):
        raise ConfigFileError([f"{doc.at(())}: expected a mapping of key: value at the top, got {type(doc.data).__name__}"])
    return doc


def from_overrides(overrides: dict[str, Any], names: dict[str, str] | None = None, origin: str = "flags") -> Located:
    """Flag values as a Located; a dotted key ('method_options.n') sets a nested value."""
    data: dict[str, Any] = {}
    where: dict[Loc, str] = {}
    for key, value in overrides.items():
        parts = tuple(key.split("."))
        node = data
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
        where[parts] = (names or {}).get(key, f"override {key}")
    return Located(data, origin, where)


def merge(base: Located, top: Located) -> Located:
    """`top` over `base`: nested mappings merge key by key, anything else in `top` replaces. The whole keeps
    top's place when top is a file (an experiment over shared defaults), base's when top is flags."""
    where = dict(base.where)
    data = _merge(base.data, top.data, (), top, where)
    replaced = top.data if isinstance(top.data, dict) else data
    spelled = {**{k: v for k, v in base.spelled.items() if k not in replaced}, **top.spelled}
    if () in top.where:
        where[()] = top.where[()]
        return Located(data, top.origin, where, spelled)
    return Located(data, base.origin, where, spelled)


def _merge(a: Any, b: Any, loc: Loc, top: Located, where: dict[Loc, str]) -> Any:
    if loc and loc in top.where:
        where[loc] = top.where[loc]
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(a.get(k), v, (*loc, k), top, where)
        return out
    below = lambda w: len(w) > len(loc) and w[: len(loc)] == loc  # noqa: E731
    for stale in [w for w in where if below(w)]:
        del where[stale]  # b replaces the whole subtree: a's places under it no longer apply
    where.update({w: p for w, p in top.where.items() if below(w)})
    return b


def validate(model_cls: type[M], doc: Located) -> M:
    """Build `model_cls` from the located data; a ConfigFileError lists every problem with its place.

    A model may name keys it refuses (`key_problems(keys) -> {key: why}`: a field its program computes) and
    read old names as new ones (`renamed_keys() -> {old: new}`, train/trl_config.py): a refused key is
    reported at its line, a renamed one keeps its line (rename_keys)."""
    if doc.data is not None and not isinstance(doc.data, dict):
        raise ConfigFileError([f"{doc.at(())}: expected a mapping for {model_cls.__name__}, got {type(doc.data).__name__}"])
    refused = getattr(model_cls, "key_problems", lambda keys: {})(list(doc.data or {}))
    if refused:
        raise ConfigFileError([f"{doc.at((k,))}: {k}: {why}" for k, why in refused.items()])
    doc = rename_keys(model_cls, doc)
    try:
        return model_cls(**(doc.data or {}))
    except ValidationError as e:
        raise ConfigFileError([problem_line(model_cls, doc, err) for err in e.errors()], errors=e.errors()) from None


def rename_keys(model_cls: type[BaseModel], doc: Located) -> Located:
    """`doc` with the model's old key names as their new ones, each keeping its place. Loaders apply it to each
    layer before merging, so a new name on top replaces an old one below it."""
    renamed = getattr(model_cls, "renamed_keys", dict)()
    if not isinstance(doc.data, dict) or not any(old in doc.data and new not in doc.data for old, new in renamed.items()):
        return doc
    data, where, spelled = dict(doc.data), dict(doc.where), dict(doc.spelled)
    for old, new in renamed.items():
        if old in data and new not in data:  # both set in one layer: key_problems reports it
            data[new] = data.pop(old)
            spelled[new] = old
            for loc in [w for w in where if w[:1] == (old,)]:
                where[(new, *loc[1:])] = where.pop(loc)
    return Located(data, doc.origin, where, spelled)


def problem_line(model_cls: type[BaseModel], doc: Located, err: Any) -> str:
    """One of pydantic's errors as 'FILE:LINE: field: message' (or '--flag: message'), the field named by its place."""
    loc = tuple(err["loc"])
    name = ".".join(map(str, loc))
    if loc and loc[0] in doc.spelled:
        name = f"{doc.spelled[loc[0]]} (now {name})"  # the key as the file or flag spelled it
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model_cls, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=3)
        msg = f"unknown key (valid: {', '.join(valid)}){'; did you mean ' + ' or '.join(close) + '?' if close else ''}"
    elif err["type"] == "missing":
        return f"{doc.at(loc[:-1]) if len(loc) > 1 else doc.origin}: {name}: required, and not set"
    elif loc and not isinstance(err.get("input"), (dict, list)):
        msg += f" (got {err['input']!r})"
    if not loc:
        return f"{doc.at(())}: {msg}"
    place = doc.at(loc)
    return f"{place}: {msg}" if place.startswith(("-", "override ")) else f"{place}: {name}: {msg}"  # a flag names its field


def _fields_at(model_cls: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the (nested) model at `loc`, for the 'valid keys' hint."""
    cls: Any = model_cls
    for part in loc:
        info = getattr(cls, "model_fields", {}).get(part)
        cls = getattr(info, "annotation", None) if info is not None else None
    return list(getattr(cls, "model_fields", {}) or model_cls.model_fields)


@dataclass
class ConfigSource:
    """Where each value of a loaded config came from: a line of its YAML file, a flag, or the model's default."""

    file: Path | None = None  # the YAML file read (None: flags and defaults only)
    doc: Located = field(default_factory=lambda: Located({}, "defaults"))
    flags: dict[str, str] = field(default_factory=dict)  # override key -> the flag as the user spells it

    def where(self, *path: str | int) -> str:
        """'file:line' or '--flag' of the deepest key of `path` that was set; 'default' when none was."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.doc.where:
                return self.doc.where[path[:end]]
        return "default"


def load_with_source(path: str | Path | None, model_cls: type[M], overrides: dict[str, Any] | None = None,
                     *, override_names: dict[str, str] | None = None) -> tuple[M, ConfigSource]:
    """The model from a YAML file, with `overrides` (e.g. the flags that were given) winning over the file,
    and where each value came from; path None: from the overrides alone. `override_names` maps an override
    key to how the user spelled it ('lora_r' -> '--lora-r') for errors."""
    source = locate(path, overrides, override_names=override_names, model_cls=model_cls)
    return validate(model_cls, source.doc), source


def locate(path: str | Path | None, overrides: dict[str, Any] | None = None, *, override_names: dict[str, str] | None = None,
           model_cls: type[BaseModel] | None = None) -> ConfigSource:
    """load_with_source before validation: the YAML file (path None: none) with the overrides over it, and
    where each value came from; with `model_cls`, each layer's old key names read as the model's new ones."""
    overrides = overrides or {}
    spelled = from_overrides(overrides, override_names)
    flags = spelled if model_cls is None else rename_keys(model_cls, spelled)
    doc = flags if path is None else merge(read_mapping(path) if model_cls is None else rename_keys(model_cls, read_mapping(path)), flags)
    given = {key: spelled.where[tuple(key.split("."))] for key in overrides}
    return ConfigSource(None if path is None else Path(path), doc, given)


def load_yaml_model(path: str | Path | None, model_cls: type[M], overrides: dict[str, Any] | None = None,
                    *, override_names: dict[str, str] | None = None) -> M:
    """load_with_source, without the sources."""
    return load_with_source(path, model_cls, overrides, override_names=override_names)[0]


def flag_name(key: str) -> str:
    """The command-line flag of a config field: lora_r -> --lora-r."""
    return "--" + key.replace("_", "-")


def flag_names(model_cls: type[BaseModel], aliases: dict[str, list[str]] | None = None) -> dict[str, str]:
    """How errors name each field's flag: '--learning-rate/--lr' when the field has aliases (a bool's
    '--no-...' alias only turns it off, so it is left out)."""
    aliases = with_renamed_flags(model_cls, aliases)
    names = {name: "/".join([flag_name(name), *(a for a in aliases.get(name, []) if not a.startswith("--no-"))])
             for name in model_cls.model_fields}
    return {**names, **{old: names[new] for old, new in getattr(model_cls, "renamed_keys", dict)().items() if new in names}}


def with_renamed_flags(model_cls: type[BaseModel], aliases: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """`aliases` plus each renamed field's old flag (`--batch-size` for per_device_train_batch_size)."""
    out = {k: list(v) for k, v in (aliases or {}).items()}
    for old, new in getattr(model_cls, "renamed_keys", dict)().items():
        out.setdefault(new, []).append(flag_name(old))
    return out


def parse_value(text: str) -> Any:
    """A value typed on the command line, read as YAML ('8' -> 8, 'null' -> None, '[a, b]' -> a list)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
