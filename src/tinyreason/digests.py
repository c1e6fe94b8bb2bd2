"""What identifies a file: the SHA-256 of its bytes, hashed once and remembered.

    file_sha256("qwen-dir/model.safetensors")              # a few seconds for a GB the first time, then a lookup
    folder_sha256("qwen-dir", (".json", ".safetensors"))   # those files' names and contents, not where they lie

Exports and run identities are keyed by content (issue #21): a model copied to another folder, or
re-assembled with new mtimes, is the same model. Hashing a 1 GB checkpoint costs seconds on a small CPU,
so every digest is kept in a small JSON sidecar, `sha256.json` in the tinyreason cache ($TINYREASON_CACHE,
default ~/.cache/tinyreason), under the file's resolved path, and reused while the file keeps the size and
mtime_ns it had when hashed; a file that changed is hashed again. The sidecar is replaced atomically; two
processes writing it at once at worst forget a digest, which is then hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

SIDECAR = "sha256.json"
CHUNK = 1 << 20


def cache_root() -> Path:
    """The tinyreason cache: $TINYREASON_CACHE, else ~/.cache/tinyreason."""
    return Path(os.environ.get("TINYREASON_CACHE", Path.home() / ".cache" / "tinyreason")).expanduser()


def file_sha256(path: str | Path) -> str:
    return file_digests([Path(path)])[Path(path).resolve()]


def folder_sha256(folder: str | Path, suffixes: Iterable[str]) -> str:
    """One SHA-256 over the names and contents of the files in `folder` (not its subfolders) whose suffix is
    in `suffixes`: equal for two folders that hold the same such files, wherever they are and whenever written."""
    wanted = set(suffixes)
    files = sorted(f for f in Path(folder).iterdir() if f.suffix in wanted and f.is_file())
    digests = file_digests(files)
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{digests[f.resolve()]}\n".encode())
    return h.hexdigest()


def file_digests(paths: Iterable[Path]) -> dict[Path, str]:
    """The SHA-256 of each file, keyed by its resolved path: from the sidecar where size and mtime_ns are
    unchanged, hashed (and remembered) otherwise."""
    sidecar = cache_root() / SIDECAR
    known = _read(sidecar)
    out: dict[Path, str] = {}
    fresh: dict[str, dict[str, object]] = {}
    for path in paths:
        p = path.resolve()
        st = p.stat()
        entry = known.get(str(p))
        if isinstance(entry, dict) and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            out[p] = str(entry["sha256"])
            continue
        out[p] = _hash(p)
        after = p.stat()
        if (after.st_size, after.st_mtime_ns) == (st.st_size, st.st_mtime_ns):  # not rewritten while it was read
            fresh[str(p)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": out[p]}
    if fresh:
        _write(sidecar, {**_read(sidecar), **fresh})  # re-read: another process may have added digests meanwhile
    return out


def _hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _read(sidecar: Path) -> dict[str, object]:
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):  # none yet, or cut short: every digest is recomputable
        return {}
    return data if isinstance(data, dict) else {}


def _write(sidecar: Path, known: dict[str, object]) -> None:
    """Atomically, without the entries of files that no longer exist (so the sidecar stays small)."""
    known = {k: v for k, v in known.items() if os.path.exists(k)}
    try:
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=SIDECAR + ".", dir=sidecar.parent)
    except OSError:  # a read-only cache: the digests are right, only not remembered
        return
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(known, f, indent=0, sort_keys=True)
        os.replace(tmp, sidecar)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
