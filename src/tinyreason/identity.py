"""One rule for "the same run": which fields make a run another run, and the one comparison that every command
makes before it continues a run — `eval` (and so reproduce's eval and protocol rows), `train sft`, `train grpo`,
`distill`, and reproduce's states of all of them, so a dry run never calls resumable what the command refuses.

    class MyConfig(BaseModel):
        learning_rate: float = 1e-4                                   # identity: another value is another run
        save_every: int = Field(10, json_schema_extra=RESUMABLE)      # may change on a resume: the run continues
    compare(stored, now, model=MyConfig)      # ['learning_rate: stored 0.0001 != now 0.0002']; [] for the same run

Each config says it once, beside the field: a field is identity unless its metadata says `identity: False`
(`RESUMABLE`) — how often a run checkpoints, where an audit lies — or `EXTENDS`: resumable, and a larger
value makes a finished run unfinished (the step count a resumable trainer is to reach). A field the stored run predates counts at its default (the rule for a new field: its default keeps the
old behaviour), so adding a field never makes old runs stale, and a renamed field is read under its new name. Data and models are compared by content: run
configs record a fingerprint beside the path, and the path is not identity (`runs.identity`,
`experiments.same_data`). inspect_ai keeps the eval spec in its log header and resumes from it; this is ours.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

RESUMABLE: dict[str, Any] = {"identity": False}  # Field(..., json_schema_extra=RESUMABLE)
EXTENDS: dict[str, Any] = {"identity": False, "extends": True}  # resumable, and a larger value continues a finished run


def is_identity(info: FieldInfo) -> bool:
    extra = info.json_schema_extra
    return not (isinstance(extra, dict) and extra.get("identity") is False)


def resumable_fields(model: type[BaseModel]) -> set[str]:
    """The fields of `model` a rerun may change and still continue the same run."""
    return {name for name, info in model.model_fields.items() if not is_identity(info)}


def extending_fields(model: type[BaseModel]) -> set[str]:
    """The RESUMABLE fields whose larger value makes a finished run unfinished (a trainer's step target)."""
    return {name for name, info in model.model_fields.items() if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("extends")}


def jsonable(value: Any) -> Any:
    """As it is stored in a run's JSON config (tuples as lists, paths as strings)."""
    return json.loads(json.dumps(value, default=str))


def current_names(stored: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """A stored config under the model's current field names: a field renamed since it was written (the model's
    `renamed_keys()`, old -> new: the training configs took TRL's names, train/trl_config.py) is read under its
    new name, so a rename never makes an old run another run."""
    out = dict(stored)
    for old, new in getattr(model, "renamed_keys", dict)().items():
        if old in out and new not in out:
            out[new] = out.pop(old)
    return out


def with_later_defaults(stored: Mapping[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """A stored config (under current_names) with the fields added to `model` since it was written, at their
    defaults: a run made before a field existed ran as its default says, so it is not another run for lacking it."""
    stored = current_names(stored, model)
    added = {name: f.get_default(call_default_factory=True) for name, f in model.model_fields.items() if name not in stored and not f.is_required()}
    return {**jsonable(added), **stored}


# what a content key covers, said where it differs: a hash alone does not tell a user which file to look at
CONTENT_HINTS = {
    "source_sha256": ("the model folder's files by content: weights, tokenizer and config.json, whose transformers_version "
                      "save_pretrained writes, so the same weights converted under another transformers release differ"),
    "adapter_sha256": "the adapter's weights by content",
}


def diff(stored: Any, now: Any, path: str = "") -> list[str]:
    """Every leaf where two JSON values differ, as 'a.b: stored X != now Y' (long values cut at 80 characters),
    with what a content key covers (CONTENT_HINTS) after it."""
    if isinstance(stored, dict) and isinstance(now, dict):
        out: list[str] = []
        for k in sorted(set(stored) | set(now), key=str):
            out += diff(stored.get(k), now.get(k), f"{path}.{k}" if path else str(k))
        return out
    if stored != now:
        def show(v: Any) -> str:
            text = json.dumps(v)
            return text[:80] + "…" if len(text) > 80 else text

        hint = CONTENT_HINTS.get(path.rsplit(".", 1)[-1])
        return [f"{path}: stored {show(stored)} != now {show(now)}" + (f" ({hint})" if hint else "")]
    return []


def compare(stored: Mapping[str, Any], now: Mapping[str, Any], *, model: type[BaseModel] | None = None,
            unknown: Iterable[str] = (), partial: Iterable[str] = ()) -> list[str]:
    """The differences that make `now` another run than `stored` (empty: the same run).

    `model`: the config class both were dumped from — its RESUMABLE fields are left out and the fields the
    stored run predates count at their defaults. `unknown`: top-level keys not known yet (what a backend
    reports once loaded), left out. `partial`: top-level mappings of which `now` knows only some keys (a
    backend described before it loads: its model, not its engine version); only those keys are compared."""
    a, b = jsonable(dict(stored)), jsonable(dict(now))
    if model is not None:
        a = with_later_defaults(a, model)
        for name in resumable_fields(model):
            a.pop(name, None)
            b.pop(name, None)
    for key in unknown:
        a.pop(key, None)
        b.pop(key, None)
    for key in partial:
        if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
            a[key] = {k: a[key].get(k) for k in b[key]}
    return diff(a, b)
