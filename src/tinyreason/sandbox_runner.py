"""The trusted runner: the first code that runs inside the sandbox, before and around the model's program.

tinyreason.sandbox starts it as `python -I -S -B -u -c <this file's text> RESULT_FD UID MEMORY_MB CPU_S`,
with the program's source on stdin (a file), and reads what it reports from RESULT_FD. In order it:

1. announces itself on RESULT_FD (the parent tells "the sandbox could not start" from "the program failed");
2. reads the program from stdin;
3. when it runs as root (tinyreason ran as root, so bubblewrap ran privileged), drops to UID and that
   uid's group, with no supplementary groups: the program runs as a uid that owns nothing on the host and
   holds no capability (all are cleared by the uid change; bubblewrap set no_new_privs, so none come back);
4. sets rlimits the program cannot raise: address space MEMORY_MB, CPU time CPU_S (SIGXCPU; SIGKILL one
   second later), processes/threads NPROC, open files NOFILE, file size FSIZE, no core dumps;
5. installs a seccomp filter (x86-64 and aarch64; see `seccomp_program`) that refuses to start programs
   (execve), to create processes (fork, vfork, clone without CLONE_THREAD), to make namespaces, sockets,
   mounts or keys, to trace other processes, ...;
6. compiles and runs the program as `__main__`; if it defines a callable `solution`, calls it;
7. reports one JSON line on RESULT_FD: status ("ok", "syntax-error", "exception", "memory"), error
   (a program longer than MAX_CODE_BYTES is not run: "syntax-error", "program longer than N bytes"),
   answer (solution()'s value formatted by `format_value`, or null), answer_source ("solution" or
   "stdout": then the parent takes the last non-empty stdout line), and the seccomp state.

Stdlib only; it must run on the interpreter alone (no site-packages inside the sandbox). Everything it
needs is imported before the program runs. The program runs in this same process, so it *can* tamper with
the runner (write to RESULT_FD itself, patch json): it would only change its own reported answer, which it
controls anyway through solution(). The isolation does not rely on the runner surviving the program.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import platform
import resource
import struct
import sys
from decimal import Decimal
from fractions import Fraction

STARTED = "tinyreason-sandbox-runner-started"
NPROC = 16  # threads and processes of the sandbox uid (in its user namespace, or host-wide for the fresh uid)
NOFILE = 64
FSIZE = 16 * 1024 * 1024
MAX_CODE_BYTES = 1024 * 1024
MAX_ERROR_CHARS = 500
MAX_ANSWER_CHARS = 1000

# -- seccomp ---------------------------------------------------------------------------------------------
_LD_W_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL_PROCESS, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_THREAD = 0x00010000
_CLONE_NEW = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
_X32_BIT = 0x40000000
_DENIED = (  # refused with EPERM
    "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv", "process_vm_writev", "socket",
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
)  # fmt: skip
ARCHES = {  # machine -> (AUDIT_ARCH_*, syscall numbers)
    "x86_64": (0xC000003E, {
        "execve": 59, "execveat": 322, "fork": 57, "vfork": 58, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311, "socket": 41, "unshare": 272, "setns": 308, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321,
        "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "clone": 56, "clone3": 435,
    }),
    "aarch64": (0xC00000B7, {
        "execve": 221, "execveat": 281, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
        "socket": 198, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
        "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241,
        "userfaultfd": 282, "io_uring_setup": 425, "clone": 220, "clone3": 435,
    }),
}  # fmt: skip


def seccomp_program(machine: str) -> list[tuple[int, int, int, int]]:
    """The BPF filter as (code, jt, jf, k) instructions: another architecture (or an x86 x32 call) kills
    the process; the `_DENIED` calls fail with EPERM; clone is allowed only for threads (CLONE_THREAD set,
    no CLONE_NEW* flag); clone3 fails with ENOSYS (its flags sit behind a pointer a filter cannot read, and
    libc then falls back to clone); everything else is allowed."""
    arch, nrs = ARCHES[machine]
    prog: list[tuple[int, str | None, str | None, int]] = []  # jump targets are labels; None = next
    labels: dict[str, int] = {}

    def emit(code: int, k: int, jt: str | None = None, jf: str | None = None) -> None:
        prog.append((code, jt, jf, k))

    emit(_LD_W_ABS, 4)  # seccomp_data.arch
    emit(_JEQ, arch, jf="kill")
    emit(_LD_W_ABS, 0)  # seccomp_data.nr
    if machine == "x86_64":
        emit(_JGE, _X32_BIT, jt="eperm")
    for name in _DENIED:
        if name in nrs:  # aarch64 has no fork / vfork
            emit(_JEQ, nrs[name], jt="eperm")
    emit(_JEQ, nrs["clone"], jt="clone")
    emit(_JEQ, nrs["clone3"], jt="enosys")
    emit(_RET, _ALLOW)
    labels["clone"] = len(prog)
    emit(_LD_W_ABS, 16)  # low 32 bits of args[0], the clone flags (little-endian on both architectures)
    emit(_JSET, _CLONE_NEW, jt="eperm")
    emit(_JSET, _CLONE_THREAD, jf="eperm")
    emit(_RET, _ALLOW)
    for name, value in (("eperm", _ERRNO | _EPERM), ("enosys", _ERRNO | _ENOSYS), ("kill", _KILL_PROCESS)):
        labels[name] = len(prog)
        emit(_RET, value)

    def offset(i: int, target: str | None) -> int:
        return 0 if target is None else labels[target] - i - 1

    return [(code, offset(i, jt), offset(i, jf), k) for i, (code, jt, jf, k) in enumerate(prog)]


def install_seccomp() -> str:
    """Load the filter into this process (and every thread it starts). Returns "on", or "off: why"."""
    machine = platform.machine()
    if machine not in ARCHES:
        return f"off: no filter for architecture {machine}"
    prog = seccomp_program(machine)
    buf = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *ins) for ins in prog))

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(prog), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0 or libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(fprog), 0, 0) != 0:
        return f"off: prctl failed ({os.strerror(ctypes.get_errno())})"
    return "on"


# -- privileges and limits -------------------------------------------------------------------------------
def drop_privileges(uid: int) -> None:
    """As root: become `uid` (and gid = uid), with no supplementary groups. A no-op for any other user."""
    if os.geteuid() != 0 or uid < 0:
        return
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    if os.geteuid() == 0 or os.getegid() != uid:
        raise RuntimeError("could not drop root privileges")


def set_limits(memory_mb: int, cpu_s: int) -> None:
    """Hard limits (soft == hard), so the program can lower but never raise them. Except CPU time: hard =
    soft + 1 s, because at the soft limit the kernel sends SIGXCPU (the parent reports "timeout") but at
    the hard one SIGKILL (indistinguishable from any other kill: "died"). A program that ignores SIGXCPU,
    or raises its soft limit, still gets SIGKILL one second later."""
    limits = {
        resource.RLIMIT_AS: memory_mb * 1024 * 1024,
        resource.RLIMIT_CPU: cpu_s,
        resource.RLIMIT_NPROC: NPROC,
        resource.RLIMIT_NOFILE: NOFILE,
        resource.RLIMIT_FSIZE: FSIZE,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value + 1 if which == resource.RLIMIT_CPU else value))


# -- running the program ---------------------------------------------------------------------------------
def format_value(value: object) -> str | None:
    """solution()'s return value as answer text: numbers exactly (a float to 6 decimals, which drops float
    noise such as 0.30000000000000004; a Fraction as p/q; a Decimal without exponent), a string as is,
    None as None, anything else as its str() (the grader then finds a number in it or not)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)  # ValueError past 4300 digits: reported as an error by run()
    if isinstance(value, float):
        return f"{value:.6f}" if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _describe(e: BaseException) -> str:
    """'ZeroDivisionError: division by zero (line 3)', the line being the program's own."""
    try:
        text = f"{type(e).__name__}: {e}"
    except Exception:  # an exception whose __str__ fails still gets reported by type
        text = type(e).__name__
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<program>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return text[:MAX_ERROR_CHARS] + (f" (line {line})" if line else "")


