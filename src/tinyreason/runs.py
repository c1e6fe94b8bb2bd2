"""The run directory: config.json, append-only samples.jsonl, metrics.json — and resume.

    DIR/config.json     everything needed to rerun: model, backend, method + options, exact prompt templates,
                        data source + fingerprint, subset ids (in order), package versions, git commit
    DIR/samples.jsonl   one JSON line per finished question, appended and fsync'ed as it finishes
    DIR/metrics.json    derived from samples.jsonl (recomputable any time: `tinyreason metrics DIR`)
    DIR/errors.jsonl    questions whose generation failed (server down, timeout, 5xx, backend crash): never
                        graded, never in samples.jsonl; a rerun asks them again (an error is not an answer)

Resume: opening a directory that already has a config compares the *identity* part of the configs
(everything that changes what is measured). Equal: finished ids are skipped. Equal but for a larger
subset limit (same seed, so the stored ids are a prefix of the new ones): the run grows, the config
records the new limit and ids (and `extended`), finished questions are kept. Anything else, shrinking
included: RunMismatch naming the fields — never a silent mix. `check_resume` does the same comparison
without writing, so a rerun can be refused before a model loads. A half-written last line (kill -9
mid-write) is cut off; any other broken line is an error naming the file and line.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from tinyreason.backends.base import backend_identity
from tinyreason.identity import compare, jsonable, resumable_fields, with_later_defaults

CONFIG = "config.json"
SAMPLES = "samples.jsonl"
METRICS = "metrics.json"
ERRORS = "errors.jsonl"
# config keys that do not change what is measured (and so may differ on resume)
NON_IDENTITY = ("created", "versions", "git", "runtime", "skipped_rows", "preflight", "extended")
PACKAGES = ("tinyreason", "torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "trl", "vllm", "openvino", "openvino-genai", "nncf")


class RunError(RuntimeError):
    pass


class RunMismatch(RunError):
    pass


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit() -> dict[str, Any] | None:
    """The commit (and dirtiness) of the tinyreason checkout, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=5)
        return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def identity(config: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The part of an eval run's config that makes it that run (tinyreason.identity has the rule): not the
    NON_IDENTITY keys, not the backend's provenance, not where the data file lay (its fingerprint is the
    data), and the method's options as its Config declares them (RESUMABLE ones out; one the run predates at
    its default). `stored`: the stored config `config` is compared with (backend_identity leaves out the
    content keys a stored backend predates)."""
    out = {k: v for k, v in config.items() if k not in NON_IDENTITY}
    if isinstance(out.get("backend"), dict):
        before = (stored or {}).get("backend")
        out["backend"] = backend_identity(out["backend"], stored=before if isinstance(before, dict) else None)
    if isinstance(out.get("data"), dict):  # data is its content (fingerprint, split, rows), not where the file lay
        out["data"] = {k: v for k, v in out["data"].items() if k != "source"}
    if isinstance(out.get("method"), dict):
        out["method"] = method_identity(out["method"])
    return out


def method_identity(method: dict[str, Any]) -> dict[str, Any]:
    """A run config's `method` record ({name, **options}) through its Config's field metadata; a method not
    registered here (a plug-in not loaded) is compared as recorded."""
    from tinyreason.methods import method_names
    from tinyreason.methods.base import method_class

    name = method.get("name")
    if name not in method_names():
        return method
    config = method_class(name).Config
    options = with_later_defaults({k: v for k, v in method.items() if k != "name"}, config)
    return {"name": name, **{k: v for k, v in options.items() if k not in resumable_fields(config)}}


def config_diff(stored: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Differences in the identity part of two eval run configs (empty: same run), as 'field: stored != now'."""
    stored = jsonable(stored)
    return compare(identity(stored), identity(jsonable(config), stored=stored))


def subset_limit(subset: dict[str, Any]) -> float:
    """A run config's subset limit, None (the whole split) as infinity."""
    return float("inf") if subset.get("limit") is None else subset["limit"]


def _grows(stored: Any, now: Any) -> bool:
    """`now` is `stored` with a larger limit: same seed (and all else), the stored ids a prefix of the new."""
    if not isinstance(stored, dict) or not isinstance(now, dict) or subset_limit(now) <= subset_limit(stored):
        return False
    old, new = stored.get("ids") or [], now.get("ids") or []
    same_rest = {k: v for k, v in stored.items() if k not in ("limit", "ids")} == {k: v for k, v in now.items() if k not in ("limit", "ids")}
    return same_rest and new[: len(old)] == old


