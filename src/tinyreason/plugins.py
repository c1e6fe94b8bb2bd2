"""Plug-ins: the user's own methods, prompts, tasks, backends and GRPO rewards, registered from their own files.

    tinyreason eval --include my_methods.py --method weighted-vote      # a file, by path (repeatable)
    tinyreason methods --include my_methods.py                           # listed beside the built-ins, with their source
    tinyreason train grpo --include my_rewards.py --recipe r.yaml        # r.yaml: rewards: [{name: my-reward, weight: 0.2}, ...]

    # or, for an installed package, an entry point in its pyproject.toml:
    [project.entry-points."tinyreason.plugins"]
    mylab = "mylab.tinyreason_plugin"

A plug-in is an ordinary Python module that registers with the decorators and functions the package itself
uses: `@register_method` (tinyreason.methods.base), `register(PromptTemplate(...))` (tinyreason.prompts),
`register_task(...)` (tinyreason.tasks), `register_backend(name, cls)` (tinyreason.backends.base),
`@register_reward(name)` (tinyreason.train.rewards). Loading a
file twice is a no-op; a name registered twice is an error naming both. Every run config records the plug-ins
loaded (file and sha256), so an edited plug-in makes another run. See docs/extending.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

GROUP = "tinyreason.plugins"
LOADED: dict[str, dict[str, Any]] = {}  # source -> {"source", "sha256", "registered": {kind: [names]}}
ORIGIN: dict[tuple[str, str], str] = {}  # (kind, name) -> source, for the listings


class PluginError(ValueError):
    pass


def _registries() -> dict[str, set[str]]:
    from tinyreason.backends.base import backend_names
    from tinyreason.methods import method_names
    from tinyreason.prompts import PROMPTS
    from tinyreason.tasks import task_names
    from tinyreason.train.rewards import reward_names

    return {"method": set(method_names()), "prompt": set(PROMPTS), "task": set(task_names()), "backend": set(backend_names()),
            "reward": set(reward_names())}


def _record(source: str, digest: str | None, before: dict[str, set[str]]) -> dict[str, Any]:
    after = _registries()
    added = {kind: sorted(after[kind] - before[kind]) for kind in after if after[kind] - before[kind]}
    for kind, names in added.items():
        for name in names:
            ORIGIN[(kind, name)] = source
    LOADED[source] = {"source": source, "sha256": digest, "registered": added}
    return LOADED[source]


def load_file(path: str | Path) -> dict[str, Any]:
    """Import a plug-in file by path (once); returns what it registered."""
    p = Path(path).resolve()
    if str(p) in LOADED:
        return LOADED[str(p)]
    if not p.is_file() or p.suffix != ".py":
        raise PluginError(f"--include {path}: not a Python file (a plug-in is a .py file that registers methods, prompts, tasks, backends or rewards)")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    before = _registries()
    spec = importlib.util.spec_from_file_location(f"tinyreason_plugin_{p.stem}_{digest[:8]}", p)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 — the user's file: say which one failed and how
        del sys.modules[spec.name]
        raise PluginError(f"--include {path}: the plug-in failed to load: {type(e).__name__}: {e}") from e
    return _record(str(p), digest, before)


def load_entry_points() -> list[dict[str, Any]]:
    """Import every installed package's `tinyreason.plugins` entry point (once)."""
    out = []
    for ep in metadata.entry_points(group=GROUP):
        source = f"entry point {ep.name} ({ep.value})"
        if source in LOADED:
            continue
        before = _registries()
        try:
            ep.load()
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"{source}: the plug-in failed to load: {type(e).__name__}: {e}") from e
        out.append(_record(source, None, before))
    return out


def load(includes: list[str] | None = None) -> list[dict[str, Any]]:
    """Entry points, then the files given; returns every plug-in loaded so far."""
    load_entry_points()
    for path in includes or []:
        load_file(path)
    return records()


def records(used: set[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """What a run config records: the source and sha256 of each plug-in loaded — with `used` ((kind, name)
    pairs: the run's method, prompts, task, backend; a GRPO run's rewards), only those that registered one of them, so an unrelated
    plug-in never makes a run another run."""
    out = []
    for r in LOADED.values():
        names = {(kind, n) for kind, ns in r["registered"].items() for n in ns}
        if used is None or names & used:
            out.append({"source": r["source"], "sha256": r["sha256"]})
    return out


def origin(kind: str, name: str) -> str:
    return ORIGIN.get((kind, name), "built-in")
