"""Command flags generated from a pydantic config, plus `--config FILE` (YAML): TRL's `TrlParser`, for Typer.

    @train_app.command("sft")
    @config_flags(SFTRunConfig, aliases={"learning_rate": ["--lr"]})
    def sft_cmd(cfg: SFTRunConfig, out: Optional[Path] = typer.Option(None), ...) -> None:
        ...                                       # cfg: validated, from the file and the flags

    @train_app.command("grpo")
    @config_flags(GRPORunConfig, aliases={"use_vllm": ["--no-vllm"]}, file_flags=("--recipe", "--config"))
    def grpo_cmd(cfg: GRPORunConfig, source: ConfigSource, ...) -> None:
        ...                                       # source.where("max_steps"): '--max-steps' or 'FILE:LINE'

    @app.command("eval")
    @config_flags(EvalSpec, into={"method_options": OptionFlags(MethodFlags, ("--option", "-o"), "...")}, ...)
    def eval_cmd(spec: EvalSpec, include: list[str] = ...) -> None:
        ...                                       # --n 5 / -o n=5: spec.method_options["n"] == 5

Every field becomes one flag (`lora_r` -> `--lora-r`; a bool -> `--x/--no-x`, and a bool's alias that
starts with `--no-` turns it off; a list -> a repeatable flag; a `Literal` -> its choices), its help is the
field's description, and every flag defaults to "not given", so precedence is simply: flag given > the YAML
file > the model's default. Errors name the file:line of a YAML key or the flag that was typed
(tinyreason.config_io). A field whose type no flag can spell (a mapping, a nested model) takes a YAML value:
`--field '{a: 1}'`, unless `into` says how flags fill it (OptionFlags: a flag of its own for each common key,
and a repeatable KEY=VALUE flag for any key; each sets that one key, over the file's mapping). The command's
first parameter receives the config; a `source: ConfigSource` parameter, if it has one, where each value came
from.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tinyreason.cli.app import fail, parse_key_values
from tinyreason.config_io import ConfigFileError, ConfigSource, flag_name, flag_names, locate, parse_value, validate, with_renamed_flags

_PREFIX = "cfg__"  # keeps generated parameter names apart from the command's own (out, force, ...)
_SIMPLE = (str, int, float, bool, Path)


@dataclass(frozen=True)
class OptionFlags:
    """How flags fill one mapping field of a config (an eval's `method_options`): `common` is a pydantic model
    whose fields are the keys common enough for a flag of their own (`n` -> `--n`; its type and help; the
    plug-in's own Config checks the value), and `pairs` names a repeatable KEY=VALUE flag (JSON values) for any
    key. A KEY=VALUE wins over a key's own flag; both win over the file's value of that key."""

    common: type[BaseModel]
    pairs: tuple[str, ...]  # e.g. ("--option", "-o"); errors name a pair by the shortest: '-o n=0'
    help: str


@dataclass(frozen=True)
class _Generated:
    key: str  # the override it sets: a field ('limit') or a key of a mapping field ('method_options.n')
    param: str  # the command parameter that receives it
    annotation: Any
    option: Any  # typer.Option
    convert: Callable[[Any], Any]


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _flag(name: str, info: FieldInfo, aliases: list[str], *, show_default: bool = True) -> tuple[Any, Any, Callable[[Any], Any]]:
    """(annotation, typer.Option, converter) of one field's flag."""
    tp = _strip_optional(info.annotation)
    default = "required" if info.is_required() else info.get_default(call_default_factory=True)
    help_text = info.description or ""
    if show_default and "default" not in help_text:  # a description that explains its default says it better
        help_text += f" (default: {default})"
    decls = [flag_name(name), *aliases]
    keep: Callable[[Any], Any] = lambda v: v  # noqa: E731
    if tp is bool:  # click spells an extra off-switch " /--no-x"
        extra = [f" /{a}" if a.startswith("--no-") else a for a in aliases]
        return Optional[bool], typer.Option(None, f"{decls[0]}/--no-{decls[0][2:]}", *extra, help=help_text), keep
    if typing.get_origin(tp) is Literal and all(isinstance(a, str) for a in typing.get_args(tp)):
        return Optional[tp], typer.Option(None, *decls, help=help_text), keep  # Typer checks the choices
    if tp in _SIMPLE:
        return Optional[tp], typer.Option(None, *decls, help=help_text), keep
    if typing.get_origin(tp) is list and typing.get_args(tp) and typing.get_args(tp)[0] in _SIMPLE:
        item = typing.get_args(tp)[0]
        return Optional[list[item]], typer.Option(None, *decls, help=f"{help_text} (repeat the flag for each item)"), keep
    return Optional[str], typer.Option(None, *decls, help=f"{help_text} (a YAML value)"), parse_value


def _generate(model_cls: type[BaseModel], aliases: dict[str, list[str]], into: dict[str, OptionFlags]) -> tuple[list[_Generated], dict[str, str]]:
    """The generated flags in field order, and how errors name each override key."""
    out, names = [], flag_names(model_cls, aliases)
    for name, info in model_cls.model_fields.items():
        if name not in into:
            out.append(_Generated(name, _PREFIX + name, *_flag(name, info, aliases.get(name, []))))
            continue
        for key, key_info in into[name].common.model_fields.items():  # the plug-in's Config knows the default
            out.append(_Generated(f"{name}.{key}", f"{_PREFIX}{name}__{key}", *_flag(key, key_info, aliases.get(f"{name}.{key}", []), show_default=False)))
            names[f"{name}.{key}"] = flag_name(key)
        pairs = into[name].pairs
        out.append(_Generated(name, _PREFIX + name, Optional[list[str]], typer.Option(None, *pairs, help=into[name].help), lambda v: v))
    return out, names


def config_flags(model_cls: type[BaseModel], *, aliases: dict[str, list[str]] | None = None, file_flags: tuple[str, ...] = ("--config",),
                 into: dict[str, OptionFlags] | None = None, prepare: Callable[..., None] | None = None,
                 explain: Callable[[list[Any], ConfigSource], str] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command whose first parameter takes the `model_cls` config: it gets a flag per field and a YAML
    file flag (`file_flags`: its names). A `source` parameter, if the command has one, receives the ConfigSource.
    `into`: how flags fill mapping fields (OptionFlags). `prepare(**the command's own arguments)` runs before the
    config is validated (eval loads the plug-ins its spec may name); `explain(pydantic errors, source)` words a
    config that does not validate (default: a line per problem, naming its file:line or flag)."""
    aliases, into = with_renamed_flags(model_cls, aliases or {}), into or {}  # a field's old name (before it took TRL's) stays a flag
    generated, names = _generate(model_cls, aliases, into)
    pair_flags = {name: min(o.pairs, key=len) for name, o in into.items()}

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        params = inspect.signature(fn).parameters
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in list(params.values())[1:] if p.name != "source"]
        config_param = inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
            default=typer.Option(None, *file_flags, help=f"YAML file of {model_cls.__name__} fields; flags given on the command line win"))

        def command(**kwargs: Any) -> Any:
            config_file = kwargs.pop("config_file")
            given, named = {}, dict(names)
            for g in generated:
                value = kwargs.pop(g.param)
                if value is None or value == [] or value == ():
                    continue
                if g.key in into:  # KEY=VALUE pairs of a mapping field: one override per key, over its own flag
                    for k, v in parse_key_values(list(value), into[g.key].pairs[0]).items():
                        given[f"{g.key}.{k}"], named[f"{g.key}.{k}"] = v, f"{pair_flags[g.key]} {k}="
                else:
                    given[g.key] = g.convert(list(value) if isinstance(value, tuple) else value)
            if prepare is not None:
                prepare(**kwargs)
            try:
                source = locate(config_file, given, override_names=named, model_cls=model_cls)
                cfg = validate(model_cls, source.doc)
            except ConfigFileError as e:
                fail(explain(e.errors, source) if explain is not None and e.errors else "\n  ".join(["invalid config:", *e.problems]))
            return fn(cfg, source=source, **kwargs) if "source" in params else fn(cfg, **kwargs)

        generated_params = [inspect.Parameter(g.param, inspect.Parameter.KEYWORD_ONLY, annotation=g.annotation, default=g.option) for g in generated]
        command.__signature__ = inspect.Signature([*(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own), config_param, *generated_params])  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = fn.__name__, fn.__doc__
        return command

    return decorate
