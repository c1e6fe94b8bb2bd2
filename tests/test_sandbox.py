"""The sandbox's attack suite: every escape the issue names, tried for real on this machine (as root, as CI
runs), each asserting a clear error, a bounded elapsed time and an unchanged host (canary files in tmp_path,
the home directory and the working tree; a loopback listener that must receive nothing; a bystander
process and this test process alive; an environment secret nowhere in the output). Benign programs must
still give their answers. Needs bubblewrap (CI installs it); without it every test here is skipped with
the reason. About 15 s on 2 cores.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sandboxed import needs_sandbox

from tinyreason import sandbox
from tinyreason.sandbox import MAX_OUTPUT_BYTES, SANDBOX_UID_BASE, SandboxResult, execute, run_program
from tinyreason.sandbox_runner import MAX_CODE_BYTES

TIMEOUT = 2.0
SLACK = 1.5  # start-up and kill time allowed past the timeout
SECRET = "tinyreason-secret-" + secrets.token_hex(8)
REPO = Path(__file__).resolve().parents[1]
SITE = next(p for p in sys.path if p.endswith("site-packages"))


pytestmark = needs_sandbox


@dataclass
class Host:
    """Canaries the programs try to reach, and what they must look like afterwards."""

    tmp: Path
    canary: Path
    home_canary: Path
    tree_canary: Path
    marker: str  # a file name every attack tries to create; it must appear nowhere
    bystander: subprocess.Popen[bytes]
    listener: socket.socket

    def fill(self, code: str) -> str:
        return (
            code.replace("CANARY", str(self.canary)).replace("HOME_CANARY", str(self.home_canary))
            .replace("TREE_CANARY", str(self.tree_canary)).replace("MARKER", self.marker).replace("TMP", str(self.tmp))
            .replace("REPO", str(REPO)).replace("BYSTANDER", str(self.bystander.pid)).replace("PORT", str(self.listener.getsockname()[1]))
            .replace("SITE", SITE)
        )  # fmt: skip

    def assert_unchanged(self) -> None:
        for path in (self.canary, self.home_canary, self.tree_canary):
            assert path.read_text() == SECRET, path
        assert sorted(p.name for p in self.tmp.iterdir()) == ["canary.txt"]
        for where in (self.tmp, Path.home(), REPO, Path("/tmp"), Path("/")):
            assert not (where / self.marker).exists(), where
        assert self.bystander.poll() is None, "the bystander process was killed"
        with pytest.raises(BlockingIOError):
            self.listener.accept()  # nothing ever connected
        deadline = time.monotonic() + 2.0  # the kernel tears a dead pid namespace down asynchronously
        while sandbox_processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sandbox_processes(), "a sandboxed process outlived its sandbox"


def sandbox_processes() -> list[int]:
    """Host pids running as a sandbox uid (as root each program gets a fresh uid >= SANDBOX_UID_BASE)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(line for line in status.read_text().splitlines() if line.startswith("Uid:"))
        except (OSError, StopIteration):  # the process ended while we looked
            continue
        if int(uid_line.split()[1]) >= SANDBOX_UID_BASE:
            found.append(int(status.parent.name))
    return found


@pytest.fixture()
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Host]:
    monkeypatch.setenv("TINYREASON_TEST_SECRET", SECRET)
    canary = tmp_path / "canary.txt"
    home_canary = Path.home() / f".tinyreason-canary-{secrets.token_hex(4)}"
    tree_canary = REPO / f".tinyreason-canary-{secrets.token_hex(4)}"
    for path in (canary, home_canary, tree_canary):
        path.write_text(SECRET)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        yield Host(tmp_path, canary, home_canary, tree_canary, "pwned-" + secrets.token_hex(4), bystander, listener)
    finally:
        bystander.kill()
        bystander.wait()
        listener.close()
        home_canary.unlink()
        tree_canary.unlink()


