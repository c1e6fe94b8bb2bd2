"""Programs inside methods: pull the program out of a completion, run a batch of them in the sandbox, grade.

    program = extract_program(text)          # pure: the code, or None
    run_programs(generations, config)        # executes every program concurrently, grades in place

Extraction rule (pure, table-tested in tests/test_pal.py), first match wins:
1. the LAST fenced block tagged python (```python, ```py, ```python3; any case), a final block left open
   (the generation stopped before the closing fence) running to the end of the text;
2. else the last untagged fenced block (```) whose content parses as Python;
3. else the whole text, when it parses as Python (a bare program) and is not empty;
4. else None: "no-program".
Blocks are dedented. Parsing uses ast.parse (it builds a syntax tree, it runs nothing); any failure of
it (SyntaxError, or the MemoryError / RecursionError of absurdly nested text) means "not Python".

Grading: the sandbox's `answer` (solution()'s value, or the last non-empty stdout line) goes through the
one grader, answers.extract_answer(flexible), so "18", "18.000000", "$18" and "Total: 18" all give "18".
A generation's `answer` becomes that executed answer (never a number read from the program text) and its
`answer_strict` the same value only when it came from solution(), the format the prompt asks for.

Each program generation records in `extra`: program, program_status, program_answer (the raw answer
text), program_source ("solution" / "stdout"), program_stdout (cut to 2,000 characters), program_error,
program_elapsed_s. program_status is the sandbox's status ("ok", "syntax-error", "exception", "memory",
"timeout", "output-limit", "died"; also "died" when the sandbox failed for this one program, the
error saying why), or "no-program" (nothing to run) or "no-number" (ran, returned no
number). its `programs` record section counts them (methods.records.PROGRAM_GROUPS: failed to parse, raised, timed out, no number).
"""

from __future__ import annotations

import ast
import re
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from tinyreason.answers import extract_answer
from tinyreason.methods.records import PROGRAMS
from tinyreason.methods.base import Method, MethodConfig
from tinyreason.sandbox import SandboxResult, SandboxUnavailable, check_isolation, execute
from tinyreason.types import Generation

_FENCE = re.compile(r"^[ \t]*```[ \t]*(?P<tag>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*```|\Z)", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3"}
MAX_STORED_STDOUT = 2000


class ProgramConfig(MethodConfig):
    """Fields of methods that run programs (stored in the run config with every run)."""

    prompt: str = Field("pal", description="name of the program prompt template (pal, or pal-3shot with train exemplars)")
    isolation: Literal["bwrap", "unsafe-subprocess"] = Field(
        "bwrap", description="sandbox: bwrap (namespaces + uid drop + rlimits + seccomp), or unsafe-subprocess (no namespaces: only where bwrap cannot run; see docs/pal.md)"
    )  # fmt: skip
    timeout_s: float = Field(5.0, gt=0, le=120, description="wall-clock seconds per program (CPU time limit: this + 1 s)")
    memory_mb: int = Field(512, ge=64, description="address-space limit per program, MiB")
    workers: int = Field(4, ge=1, le=64, description="programs executed at once (each in its own sandbox process)")


def parses(code: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like: still Python
        try:
            ast.parse(code)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return False
    return True


def extract_program(text: str) -> str | None:
    """The program in a completion (see the module docstring for the rule), or None."""
    if not isinstance(text, str):
        return None
    blocks = [(m["tag"].lower(), textwrap.dedent(m["body"]).strip("\n")) for m in _FENCE.finditer(text)]
    tagged = [body for tag, body in blocks if tag in _PYTHON_TAGS and body.strip()]
    if tagged:
        return tagged[-1]
    untagged = [body for tag, body in blocks if not tag and body.strip() and parses(body)]
    if untagged:
        return untagged[-1]
    if text.strip() and parses(text):
        return textwrap.dedent(text).strip("\n")
    return None


def _stored(stdout: str) -> str:
    if len(stdout) <= MAX_STORED_STDOUT:
        return stdout
    half = MAX_STORED_STDOUT // 2
    return f"{stdout[:half]}\n… [{len(stdout) - MAX_STORED_STDOUT} characters cut] …\n{stdout[-half:]}"


def record_result(g: Generation, program: str | None, r: SandboxResult | None) -> None:
    """Grade one program generation in place (answer, answer_strict, extra: see the module docstring)."""
    if program is None or r is None:
        g.answer = g.answer_strict = None
        g.extra.update(program=None, program_status="no-program", program_error="no program found in the completion")
        return
    answer = extract_answer(r.answer, "flexible") if r.ok and r.answer is not None else None
    status = r.status if not r.ok else ("ok" if answer is not None else "no-number")
    g.answer = answer
    g.answer_strict = answer if r.answer_source == "solution" else None
    g.extra.update(
        program=program,
        program_status=status,
        program_answer=r.answer,
        program_source=r.answer_source,
        program_stdout=_stored(r.stdout),
        program_error=r.error if status != "no-number" else f"returned no number: {r.answer!r}"[:300],
        program_elapsed_s=r.elapsed_s,
    )


def run_programs(gens: list[Generation], config: ProgramConfig) -> None:
    """Extract, execute (config.workers sandboxes at a time) and grade every generation's program."""
    programs = [extract_program(g.text) for g in gens]
    todo = [i for i, p in enumerate(programs) if p is not None]

    unavailable: dict[int, str] = {}

    def one(i: int) -> SandboxResult:
        try:
            return execute(programs[i] or "", timeout_s=config.timeout_s, memory_mb=config.memory_mb, isolation=config.isolation)
        except SandboxUnavailable as e:  # the sandbox did not start: not the program's fault, so an error, never a wrong answer
            unavailable[i] = f"the sandbox did not start: {e}"[:500]
            return SandboxResult(None, stdout="", error=f"died: the sandbox failed: {e}"[:500], timed_out=False, status="died")

    with ThreadPoolExecutor(max_workers=config.workers) as pool:
        results: dict[int, SandboxResult] = dict(zip(todo, pool.map(one, todo), strict=True))
    for i, g in enumerate(gens):
        record_result(g, programs[i], results.get(i))
        if i in unavailable:
            g.extra["error"] = unavailable[i]  # the question becomes an error (evaluate), asked again on a rerun


class ProgramMethod(Method):
    """A method that runs programs (its Config is a ProgramConfig): before the first question it probes
    the chosen sandbox and refuses the run, with the reason and the fix, where it cannot run."""

    record_sections = (PROGRAMS,)

    def preflight(self, backend: dict[str, Any], planned: bool = False) -> dict[str, Any]:
        try:
            return {"sandbox": check_isolation(self.config.isolation)}  # type: ignore[attr-defined]
        except SandboxUnavailable as e:
            raise ValueError(f"{self.name} refuses to run: {e}") from None


def is_program(g: Generation | dict[str, Any]) -> bool:
    extra = g.extra if isinstance(g, Generation) else (g.get("extra") or {})
    return "program_status" in extra
