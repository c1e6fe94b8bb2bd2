"""Run model-written programs isolated from the host: the executor of program-aided reasoning (PAL).

    from tinyreason.sandbox import run_program
    r = run_program("def solution():\\n    return 3 * 4\\n", timeout_s=5.0, memory_mb=512)
    r.answer, r.stdout, r.error, r.timed_out        # "12", "", None, False
    r.status, r.elapsed_s                           # "ok", 0.05

Model code is never exec'd in the tinyreason process. Each program runs in a fresh process under
bubblewrap (`bwrap`), started by the trusted runner `tinyreason/sandbox_runner.py` (which runs first,
inside, and then runs the program). The layers, and what each one stops (docs/pal.md has the threat model):

- namespaces (bwrap): mount — the program sees only read-only binds of the interpreter (executable,
  libpython, stdlib with site-packages masked) and the system library directories, a minimal /dev, and a
  private 16 MiB tmpfs scratch at /tmp (its working directory) that vanishes with the sandbox: no home, no
  host /tmp, no working tree, no /proc, nothing writable outside scratch. network — an empty network
  namespace: no connection anywhere, loopback included. pid — it sees and can signal only its own
  processes; when the sandbox's init dies (the parent kills it, or the parent dies: --die-with-parent) the
  kernel kills every process in it. ipc, uts — no shared memory or semaphores of the host.
  --new-session — no terminal injection. --clearenv (and bwrap itself starts with an empty environment)
  — none of the parent's variables.
- a non-privileged uid: as root, bwrap runs privileged (no user namespace needed for the others) and the
  runner drops to a fresh random uid (>= 10**9, owning no file and no process on the host) with no
  capabilities; as another user, bwrap creates a user namespace and the program runs as uid 65534 in it.
- rlimits (hard, set by the runner): address space `memory_mb`, CPU time (`cpu_limit_s`: SIGXCPU, reported
  as "timeout", then SIGKILL one second later), 16 processes+threads, 64 open files, 16 MiB per file, no
  core dumps.
- seccomp (x86-64, aarch64): no execve (no other programs), no fork/vfork/non-thread clone, no socket,
  no namespaces, mounts, ptrace, keyrings, bpf, io_uring.
- the parent: a wall-clock deadline (sleeping counts) after which it SIGKILLs the bwrap process group;
  stdout, stderr and the result channel read incrementally and the sandbox killed as soon as one passes
  MAX_OUTPUT_BYTES (kept text ends with a truncation marker).

`run_program` always uses bubblewrap. `execute(..., isolation="unsafe-subprocess")` runs the same runner
as a plain subprocess (cleared environment, throwaway working directory, same uid drop, rlimits and
seccomp, but the host's files, network and process list visible): only for machines without bwrap, and
only when asked for explicitly (methods record the choice in the run config). `check_isolation` probes
either one and raises SandboxUnavailable with the reason and the fix.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tinyreason import sandbox_runner
from tinyreason.sandbox_layout import USERNS_UID, bwrap_argv, python_layout

Isolation = Literal["bwrap", "unsafe-subprocess"]
ISOLATIONS: tuple[str, ...] = ("bwrap", "unsafe-subprocess")
log = logging.getLogger(__name__)
Status = Literal["ok", "syntax-error", "exception", "memory", "timeout", "output-limit", "died"]

MAX_OUTPUT_BYTES = 64 * 1024  # per stream (stdout, stderr, result channel)
TRUNCATED = "\n… [output truncated at {} bytes: the sandbox was killed]"
SANDBOX_UID_BASE = 10**9  # as root, each program runs as SANDBOX_UID_BASE + a random 24-bit number
KILL_WAIT_S = 10.0
PYTHON_FLAGS = ("-I", "-S", "-B", "-u", "-X", "utf8")  # isolated, no site-packages, no .pyc, unbuffered
HOW_TO_ENABLE = (
    "Install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap). Unless "
    "tinyreason runs as root, bubblewrap also needs unprivileged user namespaces: sysctl -w "
    "kernel.unprivileged_userns_clone=1 (Debian kernels), sysctl -w user.max_user_namespaces=15000, and on "
    "Ubuntu 23.10+ sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 (or an AppArmor profile for bwrap); "
    "In a container, bubblewrap typically needs CAP_SYS_ADMIN when tinyreason runs as root (docker run --cap-add "
    "SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined), or a non-root user with "
    "user namespaces allowed by the container's seccomp and AppArmor profiles. "
    "To run anyway with weaker isolation (rlimits, seccomp, a cleared environment and a throwaway directory, "
    "but the host's files, network and processes visible to the program), pass --option "
    "isolation=unsafe-subprocess: the run config records it."
)


class SandboxUnavailable(OSError):
    """The sandbox itself cannot run here (not a failure of the program); the message says why and the fix.
    An OSError: like a missing file, it is the machine's state, and the CLI reports it as an error."""


