"""Hybrid self-consistency: n chains of thought and m programs, one majority vote over all their answers.

    tinyreason eval --method hybrid-sc                                   # 3 chains + 2 programs (5 samples, like sc's default)
    tinyreason eval --method hybrid-sc --n 5 --option m=5 --option program_prompt=pal-3shot

Chains (prompt `cot`, n samples) and programs (prompt `pal`, m samples, run in the sandbox exactly as in
pal-sc) are drawn at the same temperature, two generate calls per batch (calls = 2 per question). Chains
and programs fail differently (a chain slips on arithmetic, a program on reading the relationships), so
their votes are pooled: every answer is normalized by the grader and counted once, whichever source gave it.

The fallback rule, precisely: a program that fails (no program, syntax error, exception, memory, timeout,
output limit, killed, or no number returned) casts no vote, exactly like a chain without an answer, and
every chain still votes. A question whose programs all fail is therefore decided by its chains alone
(plain sc over n; recorded as `decided_by: "chains"`), one whose chains all lack an answer by its programs
(`decided_by: "programs"`), and only when no sample gave a number is the prediction None ("none"). Ties go to the
answer seen first, and programs are listed before chains: a tie between a program's answer and a chain's
goes to the program (its arithmetic is exact).

Recorded per question: extra.votes (the pooled vote), extra.votes_by_source ({"program": [...], "chain":
[...]}, the same counts split by source), extra.programs_ok, extra.decided_by ("both", "chains",
"programs" or "none"; metrics.json counts them). Every program generation also carries its program record
(methods/programs.py).
"""

from __future__ import annotations

from pydantic import Field

from tinyreason.answers import vote_counts
from tinyreason.backends.base import Backend
from tinyreason.methods.records import DECIDED_BY, PROGRAMS
from tinyreason.methods.base import SampledConfig, register_method
from tinyreason.methods.programs import ProgramConfig, ProgramMethod, run_programs
from tinyreason.methods.sc import vote
from tinyreason.prompts import PromptTemplate, get_prompt
from tinyreason.types import Generation, Prediction, Problem


class HybridConfig(ProgramConfig, SampledConfig):
    prompt: str = Field("cot", description="prompt template of the chains of thought")
    program_prompt: str = Field("pal", description="prompt template of the programs (pal, or pal-3shot)")
    n: int = Field(3, ge=1, description="chains of thought per question")
    m: int = Field(2, ge=1, description="programs per question")


def decided_by(programs: list[Generation], chains: list[Generation]) -> str:
    """Which sources voted: "both"; "chains" (no program gave a number: the fallback); "programs" (no
    chain stated an answer); "none" (nothing did: the prediction is None)."""
    program, chain = any(g.answer is not None for g in programs), any(g.answer is not None for g in chains)
    return "both" if program and chain else "chains" if chain else "programs" if program else "none"


@register_method
class HybridSC(ProgramMethod):
    name = "hybrid-sc"
    record_sections = (PROGRAMS, DECIDED_BY)
    Config = HybridConfig

    @property
    def samples_per_question(self) -> int:
        return self.config.n + self.config.m

    def templates(self) -> list[PromptTemplate]:
        return [get_prompt(self.config.prompt), get_prompt(self.config.program_prompt)]

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        c = self.config
        chains = self.draw_samples(backend, problems)
        params = self.sampling(problems, n=c.m, temperature=c.temperature, top_p=c.top_p)
        programs = self.ask(backend, self.templates()[1], problems, params, "sample")
        run_programs([g for per_q in programs for g in per_q], c)
        preds = []
        for progs, chs in zip(programs, chains, strict=True):
            by_source = {"program": vote_counts(g.answer for g in progs), "chain": vote_counts(g.answer for g in chs)}
            ok = sum(g.extra["program_status"] == "ok" for g in progs)
            preds.append(vote(progs + chs, calls=2, votes_by_source=by_source, programs_ok=ok, decided_by=decided_by(progs, chs)))
        return preds
