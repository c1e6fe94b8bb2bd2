"""The sandbox's pure parts, without bubblewrap: the seccomp filter (run through a small BPF interpreter),
how solution() values become answer text, the rlimits, the read-only layout, and the refusal message; and
the parent's housekeeping (scratch removal, an interrupted supervisor) through unsafe-subprocess runs."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from fractions import Fraction

import pytest

from tinyreason import sandbox
from tinyreason.sandbox_layout import SCRATCH_BYTES, bwrap_argv, python_layout
from tinyreason import sandbox_runner
from tinyreason.sandbox_runner import _ALLOW, _ERRNO, _KILL_PROCESS, ARCHES, format_value, seccomp_program

CLONE_THREAD_FLAGS = 0x3D0F00  # what glibc's pthread_create passes (VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|...)
FORK_FLAGS = 0x01200011  # CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD, what glibc's fork passes


def run_filter(prog: list[tuple[int, int, int, int]], arch: int, nr: int, arg0: int = 0) -> int:
    """Evaluate a classic-BPF seccomp filter on one system call (only the opcodes seccomp_program uses)."""
    data = {0: nr, 4: arch, 16: arg0 & 0xFFFFFFFF}
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == 0x20:  # ld [k]
            acc, pc = data[k], pc + 1
        elif code == 0x06:  # ret k
            return k
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[code]
            pc += 1 + (jt if taken else jf)


@pytest.mark.parametrize("machine", sorted(ARCHES))
def test_seccomp_filter_decisions(machine: str) -> None:
    arch, nrs = ARCHES[machine]
    prog = seccomp_program(machine)
    assert all(0 <= jt < 256 and 0 <= jf < 256 for _, jt, jf, _ in prog)
    eperm, enosys = _ERRNO | 1, _ERRNO | 38
    for name in ("execve", "execveat", "socket", "ptrace", "unshare", "setns", "mount", "bpf", "io_uring_setup"):
        assert run_filter(prog, arch, nrs[name]) == eperm, name
    if machine == "x86_64":
        assert run_filter(prog, arch, nrs["fork"]) == eperm and run_filter(prog, arch, nrs["vfork"]) == eperm
        assert run_filter(prog, arch, 0x40000000 + 59) == eperm  # an x32 execve
    assert run_filter(prog, arch, nrs["clone"], CLONE_THREAD_FLAGS) == _ALLOW
    assert run_filter(prog, arch, nrs["clone"], FORK_FLAGS) == eperm
    assert run_filter(prog, arch, nrs["clone"], CLONE_THREAD_FLAGS | 0x10000000) == eperm  # a thread in a new user ns
    assert run_filter(prog, arch, nrs["clone3"]) == enosys
    for allowed in (0, 1, 3, 9, 60, 231):  # read/write/close/mmap/exit/exit_group on x86-64, harmless elsewhere
        if allowed not in nrs.values():
            assert run_filter(prog, arch, allowed) == _ALLOW
    other = ARCHES["aarch64" if machine == "x86_64" else "x86_64"][0]
    assert run_filter(prog, other, 0) == _KILL_PROCESS


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (18, "18"),
        (-3, "-3"),
        (12.5, "12.500000"),
        (0.1 * 3, "0.300000"),  # float noise dropped
        (float("nan"), "nan"),
        (Fraction(3, 4), "3/4"),
        (Fraction(1, 3), "1/3"),
        (Decimal("1E+2"), "100"),  # no exponent: the grader reads plain decimals
        (Decimal("0.10") * 3, "0.30"),
        ("$1,200", "$1,200"),
        (None, None),
        (True, "True"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_solution_values_become_answer_text(value: object, text: str | None) -> None:
    assert format_value(value) == text


def test_layout_binds_only_the_interpreter_and_system_libraries() -> None:
    layout = python_layout()
    assert layout.executable == os.path.realpath(sys.executable)
    home = os.path.expanduser("~")
    for path in layout.binds:
        assert path.startswith(("/usr/lib", "/lib", "/etc/ld.so.cache", sys.base_prefix)), path
        assert not path.startswith(("/usr/bin", "/tmp", str(os.getcwd()))) and path not in (home, "/root", "/home")
    assert any(m.endswith("site-packages") for m in layout.masks)
    argv = bwrap_argv("/usr/bin/bwrap", layout, as_root=True)
    binds = [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind", "--dev-bind")]
    assert binds == list(layout.binds) and "--bind" not in argv  # nothing of the host is writable
    assert argv[-4:] == ["--remount-ro", "/", "--chdir", "/tmp"]
    assert argv[argv.index("--tmpfs", argv.index("--size")) - 2 :][:4] == ["--size", str(SCRATCH_BYTES), "--tmpfs", "/tmp"]
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in argv
    user = bwrap_argv("/usr/bin/bwrap", layout, as_root=False)
    assert {"--unshare-user", "--disable-userns"} <= set(user) and "--cap-add" not in user


def test_missing_bubblewrap_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap") as e:
        sandbox.check_isolation("bwrap")
    assert "isolation=unsafe-subprocess" in str(e.value) and "max_user_namespaces" in str(e.value)


def test_cpu_hard_limit_is_one_second_past_the_soft_one(monkeypatch: pytest.MonkeyPatch) -> None:
    # soft == hard would make the kernel send SIGKILL ("died") instead of SIGXCPU ("timeout")
    limits: dict[int, tuple[int, int]] = {}
    monkeypatch.setattr(sandbox_runner.resource, "setrlimit", lambda which, value: limits.__setitem__(which, value))
    sandbox_runner.set_limits(512, 3)
    assert limits[sandbox_runner.resource.RLIMIT_CPU] == (3, 4)
    assert limits[sandbox_runner.resource.RLIMIT_AS] == (512 * 2**20, 512 * 2**20)


LOCK_A_DIRECTORY = "import os\nos.makedirs('d/e')\nopen('d/e/f', 'w').write('x')\nos.chmod('d', 0)\nprint(1)"


def test_scratch_with_a_locked_directory_is_still_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    real, removed = shutil.rmtree, []

    def rmtree_as_non_root(path: str, *args: object, **kwargs: object) -> None:  # root may enter a chmod 000 directory; nobody else can
        removed.append(path)
        if any(os.stat(os.path.join(root, d)).st_mode & 0o777 == 0 for root, dirs, _ in os.walk(path) for d in dirs):
            raise PermissionError(13, "Permission denied", path)
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sandbox.shutil, "rmtree", rmtree_as_non_root)
    try:
        r = sandbox.execute(LOCK_A_DIRECTORY, timeout_s=10.0, isolation="unsafe-subprocess")
        assert r.status == "ok" and r.answer == "1", r
        assert removed and not os.path.exists(removed[0])
    finally:
        for path in removed:
            real(path, ignore_errors=True)


def test_scratch_that_cannot_be_removed_is_logged_not_raised(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    real, tried = shutil.rmtree, []

    def refuse(path: str, *args: object, **kwargs: object) -> None:
        tried.append(path)
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(sandbox.shutil, "rmtree", refuse)
    try:
        with caplog.at_level(logging.WARNING, logger="tinyreason.sandbox"):
            r = sandbox.execute("print(6 * 7)", timeout_s=10.0, isolation="unsafe-subprocess")
        assert r.answer == "42" and len(tried) == 2  # tried, unlocked, retried
        assert f"could not remove the sandbox scratch directory {tried[0]}" in caplog.text
    finally:
        real(tried[0], ignore_errors=True)


def test_an_interrupted_supervisor_kills_the_sandbox_and_closes_its_pipes(monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen, started = subprocess.Popen, []

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        started.append(real_popen(*args, **kwargs))  # type: ignore[call-overload]
        return started[-1]

    def interrupted(streams: object, deadline: float) -> None:
        raise KeyboardInterrupt

    fds = sorted(os.listdir("/proc/self/fd"))
    monkeypatch.setattr(sandbox.subprocess, "Popen", popen)
    monkeypatch.setattr(sandbox, "_read_streams", interrupted)
    try:
        with pytest.raises(KeyboardInterrupt):
            sandbox.execute("import time\ntime.sleep(60)", timeout_s=30.0, isolation="unsafe-subprocess")
        (proc,) = started
        assert proc.returncode is not None, "the sandbox outlived the interrupted supervisor"
        assert proc.stdout.closed and proc.stderr.closed  # type: ignore[union-attr]
        assert sorted(os.listdir("/proc/self/fd")) == fds  # the result pipe's read end too
    finally:
        for proc in started:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
