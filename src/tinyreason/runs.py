"""The run directory: config.json, append-only samples.jsonl, metrics.json — and resume.

    DIR/config.json     everything needed to rerun: model, backend, method + options, exact prompt templates,
                        data source + fingerprint, subset ids (in order), package versions, git commit
    DIR/samples.jsonl   one JSON line per finished question, appended and fsync'ed as it finishes
    DIR/metrics.json    derived from samples.jsonl (recomputable any time: `tinyreason metrics DIR`)

Resume: opening a directory that already has a config compares the *identity* part of the configs
(everything that changes what is measured). Equal: finished ids are skipped. Different: RunMismatch
naming the fields — never a silent mix. A half-written last line (kill -9 mid-write) is cut off; any
other broken line is an error naming the file and line.
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

CONFIG = "config.json"
SAMPLES = "samples.jsonl"
METRICS = "metrics.json"
# config keys that do not change what is measured (and so may differ on resume)
NON_IDENTITY = ("created", "versions", "git", "runtime", "skipped_rows", "preflight")
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


def identity(config: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in config.items() if k not in NON_IDENTITY}
    if isinstance(out.get("backend"), dict):
        out["backend"] = backend_identity(out["backend"])
    return out


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    if a != b:
        show = lambda v: (json.dumps(v)[:80] + "…") if len(json.dumps(v)) > 80 else json.dumps(v)  # noqa: E731
        return [f"{path}: stored {show(a)} != now {show(b)}"]
    return []


def config_diff(stored: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Differences in the identity part of two run configs (empty: same run), as 'field: stored != now'."""
    return _diff(identity(stored), identity(json.loads(json.dumps(config))))


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

    @classmethod
    def open(cls, path: str | Path, config: dict[str, Any]) -> "RunDir":
        run = cls(path)
        run.path.mkdir(parents=True, exist_ok=True)
        if run.config_path.exists():
            stored = run.config()
            diffs = _diff(identity(stored), identity(json.loads(json.dumps(config))))
            if diffs:
                raise RunMismatch(
                    f"{run.config_path} belongs to a different run; refusing to mix results. Differences:\n  "
                    + "\n  ".join(diffs[:20])
                    + "\nUse another --out directory (or delete this one to start over)."
                )
        else:
            tmp = run.config_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
            os.replace(tmp, run.config_path)
        return run

    def config(self) -> dict[str, Any]:
        if not self.config_path.exists():
            raise RunError(f"{self.path} is not a run directory (no {CONFIG})")
        try:
            return json.loads(self.config_path.read_text())
        except json.JSONDecodeError as e:
            raise RunError(f"{self.config_path}: not valid JSON ({e.msg}, line {e.lineno})") from None

    def samples(self, *, repair: bool = False) -> list[dict[str, Any]]:
        return list(self.iter_samples(repair=repair))

    def iter_samples(self, *, repair: bool = False) -> Iterator[dict[str, Any]]:
        """Every stored sample. A torn final line (no newline: the process died mid-write) is cut off
        when `repair` is set and otherwise ignored; any other bad line is an error with its line number."""
        if not self.samples_path.exists():
            return
        data = self.samples_path.read_bytes()
        lines = data.split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        if tail and repair:
            with self.samples_path.open("r+b") as fh:
                fh.truncate(len(data) - len(tail))
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