def attack(host: Host, code: str) -> SandboxResult:
    t0 = time.monotonic()
    r = run_program(host.fill(code), timeout_s=TIMEOUT)
    wall = time.monotonic() - t0
    assert wall < TIMEOUT + SLACK and r.elapsed_s < TIMEOUT + SLACK, (wall, r)
    for text in (r.stdout, r.stderr, r.error or "", r.answer or ""):
        assert SECRET not in text
    host.assert_unchanged()
    return r


# (id, program, expected status, a substring of the error). Every program that gets past its defence
# prints ESCAPED or creates MARKER, so each case also fails loudly if the sandbox lets it through.
ATTACKS = [
    # -- write, create or delete files outside the scratch directory
    ("write-canary", "open('CANARY', 'w').write('ESCAPED')", "exception", "No such file"),
    ("create-in-tmp_path", "open('TMP/MARKER', 'w').write('x')", "exception", "No such file"),
    ("create-in-working-tree", "open('REPO/MARKER', 'w').write('x')", "exception", "No such file"),
    ("delete-tree-canary", "import os\nos.remove('TREE_CANARY')", "exception", "No such file"),
    ("create-in-root", "open('/MARKER', 'w')", "exception", "Read-only file system"),
    ("create-in-usr-lib", "open('/usr/lib/MARKER', 'w')", "exception", "Read-only file system"),
    ("append-to-stdlib", "import os\nopen(os.__file__, 'a').write('ESCAPED')", "exception", ""),
    ("create-in-dev", "open('/dev/MARKER', 'w')", "exception", "Read-only file system"),
    ("create-in-dev-shm", "open('/dev/shm/MARKER', 'w')", "exception", ""),
    ("create-in-site-packages", "open('SITE/MARKER', 'w')", "exception", ""),
    ("fill-scratch", "i = 0\nwhile True:\n    open(f'/tmp/f{i}', 'wb').write(b'x' * 2**20)\n    i += 1", "exception", "No space left"),
    ("one-huge-scratch-file", "open('/tmp/big', 'wb').write(b'x' * 2**25)", "exception", "File too large"),
    # -- read host files
    ("read-tmp_path-canary", "print(open('CANARY').read())", "exception", "No such file"),
    ("read-home-canary", "print(open('HOME_CANARY').read())", "exception", "No such file"),
    ("read-working-tree", "print(open('REPO/README.md').read())", "exception", "No such file"),
    ("read-etc-passwd", "print(open('/etc/passwd').read())", "exception", "No such file"),
    ("list-site-packages", "import os\nassert 'torch' not in os.listdir('SITE')\nraise SystemExit('masked')", "exception", ""),
    ("host-tmp-is-empty", "import os\nassert os.listdir('/tmp') == [], os.listdir('/tmp')\nraise SystemExit('empty')", "exception", "empty"),
    # -- the parent's environment
    ("environ", "import os\nprint(dict(os.environ))\nraise SystemExit(','.join(sorted(os.environ)))", "exception", "SystemExit: 'LC_CTYPE,PWD'"),
    ("proc-self-environ", "print(open('/proc/self/environ').read())", "exception", "No such file"),
    ("host-processes", "import os\nprint(os.listdir('/proc'))", "exception", "No such file"),
    # -- network, loopback included
    ("connect-loopback", "import socket\nsocket.create_connection(('127.0.0.1', PORT), timeout=1)\nprint('ESCAPED')", "exception", "not permitted"),
    ("connect-internet", "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\nprint('ESCAPED')", "exception", "not permitted"),
    ("raw-socket-via-ctypes", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nfd = libc.socket(2, 1, 0)\nassert fd < 0, 'ESCAPED'\nraise OSError(ctypes.get_errno(), 'socket')", "exception", "[Errno 1]"),
    # -- start other programs
    ("subprocess", "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo ESCAPED > /tmp/MARKER'])", "exception", ""),
    ("os-system", "import os\nrc = os.system('echo ESCAPED')\nraise SystemExit(f'os.system gave {rc}')", "exception", "os.system gave"),
    ("exec-interpreter", "import os, sys\nos.execv(sys.executable, [sys.executable, '-c', 'print(\"ESCAPED\")'])", "exception", "not permitted"),
    ("execve-via-ctypes", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.execve(b'/usr/bin/env', None, None)\nraise OSError(ctypes.get_errno(), 'execve')", "exception", "[Errno 1]"),
    ("multiprocessing", "import multiprocessing as mp\np = mp.Process(target=print, args=('ESCAPED',))\np.start()\np.join()", "exception", ""),
    ("new-namespace", "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nassert libc.unshare(0x10000000) != 0, 'ESCAPED'\nraise OSError(ctypes.get_errno(), 'unshare')", "exception", "[Errno 1]"),
    # -- signal or kill processes outside the sandbox
    ("kill-parent", "import os\nos.kill(os.getppid(), 9)\nprint('ESCAPED')", "exception", ""),
    ("kill-bystander", "import os\nos.kill(BYSTANDER, 9)\nprint('ESCAPED')", "exception", "No such process"),
    ("kill-minus-one", "import os\nos.kill(-1, 9)\nprint('ESCAPED')", "exception", "No such process"),
    ("killpg-own-group", "import os\nos.killpg(0, 9)", "died", "SIGKILL"),
    # -- time, processes, threads, memory, crashes, limits
    ("sleep-past-timeout", "import time\ntime.sleep(60)", "timeout", "timeout"),
    ("infinite-loop", "while True:\n    pass", "timeout", "timeout"),
    # busy-threads: the wall clock or the CPU limit (SIGXCPU) ends it, whichever comes first: "timeout" either way
    ("busy-threads", "import threading\ndef spin():\n    while True:\n        pass\nfor _ in range(4):\n    threading.Thread(target=spin).start()\nspin()", "timeout", "timeout"),
    ("close-output-then-sleep", "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)", "timeout", "timeout"),
    ("fork-bomb", "import os\nwhile True:\n    os.fork()", "exception", "not permitted"),
    ("thread-bomb", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()", "exception", "can't start new thread"),
    ("memory-bomb", "x = bytearray(10**10)", "memory", "MemoryError"),
    ("memory-creep", "xs = []\nwhile True:\n    xs.append(bytearray(10**8))", "memory", "MemoryError"),
    ("segfault", "import ctypes\nctypes.string_at(0)", "died", "SIGSEGV"),
    ("os-exit", "import os\nprint(41)\nos._exit(0)", "died", "exit status 0"),
    ("raise-memory-limit", "import resource\nresource.setrlimit(resource.RLIMIT_AS, (-1, -1))\nx = bytearray(10**10)", "exception", "not allowed to raise"),
    ("raise-process-limit", "import resource\nresource.setrlimit(resource.RLIMIT_NPROC, (10**6, 10**6))", "exception", "not allowed to raise"),
    ("huge-output", "print('x' * 10**8)", "output-limit", "stdout"),
    ("endless-output", "while True:\n    print('y' * 100)", "output-limit", "stdout"),
    ("endless-stderr", "import sys\nwhile True:\n    sys.stderr.write('z' * 100)", "output-limit", "stderr"),
    ("huge-answer", "def solution():\n    return 10**10000", "exception", "ValueError"),
]


@pytest.mark.parametrize(("code", "status", "error"), [pytest.param(c, s, e, id=i) for i, c, s, e in ATTACKS])
def test_attack_is_contained(host: Host, code: str, status: str, error: str | None) -> None:
    r = attack(host, code)
    assert r.status == status, r
    assert "ESCAPED" not in r.stdout + r.stderr + (r.answer or "")
    if error is None:
        assert r.error is None
    else:
        assert r.error and error in r.error, r
        assert r.answer is None
    assert r.timed_out == (status == "timeout")


def test_output_is_bounded_with_a_marker(host: Host) -> None:
    r = attack(host, "print('x' * 10**8)")
    assert len(r.stdout.encode()) < MAX_OUTPUT_BYTES + 200 and r.stdout.rstrip().endswith("the sandbox was killed]")


def test_home_shows_at_most_the_way_to_the_interpreter(host: Host) -> None:
    # bubblewrap creates the directories on the way to a bind (/root/.pyenv/... here), empty
    r = attack(host, f"import os\nprint(os.listdir({str(Path.home())!r}) if os.path.isdir({str(Path.home())!r}) else 'no home')")
    assert r.status == "ok" and host.home_canary.name not in r.stdout
    assert r.answer == "no home" or all(Path(sys.executable).resolve().is_relative_to(Path.home() / n) for n in ast.literal_eval(r.answer or "[]"))


def test_scratch_is_private_and_removed(host: Host) -> None:
    code = "import os\nopen('/tmp/MARKER', 'w').write('kept?')\ndef solution():\n    return len(os.listdir('/tmp'))"
    first, second = attack(host, code), attack(host, code)
    assert first.answer == second.answer == "1"  # the second run does not see the first one's file


BENIGN = [
    ("print", "print(6 * 7)", "42", "stdout"),
    ("last-non-empty-line", "print('thinking...')\nprint(18)\nprint('   ')\n", "18", "stdout"),
    ("solution-int", "def solution():\n    apples = 5\n    return apples * 3 - 3", "12", "solution"),
    ("solution-beats-stdout", "def solution():\n    print('debug 99')\n    return 7", "7", "solution"),
    ("fractions", "from fractions import Fraction\ndef solution():\n    return Fraction(1, 3) + Fraction(1, 6)", "1/2", "solution"),
    ("math", "import math\ndef solution():\n    return math.ceil(7 / 2) + math.gcd(12, 18) + math.comb(5, 2)", "20", "solution"),
    ("decimal", "from decimal import Decimal\ndef solution():\n    return Decimal('0.10') * 3", "0.30", "solution"),
    ("float-noise", "def solution():\n    return 0.1 * 3", "0.300000", "solution"),
    ("scratch-file", "open('/tmp/n', 'w').write('41')\ndef solution():\n    return int(open('/tmp/n').read()) + 1", "42", "solution"),
    ("a-few-threads", "import threading\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\nfor t in ts: t.start()\nfor t in ts: t.join()\nprint(sum(out))", "6", "stdout"),
    ("stdlib", "import statistics, itertools, collections, re, datetime\ndef solution():\n    return statistics.mean([2, 4, 6]) + len(list(itertools.permutations('ab')))", "6", "solution"),
    ("lingering-thread", "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\ndef solution():\n    return 5", "5", "solution"),
    ("unicode", "print('€ 12')", "€ 12", "stdout"),
    ("solution-returns-none", "def solution():\n    x = 3", None, "solution"),
]


@pytest.mark.parametrize(("code", "answer", "source"), [pytest.param(c, a, s, id=i) for i, c, a, s in BENIGN])
def test_benign_program_answers(code: str, answer: str | None, source: str) -> None:
    r = run_program(code, timeout_s=TIMEOUT)
    assert r.status == "ok" and r.error is None and not r.timed_out, r
    assert r.answer == answer and r.answer_source == source
    assert r.elapsed_s < TIMEOUT


def test_syntax_error_is_reported_with_its_line() -> None:
    r = run_program("x = 1\ndef solution(:\n    return x")
    assert r.status == "syntax-error" and r.error == "SyntaxError: invalid syntax (line 2)" and r.answer is None


def test_cpu_time_limit_is_a_timeout_not_a_kill(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "cpu_limit_s", lambda timeout_s: 1)  # far below the wall clock: the CPU limit ends it
    spin = "import threading\ndef spin():\n    while True:\n        pass\nt = threading.Thread(target=spin)\nt.start()\nt.join()"
    r = run_program(spin, timeout_s=20.0)
    assert r.status == "timeout" and r.timed_out and r.answer is None, r
    assert r.error == "timeout: CPU time limit (1 s) exceeded", r


def test_a_program_over_the_size_cap_is_refused_clearly() -> None:
    r = run_program('x = "' + "a" * MAX_CODE_BYTES + '"\nprint(1)')
    assert r.status == "syntax-error" and r.error == f"program longer than {MAX_CODE_BYTES} bytes: not run" and r.answer is None
    exactly = "print(1)\n" + "#" * (MAX_CODE_BYTES - 9)
    assert len(exactly.encode()) == MAX_CODE_BYTES and run_program(exactly).answer == "1"


def test_exception_names_the_programs_line() -> None:
    r = run_program("def solution():\n    total = 10\n    return total / 0")
    assert r.status == "exception" and r.error == "ZeroDivisionError: division by zero (line 3)"


def test_programs_run_concurrently() -> None:
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: run_program(f"import time\ntime.sleep(1.0)\nprint({i})"), range(4)))
    assert [r.answer for r in results] == ["0", "1", "2", "3"]
    assert time.monotonic() - t0 < 3.0  # four one-second sleeps overlap (in series: over 4 s)


@pytest.mark.skipif(os.geteuid() != 0, reason="the fresh-uid check applies when tinyreason runs as root")
def test_the_leftover_check_sees_a_running_sandbox() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(run_program, "import time\ntime.sleep(1.0)")
        deadline = time.monotonic() + 5
        while not sandbox_processes() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sandbox_processes(), "sandbox_processes() never saw the running program: the host check would be vacuous"
        assert running.result().status == "ok"


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        run_program("print(1)", timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        run_program("print(1)", memory_mb=8)
    with pytest.raises(ValueError, match="isolation"):
        execute("print(1)", isolation="none")  # type: ignore[arg-type]


UNPRIVILEGED = """
import dataclasses, json, sys
try:
    from tinyreason.sandbox import SandboxUnavailable, check_isolation, execute
except ImportError as e:
    sys.exit(f"SKIP: nobody cannot import tinyreason from this checkout ({e})")
try:
    info = check_isolation("bwrap")
except SandboxUnavailable as e:
    sys.exit(f"SKIP: unprivileged user namespaces are not available here ({str(e)[:200]})")
codes = json.loads(sys.stdin.read())
print(json.dumps([info] + [dataclasses.asdict(execute(c, timeout_s=2.0)) for c in codes]))
"""


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="needs root (to become nobody) and /usr/bin/python3")
def test_the_user_namespace_path_as_an_ordinary_user() -> None:
    """tinyreason run by an ordinary user takes bubblewrap's other path (a user namespace, no uid drop):
    run a few attacks through it as nobody, with the system Python (nobody cannot reach pyenv's under /root)."""
    codes = [
        "import os\nprint(os.getuid())",
        "import os\nwhile True:\n    os.fork()",
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,)).start()",
        "open('/dev/shm/x', 'w')",
        "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)",
        "import time\ntime.sleep(60)",
        "open('/usr/lib/python3/dist-packages/x', 'w')",
    ]
    env = {"PYTHONPATH": str(REPO / "src"), "TINYREASON_TEST_SECRET": SECRET}
    r = subprocess.run(["/usr/bin/python3", "-c", UNPRIVILEGED], input=json.dumps(codes), capture_output=True, text=True,
                       user=65534, group=65534, extra_groups=[], env=env, cwd="/", timeout=60, check=False)  # fmt: skip
    if r.returncode != 0 and r.stderr.startswith("SKIP: "):
        pytest.skip(r.stderr.strip()[6:])
    assert r.returncode == 0, r.stderr
    info, *results = json.loads(r.stdout)
    assert info["mode"].startswith("bwrap in a user namespace") and info["seccomp"] == "on"
    assert [x["status"] for x in results] == ["ok", "exception", "exception", "exception", "exception", "timeout", "exception"]
    assert results[0]["answer"] == "65534" and "can't start new thread" in results[2]["error"]
    assert "Read-only" in results[3]["error"] and "Read-only" in results[6]["error"]
    assert SECRET not in r.stdout
