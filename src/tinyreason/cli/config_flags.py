"""Command flags generated from a pydantic config, plus `--config FILE` (YAML): TRL's `TrlParser`, for Typer.

    @train_app.command("sft")
    @config_flags(SFTRunConfig, aliases={"learning_rate": ["--lr"]})
    def sft_cmd(cfg: SFTRunConfig, out: Optional[Path] = typer.Option(None), ...) -> None:
        ...                                       # cfg: validated, from the file and the flags

    @train_app.command("grpo")
    @config_flags(GRPORunConfig, aliases={"use_vllm": ["--no-vllm"]}, file_flags=("--recipe", "--config"))
    def grpo_cmd(cfg: GRPORunConfig, source: ConfigSource, ...) -> None:
        ...                                       # source.where("max_steps"): '--max-steps' or 'FILE:LINE'

Every field becomes one flag (`lora_r` -> `--lora-r`; a bool -> `--x/--no-x`, and a bool's alias that
starts with `--no-` turns it off; a list -> a repeatable flag; a `Literal` -> its choices), its help is the
field's description, and every flag defaults to "not given", so precedence is simply: flag given > the YAML
file > the model's default. Errors name the file:line of a YAML key or the flag that was typed
(tinyreason.config_io). A field whose type no flag can spell (a mapping, a nested model) takes a YAML value:
`--field '{a: 1}'`. A command that also takes `source: ConfigSource` is given where each value came from.
"""

from __future__ import annotations

import inspect
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Optional, Union

import typer
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tinyreason.cli.app import fail
from tinyreason.config_io import ConfigFileError, flag_name, flag_names, load_with_source, parse_value, with_renamed_flags

_PREFIX = "cfg__"  # keeps generated parameter names apart from the command's own (out, force, ...)
_SIMPLE = (str, int, float, bool, Path)


def _strip_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def _flag(name: str, info: FieldInfo, aliases: list[str]) -> tuple[Any, Any, Callable[[Any], Any]]:
    """(annotation, typer.Option, converter) of one field's flag."""
    tp = _strip_optional(info.annotation)
    default = "required" if info.is_required() else info.get_default(call_default_factory=True)
    help_text = info.description or ""
    if "default" not in help_text:  # a description that explains its default says it better
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


def config_flags(model_cls: type[BaseModel], *, aliases: dict[str, list[str]] | None = None,
                 file_flags: tuple[str, ...] = ("--config",)) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command taking `cfg: model_cls` (first parameter): it gets a flag per field and a YAML file
    flag (`file_flags`: its names). A `source` parameter, if the command has one, receives the ConfigSource."""
    aliases = with_renamed_flags(model_cls, aliases)  # a field's old name (before it took TRL's) stays a flag
    flags = {name: _flag(name, info, aliases.get(name, [])) for name, info in model_cls.model_fields.items()}
    names = flag_names(model_cls, aliases)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn)
        params = inspect.signature(fn).parameters
        own = [p.replace(annotation=hints.get(p.name, p.annotation)) for p in params.values() if p.name not in ("cfg", "source")]
        config_param = inspect.Parameter(
            "config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[Path],
            default=typer.Option(None, *file_flags, help=f"YAML file of {model_cls.__name__} fields; flags given on the command line win"))
        generated = [inspect.Parameter(_PREFIX + name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=opt)
                     for name, (ann, opt, _) in flags.items()]

        def command(**kwargs: Any) -> Any:
            config_file = kwargs.pop("config_file")
            given = {}
            for name, (_, _, convert) in flags.items():
                value = kwargs.pop(_PREFIX + name)
                if value is not None and value != [] and value != ():
                    given[name] = convert(list(value) if isinstance(value, tuple) else value)
            try:
                cfg, source = load_with_source(config_file, model_cls, given, override_names=names)
            except ConfigFileError as e:
                fail("\n  ".join(["invalid config:", *e.problems]))
            return fn(cfg, source=source, **kwargs) if "source" in params else fn(cfg, **kwargs)

        command.__signature__ = inspect.Signature([*(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own), config_param, *generated])  # type: ignore[attr-defined]
        command.__name__, command.__doc__ = fn.__name__, fn.__doc__
        return command

    return decorate