@dataclass(frozen=True)
class SandboxResult:
    """What one program did. `answer` is solution()'s value if the program defines it, else the last
    non-empty stdout line; None when there is none or the program failed (`error` says why)."""

    answer: str | None
    stdout: str
    error: str | None  # "SyntaxError: ...", "ZeroDivisionError: ...", "timeout: ...", "memory: ...", ...
    timed_out: bool  # wall clock or CPU time limit
    status: Status
    stderr: str = ""
    elapsed_s: float = 0.0
    answer_source: Literal["solution", "stdout"] | None = None
    exit_code: int | None = None  # the sandbox process's exit status (bwrap: 128 + N for signal N)
    seccomp: str | None = None  # the runner's report: "on" or "off: why"

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class _Raw:
    """The bytes a finished (or killed) sandbox left, before interpretation."""

    stdout: bytes
    stderr: bytes
    result: bytes
    returncode: int
    timed_out: bool
    overflow: str | None  # the stream that passed MAX_OUTPUT_BYTES
    elapsed_s: float


def run_program(code: str, *, timeout_s: float = 5.0, memory_mb: int = 512) -> SandboxResult:
    """Run `code` under bubblewrap (see the module docstring); never raises for anything the program does.
    Raises SandboxUnavailable when the sandbox cannot start here, ValueError for invalid limits."""
    return execute(code, timeout_s=timeout_s, memory_mb=memory_mb, isolation="bwrap")


def execute(code: str, *, timeout_s: float = 5.0, memory_mb: int = 512, isolation: Isolation = "bwrap") -> SandboxResult:
    """run_program with a choice of isolation ("unsafe-subprocess" only when explicitly asked for)."""
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
    if memory_mb < 64:
        raise ValueError(f"memory_mb must be >= 64 (the interpreter alone needs ~30 MiB), got {memory_mb}")
    if isolation not in ISOLATIONS:
        raise ValueError(f"unknown isolation {isolation!r}: choose one of {', '.join(ISOLATIONS)}")
    uid = SANDBOX_UID_BASE + secrets.randbelow(1 << 24) if os.geteuid() == 0 else -1
    layout = python_layout()
    runner = [layout.executable, *PYTHON_FLAGS, "-c", _runner_source()]
    cpu_s = cpu_limit_s(timeout_s)
    scratch = None
    if isolation == "bwrap":
        argv, cwd = [*bwrap_argv(_bwrap(), layout, as_root=uid >= 0), *runner], None
    else:
        scratch = tempfile.mkdtemp(prefix="tinyreason-sandbox-")
        if uid >= 0:
            os.chown(scratch, uid, uid)
        argv, cwd = runner, scratch
    try:
        raw = _supervise(argv, code, timeout_s=timeout_s, cwd=cwd, limits=(uid, memory_mb, cpu_s))
    finally:
        if scratch is not None:
            _remove_scratch(scratch)
    return _interpret(raw, timeout_s, isolation)


def cpu_limit_s(timeout_s: float) -> int:
    """The CPU-time limit (soft; the runner sets hard one second above) of a program given `timeout_s`."""
    return int(timeout_s) + 1


def _remove_scratch(path: str) -> None:
    """Delete an unsafe-subprocess scratch directory, whatever the program left in it: on an error (a
    directory it made unreadable, chmod 000, when tinyreason is not root) make every directory in it
    accessible again and retry. Never raises: what is still left is logged, not an evaluation's failure."""
    try:
        shutil.rmtree(path)
        return
    except OSError:
        pass
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for root, dirs, _ in os.walk(path):  # top-down: each directory is unlocked before the walk enters it
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):  # a link may point out of scratch: never follow it
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(root, name), 0o700)
    try:
        shutil.rmtree(path)
    except OSError as e:
        log.warning("could not remove the sandbox scratch directory %s: %s", path, e)


def _runner_source() -> str:
    return Path(sandbox_runner.__file__).read_text()


