"""Plots rendered from run data with matplotlib's Agg backend (no display needed), written as PNG.

    accuracy_bars(rows, path)        accuracy per run with 95% Wilson whiskers
    pareto(rows, path)               accuracy vs generated tokens per question; the compute Pareto front joined
    transition_heatmap(t, a, b, path)  the 2x2 transition matrix of a pair, counts in the cells

A run is on the Pareto front when no other run is at least as accurate with at most as many tokens per
question (and strictly better in one of the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tinyreason.analysis.paired import Transitions


@dataclass
class Point:
    label: str
    accuracy: float
    lo: float
    hi: float
    tokens: float  # generated tokens per question
    color: str = "#4C72B0"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: list[Point]) -> list[Point]:
    """Non-dominated points, cheapest first."""
    front = [
        p
        for p in points
        if not any(
            q is not p and q.accuracy >= p.accuracy and q.tokens <= p.tokens and (q.accuracy > p.accuracy or q.tokens < p.tokens)
            for q in points
        )
    ]
    return sorted(front, key=lambda p: p.tokens)


def accuracy_bars(points: list[Point], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(points) + 2), 4))
    xs = range(len(points))
    accs = [p.accuracy * 100 for p in points]
    err = [[(p.accuracy - p.lo) * 100 for p in points], [(p.hi - p.accuracy) * 100 for p in points]]
    ax.bar(xs, accs, yerr=err, capsize=5, color=[p.color for p in points], ecolor="black")
    for x, a in zip(xs, accs):
        ax.text(x, a / 2, f"{a:.1f}%", ha="center", color="white", fontsize=9)
    ax.set_xticks(list(xs), [p.label for p in points], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%), 95% Wilson interval")
    ax.set_ylim(0, 100)
    ax.set_title("GSM8K accuracy\ngreen: better than baseline, red: worse, blue: n.s., grey: baseline", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def pareto(points: list[Point], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    front = pareto_front(points)
    for p in points:
        on = p in front
        ax.errorbar(p.tokens, p.accuracy * 100, yerr=[[(p.accuracy - p.lo) * 100], [(p.hi - p.accuracy) * 100]],
                    fmt="o" if on else "x", color="#C44E52" if on else "#555555", capsize=3)  # fmt: skip
        ax.annotate(p.label, (p.tokens, p.accuracy * 100), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if len(front) > 1:
        ax.plot([p.tokens for p in front], [p.accuracy * 100 for p in front], "--", color="#C44E52", label="Pareto front")
        ax.legend(loc="lower right")
    if points and max(p.tokens for p in points) > 4 * max(1.0, min(p.tokens for p in points)):
        from matplotlib.ticker import ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(ScalarFormatter())
        ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("generated tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy vs inference compute")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def transition_heatmap(t: Transitions, a: str, b: str, path: Path) -> Path:
    plt = _plt()
    cells = [[t.both_right, t.regressed], [t.fixed, t.both_wrong]]
    names = [["both right", "regressed"], ["fixed", "both wrong"]]
    fig, ax = plt.subplots(figsize=(4.8, 4))
    im = ax.imshow(cells, cmap="Blues")
    top = max(max(r) for r in cells) or 1
    for r in range(2):
        for c in range(2):
            color = "white" if cells[r][c] > top / 2 else "black"
            ax.text(c, r, f"{cells[r][c]}\n{names[r][c]}", ha="center", va="center", color=color, fontsize=10)
    ax.set_xticks([0, 1], [f"{b}\nright", f"{b}\nwrong"], fontsize=8)
    ax.set_yticks([0, 1], [f"{a}\nright", f"{a}\nwrong"], fontsize=8)
    ax.set_title(f"transitions, n={t.n}, McNemar p={t.p_value:.3g}", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
