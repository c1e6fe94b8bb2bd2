"""Training configs that extend TRL's: every field of `trl.GRPOConfig` / `trl.SFTConfig`, by TRL's name, type,
default and help text, plus tinyreason's own fields (model source, data, dev watch, rewards), in one pydantic model.

    class GRPOFields(TrainerConfig):              # tinyreason's own fields, and how it differs from TRL
        TRL = TRLPart("GRPOConfig", defaults={"learning_rate": tr_default(2e-5, "LoRA ...", gt=0)},
                      computed={"output_dir": "the run directory: --out"}, renamed={"batch_size": "per_device_train_batch_size"})
        dev_n: int = 100
    GRPORunConfig = extend_trl("GRPORunConfig", GRPOFields)     # + all 190 TRL fields, read from the dataclass
    cfg.trl_args(output_dir="runs/x", bf16=False, ...)          # trl.GRPOConfig(**every TRL field, **the computed ones)

open-r1's `GRPOScriptArguments(trl.GRPOConfig)` adds its few fields to TRL's dataclass. Here the TRL part is read
from `dataclasses.fields(trl.GRPOConfig)` into a pydantic model instead, so recipes keep their file:line errors
(tinyreason.config_io), flags are generated (cli/config_flags.py), fields carry identity metadata
(tinyreason.identity), and reproduce compares a stored run by the model. Nothing is copied: a TRL upgrade brings its
new options. `import trl` takes seconds, so the field table (names, types, defaults, help) is cached per trl and
transformers version in $TINYREASON_CACHE/trl-fields/ (default ~/.cache/tinyreason); the first use builds it.

Three kinds of TRL field are treated apart:
  - tinyreason's defaults (`TRLPart.defaults`): the field keeps TRL's name and help; the help says the default and why;
  - computed (`TRLPart.computed`): set by tinyreason (the run directory, mixed precision from the resolved device, ...),
    so a recipe or flag setting one is refused, saying why;
  - renamed (`TRLPart.renamed`): tinyreason's names from before it extended TRL (`batch_size`), read as TRL's, in
    recipes, flags and stored run configs alike (identity.current_names), so committed runs keep their identity.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import importlib.metadata
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from tinyreason.identity import current_names

_TABLE_VERSION = 1  # bump when the cached table's layout changes


@dataclasses.dataclass(frozen=True)
class TRDefault:
    """A TRL field at tinyreason's default: the value, why, and pydantic bounds / identity metadata (Field kwargs)."""

    value: Any
    why: str
    field: dict[str, Any] = dataclasses.field(default_factory=dict)


def tr_default(value: Any, why: str, **field: Any) -> TRDefault:
    return TRDefault(value, why, field)


@dataclasses.dataclass(frozen=True)
class TRLPart:
    """How one tinyreason config extends one TRL config class (a name in `trl`)."""

    trl_class: str
    defaults: Mapping[str, TRDefault] = dataclasses.field(default_factory=dict)
    computed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # field -> why tinyreason sets it
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)  # tinyreason's old name -> TRL's name


# -- the field table: dataclasses.fields(trl.X) as JSON, cached ------------------------------------------------------