def _bwrap() -> str:
    if sys.platform != "linux":
        raise SandboxUnavailable(f"bubblewrap needs Linux namespaces; this is {sys.platform}. {HOW_TO_ENABLE}")
    path = shutil.which("bwrap")
    if path is None:
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed. {HOW_TO_ENABLE}")
    return path


def _supervise(argv: list[str], code: str, *, timeout_s: float, cwd: str | None, limits: tuple[int, int, int]) -> _Raw:
    """Start the sandbox, feed it the program, read its three streams until they close, the deadline
    passes or one overflows; then make sure the whole process group is dead."""
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    with tempfile.TemporaryFile() as stdin:
        stdin.write(code.encode("utf-8", "replace"))
        stdin.seek(0)
        try:
            proc = subprocess.Popen(
                [*argv, str(write_fd), *map(str, limits)], stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(write_fd,), start_new_session=True, env={}, cwd=cwd,
            )  # fmt: skip
        except OSError as e:
            os.close(read_fd)
            raise SandboxUnavailable(f"could not start the sandbox ({argv[0]}): {e}. {HOW_TO_ENABLE}") from e
        finally:
            os.close(write_fd)
    assert proc.stdout is not None and proc.stderr is not None
    streams = {proc.stdout.fileno(): "stdout", proc.stderr.fileno(): "stderr", read_fd: "result"}
    try:
        data, timed_out, overflow = _read_streams(streams, start + timeout_s)
        if not timed_out and overflow is None:
            try:
                proc.wait(timeout=max(0.0, start + timeout_s - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True  # closed its output but kept running (sleeping, say)
    finally:  # whatever happened (KeyboardInterrupt included), no sandbox and no pipe outlives this call
        os.close(read_fd)
        try:
            _kill_group(proc)
        finally:
            proc.stdout.close()
            proc.stderr.close()
    return _Raw(data["stdout"], data["stderr"], data["result"], proc.returncode, timed_out, overflow, time.monotonic() - start)


def _read_streams(streams: dict[int, str], deadline: float) -> tuple[dict[str, bytes], bool, str | None]:
    """Read every fd until EOF; stop early at the deadline (timed_out) or when one passes the bound."""
    data = {name: bytearray() for name in streams.values()}
    with selectors.DefaultSelector() as sel:
        for fd in streams:
            sel.register(fd, selectors.EVENT_READ)
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return {k: bytes(v) for k, v in data.items()}, True, None
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fd)
                    continue
                buf = data[streams[key.fd]]
                buf += chunk
                if len(buf) > MAX_OUTPUT_BYTES:
                    del buf[MAX_OUTPUT_BYTES:]
                    return {k: bytes(v) for k, v in data.items()}, False, streams[key.fd]
    return {k: bytes(v) for k, v in data.items()}, False, None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the sandbox's process group (bwrap, or the runner when unsafe) and reap it. Under bwrap,
    the death of its init takes every process of the sandbox's pid namespace with it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it exited between poll() and killpg()
            os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        raise SandboxUnavailable(f"the sandbox (pid {proc.pid}) survived SIGKILL for {KILL_WAIT_S:g} s") from None


def _interpret(raw: _Raw, timeout_s: float, isolation: Isolation) -> SandboxResult:
    lines = raw.result.decode("utf-8", "replace").splitlines()
    started = bool(lines) and lines[0] == sandbox_runner.STARTED
    stderr = raw.stderr.decode("utf-8", "replace")
    if not started and not raw.timed_out and raw.overflow is None:
        raise SandboxUnavailable(f"the {isolation} sandbox did not start (exit status {raw.returncode}): {stderr.strip()[:500]}. {HOW_TO_ENABLE}")
    report = _report(lines[1:])
    stdout = raw.stdout.decode("utf-8", "replace")
    if raw.overflow:
        stdout += TRUNCATED.format(MAX_OUTPUT_BYTES) if raw.overflow == "stdout" else ""
        stderr += TRUNCATED.format(MAX_OUTPUT_BYTES) if raw.overflow == "stderr" else ""
    base: dict[str, Any] = dict(stdout=stdout, stderr=stderr, elapsed_s=round(raw.elapsed_s, 4), exit_code=raw.returncode, seccomp=report.get("seccomp"))
    signum = _signal_of(raw.returncode, isolation)
    if raw.overflow:
        return SandboxResult(None, error=f"output-limit: more than {MAX_OUTPUT_BYTES} bytes on {raw.overflow}", timed_out=False, status="output-limit", **base)
    if raw.timed_out:
        why = "" if started else " (the sandbox had not even started: is the machine overloaded?)"
        return SandboxResult(None, error=f"timeout: still running after {timeout_s:g} s{why}", timed_out=True, status="timeout", **base)
    if signum == signal.SIGXCPU:
        return SandboxResult(None, error=f"timeout: CPU time limit ({cpu_limit_s(timeout_s)} s) exceeded", timed_out=True, status="timeout", **base)
    if report.get("status") in ("ok", "syntax-error", "exception", "memory"):
        return _from_report(report, stdout, base)
    return SandboxResult(None, error=_death(raw.returncode, signum), timed_out=False, status="died", **base)


def _report(lines: list[str]) -> dict[str, Any]:
    """The runner's JSON report (its last line), or {} if it never got to report."""
    try:
        report = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        return {}
    return report if isinstance(report, dict) else {}


def _from_report(report: dict[str, Any], stdout: str, base: dict[str, Any]) -> SandboxResult:
    status = report["status"]
    if status != "ok":
        return SandboxResult(None, error=str(report.get("error")), timed_out=False, status=status, **base)
    if report.get("answer_source") == "solution":
        answer = report.get("answer")
        return SandboxResult(None if answer is None else str(answer), error=None, timed_out=False, status="ok", answer_source="solution", **base)
    last = next((line.strip() for line in reversed(stdout.splitlines()) if line.strip()), None)
    return SandboxResult(last, error=None, timed_out=False, status="ok", answer_source="stdout", **base)


def _signal_of(returncode: int, isolation: Isolation) -> int | None:
    """The signal that ended the program: a negative returncode for a plain subprocess, 128 + N under bwrap."""
    if returncode < 0:
        return -returncode
    if isolation == "bwrap" and 128 < returncode < 128 + 65:
        return returncode - 128
    return None


def _death(returncode: int, signum: int | None) -> str:
    if signum is not None:
        name = signal.Signals(signum).name if signum in signal.valid_signals() else str(signum)
        what = {signal.SIGSEGV: "segmentation fault", signal.SIGKILL: "killed", signal.SIGABRT: "aborted", signal.SIGBUS: "bus error"}
        return f"died: killed by signal {name} ({what.get(signum, 'signal')}) before reporting a result"
    return f"died: the process ended with exit status {returncode} before reporting a result (os._exit?)"


def _uid_note(isolation: Isolation) -> str:
    if os.geteuid() == 0:
        return f"a fresh uid >= {SANDBOX_UID_BASE} per program (tinyreason runs as root)"
    if isolation == "bwrap":
        return f"{USERNS_UID} in a user namespace (host uid {os.geteuid()}, the caller's)"
    return f"the caller's uid {os.geteuid()}: the program can read the caller's files"


def check_isolation(isolation: Isolation) -> dict[str, Any]:
    """Probe the sandbox with a tiny program; what it found (stored in run configs), or SandboxUnavailable."""
    r = execute("def solution():\n    return 6 * 7\n", timeout_s=20.0, memory_mb=256, isolation=isolation)
    if r.answer != "42":
        raise SandboxUnavailable(f"the {isolation} sandbox failed its probe program (status {r.status}: {r.error}; stderr {r.stderr[:300]!r}). {HOW_TO_ENABLE}")
    layout = python_layout()
    info: dict[str, Any] = {
        "isolation": isolation,
        "uid": _uid_note(isolation),
        "seccomp": r.seccomp,
        "interpreter": layout.executable,
        "limits": {"nproc": sandbox_runner.NPROC, "nofile": sandbox_runner.NOFILE, "fsize": sandbox_runner.FSIZE, "max_output_bytes": MAX_OUTPUT_BYTES},
        "probe_s": r.elapsed_s,
    }
    if isolation == "bwrap":
        version = subprocess.run([_bwrap(), "--version"], capture_output=True, text=True, env={}, check=False).stdout.strip()
        info.update(bwrap=version, mode="privileged bwrap + uid drop" if os.geteuid() == 0 else f"bwrap in a user namespace (uid {USERNS_UID})")
        info["read_only_binds"] = list(layout.binds)
    else:
        info["warning"] = "unsafe-subprocess: the program can read the host's world-readable files, use the network and see its processes"
    return info


__all__ = ["ISOLATIONS", "MAX_OUTPUT_BYTES", "Isolation", "SandboxResult", "SandboxUnavailable", "check_isolation", "execute", "run_program"]
