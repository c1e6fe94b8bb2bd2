"""How far two runs of the *same* evaluation agree when only the means differ: another backend or weight
precision (HF bf16 against OpenVINO int8), another batch size (greedy text can depend on what shares a batch).

    rows = [agreement(load_run("runs/greedy"), load_run("runs/greedy-hf-bf16"))]
    write_fidelity(rows, out)        # results/FIDELITY.md

Per pair, on their shared questions: identical completion text, identical extracted answer, both accuracies,
fixed / regressed with the exact McNemar p, and the minimum detectable effect of a paired comparison with
this discordance (tinyreason.stats.mde_paired). A greedy-vs-greedy pair that differs only in the means sets
the noise floor: an effect between two methods smaller than what two such runs already disagree by is not
one this protocol can claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyreason.analysis.loading import Run, align
from tinyreason.analysis.paired import transitions
from tinyreason.backends.base import engine_name
from tinyreason.stats import mde_paired


@dataclass(frozen=True)
class Agreement:
    a: Run
    b: Run
    n: int
    same_text: int
    same_answer: int
    acc_a: float
    acc_b: float
    fixed: int
    regressed: int
    p_value: float
    mde: float

    @property
    def delta(self) -> float:
        return self.acc_b - self.acc_a


def _texts(run: Run, i: int) -> list[str]:
    return [g.get("text", "") for g in run.samples[i].get("generations", [])]


def agreement(a: Run, b: Run) -> Agreement:
    pair = align(a, b)
    t = transitions(pair)
    same_text = sum(_texts(a, i) == _texts(b, i) for i in pair.ids)
    same_answer = sum(a.samples[i].get("prediction") == b.samples[i].get("prediction") for i in pair.ids)
    return Agreement(a, b, t.n, same_text, same_answer, t.acc_a, t.acc_b, t.fixed, t.regressed, t.p_value,
                     mde_paired(t.discordance, t.n) if t.n else float("nan"))


def engine(run: Run) -> str:
    """The backend and its weight precision ("openvino int8", "hf bfloat16"): what makes numbers differ by means."""
    return engine_name(run.config.get("backend"))


def _means(run: Run) -> str:
    batch = run.config.get("runtime", {}).get("batch_size")
    return engine(run) + (f", batch {batch}" if batch else "")


def markdown(rows: list[Agreement]) -> str:
    out = ["# Fidelity and the noise floor", "",
           "Two runs of the same evaluation that differ only in the means (backend and weight precision, or batch size). "
           "*Same text*: every completion identical; *same answer*: the same extracted prediction. p: exact McNemar. "
           "MDE: the smallest paired difference detectable (80% power, α = 0.05) at this discordance and n.", "",
           "| A | B | questions | same text | same answer | accuracy A | accuracy B | Δ | fixed / regressed | p | MDE |",
           "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        out.append(f"| {r.a.name} ({_means(r.a)}) | {r.b.name} ({_means(r.b)}) | {r.n} | {r.same_text} ({r.same_text / r.n:.0%}) | "
                   f"{r.same_answer} ({r.same_answer / r.n:.0%}) | {r.acc_a:.1%} | {r.acc_b:.1%} | {100 * r.delta:+.1f} pp | "
                   f"{r.fixed} / {r.regressed} | {r.p_value:.2g} | {100 * r.mde:.1f} pp |")
    return "\n".join(out) + "\n"


def write_fidelity(rows: list[Agreement], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "FIDELITY.md"
    path.write_text(markdown(rows))
    return path
