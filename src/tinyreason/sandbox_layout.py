"""What the sandbox's filesystem holds, and the bubblewrap command line that builds it.

The program runs on the interpreter that runs tinyreason (sys.executable, resolved), so it sees the same
Python version as the harness and needs nothing installed. Bound read-only, at their own paths, and
nothing else of the host:

- the interpreter's executable and its LIBDIR (libpython and, for conda-like installs, the libraries its
  extension modules link to), its stdlib and lib-dynload directories; every site-packages/dist-packages
  directory among them is masked with an empty read-only tmpfs (the program gets the stdlib only);
- the system library directories (/usr/lib, /usr/lib64, ... and the /lib* links to them) and
  /etc/ld.so.cache, which the dynamic loader needs. No /usr/bin, no /etc beyond that cache, no home.

Directories that bubblewrap must create on the way to a bind (/root, /root/.pyenv, ...) are made 0755
and empty: the program can walk to the interpreter but sees nothing beside it.
"""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from dataclasses import dataclass

SCRATCH_BYTES = 16 * 1024 * 1024  # the private /tmp
SYSTEM_LIB_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/libx32", "/lib", "/lib64", "/lib32", "/libx32")
SYSTEM_FILES = ("/etc/ld.so.cache",)
USERNS_UID = 65534  # the program's uid inside the user namespace (when tinyreason does not run as root)


@dataclass(frozen=True)
class Layout:
    executable: str
    binds: tuple[str, ...]  # host paths bound read-only at the same path, parents before children
    masks: tuple[str, ...]  # directories inside binds hidden under an empty read-only tmpfs
    symlinks: tuple[tuple[str, str], ...]  # (target, link): /lib -> usr/lib on merged-/usr systems


def _under(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _dedupe(paths: list[str]) -> list[str]:
    """Existing paths, resolved, without those inside another one, shortest first."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)}, key=len)
    kept: list[str] = []
    for p in real:
        if not _under(p, kept):
            kept.append(p)
    return kept


def _package_dirs(stdlib: str) -> list[str]:
    """Where third-party packages live for this interpreter (masked in the sandbox)."""
    base = {"base": sys.base_prefix, "platbase": sys.base_exec_prefix, "installed_base": sys.base_prefix}
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [
        os.path.join(stdlib, "site-packages"),
        os.path.join(stdlib, "dist-packages"),
        sysconfig.get_path("purelib", vars=base),
        sysconfig.get_path("platlib", vars=base),
        "/usr/lib/python3/dist-packages",
        f"/usr/local/lib/python{version}/dist-packages",
    ]
    return [os.path.realpath(p) for p in candidates if os.path.isdir(p)]


@functools.cache
def python_layout() -> Layout:
    """The read-only view of the host the sandboxed interpreter needs (see the module docstring)."""
    executable = os.path.realpath(sys.executable)
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    symlinks, system = [], []
    for d in SYSTEM_LIB_DIRS:
        if os.path.islink(d):
            symlinks.append((os.readlink(d), d))
        elif os.path.isdir(d):
            system.append(d)
    python = [executable, sysconfig.get_config_var("LIBDIR") or "", stdlib, sysconfig.get_config_var("DESTSHARED") or ""]
    binds = _dedupe(system + list(SYSTEM_FILES) + python)
    masks = sorted({m for m in _package_dirs(stdlib) if _under(m, binds)})
    return Layout(executable, tuple(binds), tuple(masks), tuple(symlinks))


def _parents(path: str) -> list[str]:
    """'/a/b/c' -> ['/a', '/a/b']."""
    parts = path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def bwrap_argv(bwrap: str, layout: Layout, *, as_root: bool) -> list[str]:
    """The bwrap command line (up to, not including, the command). As root bwrap runs privileged and the
    runner drops to an unprivileged uid; otherwise it makes a user namespace (uid USERNS_UID inside) and
    forbids nested ones. Everything but the scratch /tmp is read-only."""
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--clearenv", "--hostname", "sandbox"]
    if as_root:
        argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        argv += ["--unshare-user", "--disable-userns", "--uid", str(USERNS_UID), "--gid", str(USERNS_UID)]
    made: set[str] = set()
    for path in layout.binds:
        for parent in _parents(path):
            if parent not in made and not _under(parent, list(layout.binds)):
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--ro-bind", path, path]
    for target, link in layout.symlinks:
        argv += ["--symlink", target, link]
    for mask in layout.masks:
        argv += ["--perms", "0555", "--tmpfs", mask, "--remount-ro", mask]
    argv += ["--dev", "/dev", "--remount-ro", "/dev"]  # no /proc: nothing the interpreter needs, much about the host
    argv += ["--perms", "1777", "--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp"]
    argv += ["--remount-ro", "/", "--chdir", "/tmp"]
    return argv
