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
    n: int = 0  # questions answered (shown: a 10-question run must not pass for a 600-question one)

    @property
    def name(self) -> str:
        return f"{self.label} (n={self.n})" if self.n else self.label


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
    """Horizontal bars (long run names stay readable), each with its interval and n, the value in dark text
    beyond the interval; the axis ends a little past the highest interval, not at 100%."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.42 * len(points) + 1.4)))
    ys = list(range(len(points)))[::-1]  # the first row on top
    accs = [p.accuracy * 100 for p in points]
    err = [[(p.accuracy - p.lo) * 100 for p in points], [(p.hi - p.accuracy) * 100 for p in points]]
    ax.barh(ys, accs, xerr=err, capsize=3, color=[p.color for p in points], ecolor="#333333", height=0.6)
    top = max((p.hi * 100 for p in points), default=100.0)
    for y, p in zip(ys, points):
        ax.text(p.hi * 100 + top * 0.015, y, f"{p.accuracy * 100:.1f}%", va="center", ha="left", color="#222222", fontsize=8)
    ax.set_yticks(ys, [p.name for p in points], fontsize=8)
    ax.set_xlim(0, min(100.0, top * 1.18 + 1))
    ax.set_xlabel("accuracy (%), 95% Wilson interval")
    ax.set_title("GSM8K accuracy — green: better than the baseline, red: worse, blue: n.s., grey: baseline or incomplete", fontsize=8)
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# where a point's label may go, in offset points, tried in order until one overlaps no label placed before
_OFFSETS = [(6, 4, "left"), (6, -11, "left"), (-6, 4, "right"), (-6, -11, "right"), (6, 14, "left"), (6, -21, "left"),
            (-6, 14, "right"), (-6, -21, "right"), (6, 24, "left"), (-6, -31, "right")]


def _place_labels(ax, fig, points: list[Point]) -> list:  # type: ignore[no-untyped-def]
    """Annotate each point where its label overlaps no earlier label and stays inside the axes; the boxes placed."""
    fig.canvas.draw()  # the axes' final place on the canvas, which the boxes are measured against
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed = []
    for p in sorted(points, key=lambda q: (-q.accuracy, q.tokens)):
        for k, (dx, dy, ha) in enumerate(_OFFSETS):
            text = ax.annotate(p.label, (p.tokens, p.accuracy * 100), textcoords="offset points", xytext=(dx, dy), fontsize=7, ha=ha)
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if (inside and not any(box.overlaps(b) for b in placed)) or k == len(_OFFSETS) - 1:
                placed.append(box)
                break
            text.remove()
    return placed


def pareto(points: list[Point], path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    front = pareto_front(points)
    for p in points:
        on = p in front
        ax.errorbar(p.tokens, p.accuracy * 100, yerr=[[(p.accuracy - p.lo) * 100], [(p.hi - p.accuracy) * 100]],
                    fmt="o" if on else "x", color="#C44E52" if on else "#555555", capsize=3)  # fmt: skip
    if len(front) > 1:
        ax.plot([p.tokens for p in front], [p.accuracy * 100 for p in front], "--", color="#C44E52", label="Pareto front")
        ax.legend(loc="lower right", fontsize=8)
    if points and max(p.tokens for p in points) > 4 * max(1.0, min(p.tokens for p in points)):
        from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        lo, hi = min(p.tokens for p in points), max(p.tokens for p in points)
        ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000) if lo / 2 <= t <= hi * 2]
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collided (400 500600700800900)
    ax.set_xlabel("generated tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy vs inference compute (95% intervals)")
    fig.tight_layout()
    _place_labels(ax, fig, points)
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
