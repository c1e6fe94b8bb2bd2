"""A YAML recipe and command-line flags filling one pydantic config, with errors that name file, line and key.

    cfg, src = load_config(GRPORunConfig, "recipes/grpo-4gb.yaml", {"max_steps": 2}, flag_names={"max_steps": "--max-steps"})
    src.where("max_steps")        # '--max-steps' (a flag overrode the recipe)
    src.where("learning_rate")    # 'recipes/grpo-4gb.yaml:21'
    src.where("seed")             # 'default'

Precedence: the model's defaults < the recipe < explicit flags (an override of None means "flag not given").
A recipe is data: a mapping of the config's field names, nested mappings for nested models. Every error is
a ConfigError whose message names where the bad value came from:

    recipes/x.yaml:7: unknown key 'lerning_rate' (valid keys: model, data, ...)
    recipes/x.yaml:12: num_generations: Input should be greater than or equal to 2
    --max-steps: Input should be a valid integer

Generic on purpose: any command that grows a `--recipe FILE` (eval specs, sft) reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    """A recipe or flag value the config refuses, with its file:line (or flag) and the key."""


@dataclass
class ConfigSource:
    """Where each value of a config came from: a recipe line, a flag, or the model's default."""

    recipe: Path | None = None
    lines: dict[tuple[str, ...], int] = field(default_factory=dict)  # key path in the recipe -> 1-based line
    flags: dict[str, str] = field(default_factory=dict)  # top-level field set by a flag -> the flag as typed

    def where(self, *path: str) -> str:
        if path and path[0] in self.flags:
            return self.flags[path[0]]
        for depth in range(len(path), 0, -1):  # the deepest recipe key that holds the value
            if path[:depth] in self.lines:
                return f"{self.recipe}:{self.lines[path[:depth]]}"
        return "default"


def read_yaml(path: str | Path) -> tuple[dict[str, Any], dict[tuple[str, ...], int]]:
    """A YAML mapping and the line of every key in it (by key path). Duplicate keys are an error: PyYAML
    would silently keep the last one, and a recipe that says two things means neither."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such recipe file")
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
    try:
        root = loader.get_single_node()  # the node tree carries the line marks; constructed once, below
        data = loader.construct_document(root) if root is not None else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    finally:
        loader.dispose()
    if root is None:
        return {}, {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: a recipe is a mapping of field: value, got a {root.tag.rsplit(':', 1)[-1]}")
    lines: dict[tuple[str, ...], int] = {}
    _walk(root, (), lines, path)
    return data, lines


def _walk(node: Any, prefix: tuple[str, ...], lines: dict[tuple[str, ...], int], path: Path) -> None:
    import yaml

    for key_node, value_node in node.value:
        key = (*prefix, str(key_node.value))
        if key in lines:
            raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: key '{'.'.join(key)}' repeats line {lines[key]}")
        lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            _walk(value_node, key, lines, path)


def load_config(
    model_cls: type[M],
    recipe: str | Path | None,
    overrides: dict[str, Any],
    *,
    flag_names: dict[str, str] | None = None,
) -> tuple[M, ConfigSource]:
    """The config from defaults < recipe < overrides (None values are skipped), and where each value came from."""
    data, lines = read_yaml(recipe) if recipe is not None else ({}, {})
    given = {k: v for k, v in overrides.items() if v is not None}
    flag_names = flag_names or {}
    src = ConfigSource(Path(recipe) if recipe is not None else None, lines, {k: flag_names.get(k, f"--{k.replace('_', '-')}") for k in given})
    try:
        return model_cls.model_validate({**data, **given}), src
    except ValidationError as e:
        raise ConfigError(describe_errors(model_cls, e, src)) from None


def describe_errors(model_cls: type[BaseModel], e: ValidationError, src: ConfigSource) -> str:
    """One line per problem: where the value came from, the key, what is wrong (and the valid keys for a typo)."""
    out = []
    for err in e.errors():
        path = tuple(str(p) for p in err["loc"])
        where = src.where(*path) if path else (str(src.recipe) if src.recipe else "config")
        if err["type"] == "extra_forbidden":
            out.append(f"{where}: unknown key '{'.'.join(path)}' (valid keys: {', '.join(_fields_at(model_cls, path[:-1]))})")
        else:
            key = "" if where.startswith("--") else f"{'.'.join(path) or 'config'}: "  # a flag already names its field
            out.append(f"{where}: {key}{err['msg']}")
    return "\n".join(out)


def _fields_at(model_cls: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """Field names of the (nested) model at `path`, for 'valid keys' hints."""
    cls: Any = model_cls
    for part in path:
        info = cls.model_fields.get(part) if isinstance(cls, type) and issubclass(cls, BaseModel) else None
        if info is None or not (isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel)):
            return []
        cls = info.annotation
    return list(cls.model_fields)