def run(code: str) -> dict[str, object]:
    """Compile and run the program; call solution() if it defines one. Never raises."""
    try:
        compiled = compile(code, "<program>", "exec")
    except (SyntaxError, ValueError) as e:  # ValueError: the source holds a NUL byte
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        msg = e.msg if isinstance(e, SyntaxError) else str(e)
        return {"status": "syntax-error", "error": f"{type(e).__name__}: {msg}{where}"}
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        try:
            exec(compiled, namespace)
        except SystemExit as e:
            if e.code not in (None, 0):
                return {"status": "exception", "error": f"SystemExit: {e.code!r}"[:MAX_ERROR_CHARS]}
        solution = namespace.get("solution")
        if not callable(solution):
            return {"status": "ok", "answer": None, "answer_source": "stdout"}
        value = solution()
        answer = format_value(value)
        return {"status": "ok", "answer": answer if answer is None else answer[:MAX_ANSWER_CHARS], "answer_source": "solution"}
    except MemoryError:
        return {"status": "memory", "error": "memory: MemoryError at the address-space limit"}
    except BaseException as e:  # the program's own failure, whatever it raised, is its result
        return {"status": "exception", "error": _describe(e)}


def main() -> None:
    result_fd, uid, memory_mb, cpu_s = (int(a) for a in sys.argv[1:5])
    write, exit_now = os.write, os._exit  # bound before the program runs
    write(result_fd, (STARTED + "\n").encode())
    source = sys.stdin.buffer.read(MAX_CODE_BYTES + 1)
    drop_privileges(uid)
    set_limits(memory_mb, cpu_s)
    seccomp = install_seccomp()
    if len(source) > MAX_CODE_BYTES:  # not cut to a confusing syntax error
        result: dict[str, object] = {"status": "syntax-error", "error": f"program longer than {MAX_CODE_BYTES} bytes: not run"}
    else:
        result = run(source.decode("utf-8", "replace"))
    result["seccomp"] = seccomp
    for name, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        try:
            stream.flush()
        except Exception as e:  # the program may have closed or replaced its streams with anything
            result.setdefault("stream_error", f"could not flush {name}: {type(e).__name__}")
    write(result_fd, (json.dumps(result) + "\n").encode())
    exit_now(0)  # no interpreter shutdown: no waiting for the program's threads, no atexit handlers of its own


if __name__ == "__main__":
    main()
