"""Checking a plug-in's options against its pydantic Config, with errors a person can act on.

    validate_options(HFConfig, "backend 'hf'", {"batch_size": 0})
    # OptionsError: backend 'hf' options are invalid (batch_size: Input should be greater than or equal to 1
    # (got 0; valid: >= 1) — sequences per generate call ...); it takes: model, adapter, device, dtype, batch_size, revision

Methods and backends validate their options this way. An out-of-range value is reported with the whole valid
range read from the field's constraints (`ge`, `gt`, `le`, `lt`), and the error keeps every problem as data
(field, value, valid range, help) so that the CLI can name the flag a bad value came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")
BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


@dataclass(frozen=True)
class Problem:
    field: str
    value: Any
    message: str
    help: str | None = None
    valid: str | None = None  # the valid range ('>= 1', '> 0 and <= 1') when the value is out of it

    def line(self) -> str:
        return f"{self.field}: {self.message}" + (f" — {self.help}" if self.help else "")


class OptionsError(ValueError):
    """Invalid options of one plug-in; str() lists every problem and the options it takes (or is `message`)."""

    def __init__(self, owner: str, problems: list[Problem], valid: list[str], message: str | None = None) -> None:
        self.owner, self.problems, self.valid = owner, problems, valid
        super().__init__(message or self.describe(problems))

    def describe(self, problems: list[Problem]) -> str:
        return f"{self.owner} options are invalid ({'; '.join(p.line() for p in problems)}); it takes: {', '.join(self.valid)}"


def valid_range(info: FieldInfo) -> str | None:
    """The bounds a field declares, e.g. '> 0 and <= 1'; None when it declares none."""
    bounds = [f"{op} {getattr(m, attr)}" for m in info.metadata for attr, op in BOUNDS if getattr(m, attr, None) is not None]
    return " and ".join(bounds) or None


def problems(config_cls: type[BaseModel], errors: list[Any]) -> list[Problem]:
    """pydantic's errors (ValidationError.errors()) for a Config, one Problem each."""
    out = []
    for err in errors:
        info = config_cls.model_fields.get(str(err["loc"][0])) if err["loc"] else None
        valid = valid_range(info) if info is not None and err["type"] in RANGE_ERRORS else None
        message = err["msg"].removeprefix("Value error, ") + (f" (got {err['input']!r}; valid: {valid})" if valid else "")
        field = ".".join(map(str, err["loc"])) or "options"
        out.append(Problem(field, err.get("input"), message, info.description if info is not None else None, valid))
    return out


def validate_options(config_cls: type[BaseModel], owner: str, options: dict[str, Any]) -> Any:
    """config_cls(**options), or OptionsError naming each bad option, its valid range, and the valid options."""
    try:
        return config_cls(**options)
    except ValidationError as e:
        causes = [(err.get("ctx") or {}).get("error") for err in e.errors()]
        if len(causes) == 1 and isinstance(causes[0], OptionsError):
            raise causes[0] from None  # a Config that validates through another plug-in's: that one's problems, as they are
        raise OptionsError(owner, problems(config_cls, e.errors()), list(config_cls.model_fields)) from None
