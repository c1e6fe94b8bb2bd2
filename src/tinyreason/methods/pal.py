"""Program-aided reasoning: the model writes a Python program, a sandbox runs it, the grader reads its result.

Follows PAL (Gao et al. 2022, arXiv:2211.10435) and Program-of-Thoughts (Chen et al. 2022, arXiv:2211.12588).

    tinyreason eval --method pal                                     # one greedy program per question
    tinyreason eval --method pal --prompt pal-3shot                  # with 3 GSM8K-train exemplars
    tinyreason eval --method pal-sc --n 5 --temperature 0.7          # n sampled programs, majority vote
    tinyreason eval --method pal --option timeout_s=2 --option workers=8

The prompt (`pal`) asks for a solution() function in one ```python block; methods/programs.py extracts
it, tinyreason.sandbox runs it (bubblewrap; refused with the fix where the sandbox cannot run, unless
`--option isolation=unsafe-subprocess` is given, which the run config records), and the answer is what
solution() returns, graded by answers.py. All programs of a batch run concurrently (`workers` at a time).

pal: stage "answer", extra.program_status per question. pal-sc: stage "sample", majority vote over the
executed answers (answers.majority_vote; failed programs cast no vote), extra.votes and extra.programs_ok.
Every program generation records its program, stdout, error and elapsed time (methods/programs.py), and
metrics.json counts programs that failed to parse, raised, timed out or returned no number.
"""

from __future__ import annotations

from tinyreason.backends.base import Backend
from tinyreason.methods.base import SampledConfig, register_method
from tinyreason.methods.programs import ProgramConfig, ProgramMethod, run_programs
from tinyreason.methods.sc import vote
from tinyreason.types import Prediction, Problem


class PALSCConfig(ProgramConfig, SampledConfig):
    """pal's fields plus n, temperature, top_p."""


@register_method
class PAL(ProgramMethod):
    """Program-aided reasoning: the model writes one Python program, a sandbox runs it, the grader reads its result."""

    name = "pal"
    Config = ProgramConfig

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        gens = self.ask(backend, self.templates()[0], problems, self.sampling(problems), "answer")
        run_programs([g for per_q in gens for g in per_q], self.config)
        return [Prediction(g.answer, g.answer_strict, [g], calls=1, extra={"program_status": g.extra["program_status"]}) for (g,) in gens]


@register_method
class PALSC(ProgramMethod):
    """Self-consistency over programs: n sampled programs, each run in the sandbox, a majority vote over their results."""

    name = "pal-sc"
    Config = PALSCConfig

    def solve(self, backend: Backend, problems: list[Problem]) -> list[Prediction]:
        gens = self.draw_samples(backend, problems)
        run_programs([g for per_q in gens for g in per_q], self.config)
        return [vote(g, calls=1, programs_ok=sum(one.extra["program_status"] == "ok" for one in g)) for g in gens]