def compare_run(stored: dict[str, Any], config: dict[str, Any], *, unknown: tuple[str, ...] = (),
                partial: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    """(differences, grows) between a stored eval run config and the config a rerun would write: the one
    comparison `eval` makes before it continues a run and reproduce makes for an eval row's state. `grows`:
    the same run with a larger subset (kept, extended). `unknown` / `partial`: as identity.compare."""
    stored = jsonable(stored)
    a, b = identity(stored), identity(jsonable(config), stored=stored)
    grows = _grows(a.get("subset"), b.get("subset"))
    if grows:
        del a["subset"], b["subset"]
    return compare(a, b, unknown=unknown, partial=partial), grows


def check_resume(path: str | Path, config: dict[str, Any], *, unknown: tuple[str, ...] = (), partial: tuple[str, ...] = ()) -> bool:
    """Whether `config` may continue the run in `path`; raises RunMismatch naming the differences if not.
    True when it continues it with a larger subset. Writes nothing."""
    run = RunDir(path)
    if not run.config_path.exists():
        return False
    stored = run.config()
    diffs, grows = compare_run(stored, config, unknown=unknown, partial=partial)
    if diffs:
        a, b = stored.get("subset") or {}, config.get("subset") or {}
        shrink = a.get("ids", [])[: len(b.get("ids", []))] == b.get("ids") and subset_limit(b) < subset_limit(a)
        hint = f"--limit {b.get('limit')} is smaller than this run's {a.get('limit')}: a run never shrinks. " if shrink else ""
        raise RunMismatch(
            f"{run.config_path} belongs to a different run; refusing to mix results. Differences:\n  " + "\n  ".join(diffs[:20])
            + f"\n{hint}A rerun continues a run only with the same settings (a larger --limit grows it); otherwise use "
            "another --out directory (or delete this one to start over)."
        )
    return grows


class RunDir:
    """One run directory. Create or reopen with RunDir.open(path, config)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def samples_path(self) -> Path:
        return self.path / SAMPLES

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def errors_path(self) -> Path:
        return self.path / ERRORS

    def append_errors(self, rows: list[dict[str, Any]]) -> None:
        """Record failed attempts durably (the log keeps every attempt; `errors()` gives the outstanding ones)."""
        if not rows:
            return
        with self.errors_path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def errors(self, answered: set[int] | None = None) -> dict[int, dict[str, Any]]:
        """The latest failed attempt of each question that has no graded sample (`answered`: the ids that have
        one; default: read from samples.jsonl). A torn last line (killed mid-write) is ignored."""
        if not self.errors_path.exists():
            return {}
        if answered is None:
            answered = {int(s["id"]) for s in self.iter_samples()}
        out: dict[int, dict[str, Any]] = {}
        for raw in self.errors_path.read_bytes().split(b"\n")[:-1]:
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if int(row["id"]) not in answered:
                out[int(row["id"])] = row
        return out

    @classmethod
    def open(cls, path: str | Path, config: dict[str, Any]) -> "RunDir":
        run = cls(path)
        run.path.mkdir(parents=True, exist_ok=True)
        if not run.config_path.exists():
            run._write_config(config)
        elif check_resume(path, config):
            run._grow(config["subset"])
        return run

    def _write_config(self, config: dict[str, Any]) -> None:
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
        os.replace(tmp, self.config_path)

    def _grow(self, subset: dict[str, Any]) -> None:
        """Record the larger subset; the metrics of the smaller one are stale until the run finishes again."""
        stored = self.config()
        grown = {"from_limit": stored["subset"].get("limit"), "to_limit": subset.get("limit"), "at": now()}
        self._write_config({**stored, "subset": subset, "extended": [*stored.get("extended", []), grown]})
        self.metrics_path.unlink(missing_ok=True)

    def config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            raise RunError(f"{self.path} is not a run directory (no {CONFIG})")
        try:
            return json.loads(self.config_path.read_text())
        except json.JSONDecodeError as e:
            raise RunError(f"{self.config_path}: not valid JSON ({e.msg}, line {e.lineno})") from None

    def samples(self, *, repair: bool = False) -> list[dict[str, Any]]:
        return list(self.iter_samples(repair=repair))

    def repair_torn_tail(self) -> int:
        """Cut off a torn final line of samples.jsonl (no newline: the process died mid-write); returns the
        number of bytes cut (0: nothing was torn)."""
        if not self.samples_path.exists():
            return 0
        data = self.samples_path.read_bytes()
        tail = data.rsplit(b"\n", 1)[-1]  # b"" when the file ends with a newline
        if tail:
            with self.samples_path.open("r+b") as fh:
                fh.truncate(len(data) - len(tail))
        return len(tail)

    def iter_samples(self, *, repair: bool = False) -> Iterator[dict[str, Any]]:
        """Every stored sample. A torn final line is cut off when `repair` is set (see repair_torn_tail) and
        otherwise ignored; any other bad line is an error with its line number."""
        if repair:
            self.repair_torn_tail()
        if not self.samples_path.exists():
            return
        lines = self.samples_path.read_bytes().split(b"\n")
        lines.pop()  # the torn tail, or b"" after the last newline
        seen: set[int] = set()
        for lineno, raw in enumerate(lines, start=1):
            try:
                row = json.loads(raw)
                sid = int(row["id"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
                raise RunError(f"{self.samples_path}:{lineno}: broken sample line ({e})") from None
            if sid in seen:
                raise RunError(f"{self.samples_path}:{lineno}: question id {sid} appears twice")
            seen.add(sid)
            yield row

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append finished samples durably: a crash after this returns loses none of them."""
        with self.samples_path.open("a", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def write_metrics(self, metrics: dict[str, Any]) -> None:
        tmp = self.metrics_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(metrics, indent=2) + "\n")
        os.replace(tmp, self.metrics_path)

    def metrics(self) -> dict[str, Any]:
        if not self.metrics_path.exists():
            raise RunError(f"{self.path}: no {METRICS} (the run has not finished; rerun its command to resume)")
        return json.loads(self.metrics_path.read_text())


def environment() -> dict[str, Any]:
    return {"created": now(), "versions": package_versions(), "git": git_commit(), "runtime": {"argv": sys.argv}}