def _type_spec(tp: Any) -> Any:
    """A JSON form of a dataclass field's type; None for one no YAML value can be (an accelerate object)."""
    if tp in (bool, int, float, str):
        return tp.__name__
    if tp is type(None):
        return "None"
    if tp is Any:
        return "Any"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"literal": [m.value for m in tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Literal:
        return {"literal": list(args)}
    if origin in (Union, types.UnionType):
        parts = [_type_spec(a) for a in args]
        if None in parts:
            return None
        if any(isinstance(p, dict) and "literal" in p for p in parts) and "str" in parts:
            parts.remove("str")  # `SchedulerType | str`: TRL turns the string into the enum, so only its values are valid
        return {"union": parts}
    if tp is list or origin is list:
        item = _type_spec(args[0]) if args else "Any"
        return None if item is None else {"list": item}
    if tp is dict or origin is dict:
        return {"dict": "Any"}
    return None


def _annotation(spec: Any) -> Any:
    if isinstance(spec, str):
        return {"bool": bool, "int": int, "float": float, "str": str, "None": type(None), "Any": Any}[spec]
    if "literal" in spec:
        return Literal[tuple(spec["literal"])]
    if "union" in spec:
        return Union[tuple(_annotation(p) for p in spec["union"])]
    if "list" in spec:
        return list[_annotation(spec["list"])]  # type: ignore[misc]
    return dict[str, Any]


def _read_table(trl_class: str) -> list[dict[str, Any]]:
    """Each init field of trl.<trl_class>: name, type (JSON form), default, help. Imports trl (seconds)."""
    import trl

    out = []
    for f in dataclasses.fields(getattr(trl, trl_class)):
        if not f.init or f.name.startswith("_"):
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        if isinstance(default, enum.Enum):
            default = default.value
        out.append({"name": f.name, "type": _type_spec(f.type), "default": default, "help": f.metadata.get("help", "")})
    return out


def _cache_dir() -> Path:
    return Path(os.environ.get("TINYREASON_CACHE", Path.home() / ".cache" / "tinyreason")).expanduser() / "trl-fields"


def table_path(trl_class: str) -> Path:
    """Where the field table of trl.<trl_class> is cached for the installed trl and transformers."""
    key = f"{trl_class}-trl{importlib.metadata.version('trl')}-transformers{importlib.metadata.version('transformers')}-v{_TABLE_VERSION}"
    return _cache_dir() / f"{key}.json"


@functools.cache
def trl_table(trl_class: str) -> list[dict[str, Any]]:
    """The field table of trl.<trl_class>, from the cache when this trl and transformers made it."""
    path = table_path(trl_class)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    table = _read_table(trl_class)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(table, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache: the table is rebuilt next time
    return table


# -- the model ----------------------------------------------------------------------------------------------------

def key_problems(keys: list[Any], part: TRLPart, refused: Mapping[str, str]) -> dict[Any, str]:
    """What is wrong with each key a config sets: a computed field, or an old name given beside its new one."""
    problems = {k: f"set by tinyreason, not by a recipe or flag: {refused[k]}" for k in keys if k in refused}
    for old, new in part.renamed.items():
        if old in keys and new in keys:
            problems[old] = f"the old name of {new}, which is set too: keep one ({new})"
    return problems


class TrainerConfig(BaseModel):
    """Base of a config made by extend_trl: its own fields here, TRL's added by extend_trl."""

    model_config = ConfigDict(extra="forbid")

    TRL: ClassVar[TRLPart]
    TRL_FIELDS: ClassVar[frozenset[str]] = frozenset()  # set by extend_trl
    REFUSED: ClassVar[dict[str, str]] = {}  # computed fields and the ones no YAML value can be, with why

    @model_validator(mode="before")
    @classmethod
    def _trl_names(cls, data: Any) -> Any:
        """Old names read as TRL's; a computed field refused (config_io does this first, keeping each key's line)."""
        if not isinstance(data, dict) or not hasattr(cls, "TRL"):
            return data
        problems = cls.key_problems(list(data))
        if problems:
            raise ValueError("; ".join(f"{k}: {why}" for k, why in problems.items()))
        return current_names(data, cls)

    @classmethod
    def renamed_keys(cls) -> Mapping[str, str]:
        """Old name -> TRL name (config_io renames a recipe's and the flags' keys before validating)."""
        return cls.TRL.renamed if hasattr(cls, "TRL") else {}

    @classmethod
    def key_problems(cls, keys: list[Any]) -> dict[Any, str]:
        """Keys a recipe or flag may not set, and why (config_io reports each at its line)."""
        return key_problems(keys, cls.TRL, cls.REFUSED) if hasattr(cls, "TRL") else {}

    def trl_values(self) -> dict[str, Any]:
        """The TRL fields, as the trainer gets them (before the computed ones are added)."""
        return self.model_dump(include=set(self.TRL_FIELDS))

    def trl_args(self, **computed: Any) -> Any:
        """trl.<TRL.trl_class> of every TRL field, plus the values tinyreason computes (exactly TRL.computed's fields
        that TRL has)."""
        import trl

        cls = getattr(trl, self.TRL.trl_class)
        have = {f.name for f in dataclasses.fields(cls)}
        expected = {k for k in self.TRL.computed if k in have}
        if set(computed) != expected:
            raise TypeError(f"trl_args: computed fields {sorted(computed)} != {sorted(expected)}")
        return cls(**self.trl_values(), **computed)


def extend_trl(name: str, base: type[TrainerConfig], module: str) -> type[TrainerConfig]:
    """`base` (tinyreason's fields, a TRLPart in TRL) plus every field of trl.<TRL.trl_class> but the computed ones."""
    part = base.TRL
    table = trl_table(part.trl_class)
    names = {row["name"] for row in table}
    for what, keys in (("defaults", part.defaults), ("computed", part.computed), ("renamed", part.renamed.values())):
        missing = sorted(set(keys) - names)
        if missing:  # a TRL upgrade renamed or dropped one: say so instead of silently ignoring it
            raise TypeError(f"{name}: {what} names {', '.join(missing)}, which trl.{part.trl_class} does not have")
    mirrored = sorted(names & set(base.model_fields))
    if mirrored:
        raise TypeError(f"{name}: {', '.join(mirrored)} are TRL fields: declare them in TRL.defaults, not as fields")
    fields: dict[str, Any] = {}
    refused = {k: v for k, v in part.computed.items()}
    for row in table:
        n = row["name"]
        if n in part.computed:
            continue
        if row["type"] is None:
            refused[n] = f"trl.{part.trl_class}.{n} takes a Python object, not a value a recipe can hold"
            continue
        over = part.defaults.get(n)
        value = over.value if over else row["default"]
        help_text = row["help"] or f"trl.{part.trl_class}.{n}"
        if over:
            help_text += f" [tinyreason's default: {json.dumps(value)}: {over.why}]"
        kwargs = dict(over.field) if over else {}
        if isinstance(value, (list, dict)):
            kwargs["default_factory"] = functools.partial(copy.deepcopy, value)
        else:
            kwargs["default"] = value
        fields[n] = (_annotation(row["type"]), Field(description=help_text, **kwargs))
    model = create_model(name, __base__=base, __module__=module, **fields)
    model.TRL_FIELDS = frozenset(fields)
    model.REFUSED = refused
    return model
