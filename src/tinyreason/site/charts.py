"""Small inline SVG charts for the site (no chart library, no script): an interval bar and a line chart. They
follow the PNGs' rules: the axis fits the data (not 0–100 for a 20% metric), every number is readable."""

from __future__ import annotations

from markupsafe import Markup, escape


def interval_svg(acc: float, lo: float, hi: float, top: float, width: int = 160, height: int = 16) -> Markup:
    """A 95% interval drawn on an axis from 0 to a little past the highest interval of the page."""
    scale = (width - 8) / max(top * 1.1, 1e-9)
    x = lambda v: 4 + v * scale  # noqa: E731
    return Markup(
        f'<svg class="ci" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{acc:.1%} (95% CI {lo:.1%} to {hi:.1%})">'
        f'<line x1="4" y1="{height - 2}" x2="{width - 4}" y2="{height - 2}" stroke="#ccc"/>'
        f'<line x1="{x(lo):.1f}" y1="{height / 2}" x2="{x(hi):.1f}" y2="{height / 2}" stroke="#333" stroke-width="2"/>'
        f'<circle cx="{x(acc):.1f}" cy="{height / 2}" r="3.5" fill="#4C72B0"/></svg>'
    )


def line_chart(title: str, points: list[tuple[float, float]], xlabel: str, width: int = 420, height: int = 200) -> Markup:
    """A polyline of (x, y) with its min and max labelled on both axes."""
    if not points:
        return Markup("")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad_l, pad_b, pad_t, pad_r = 48, 28, 22, 10
    sx = lambda v: pad_l + (v - x0) / (x1 - x0) * (width - pad_l - pad_r)  # noqa: E731
    sy = lambda v: height - pad_b - (v - y0) / (y1 - y0) * (height - pad_b - pad_t)  # noqa: E731
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in points)
    fmt = lambda v: f"{v:.3g}"  # noqa: E731
    return Markup(
        f'<figure class="chart"><svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>'
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" stroke="#999"/>'
        f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{height - pad_b}" stroke="#999"/>'
        f'<text x="{pad_l - 4}" y="{sy(y1) + 4:.1f}" font-size="10" text-anchor="end">{fmt(y1)}</text>'
        f'<text x="{pad_l - 4}" y="{sy(y0) + 4:.1f}" font-size="10" text-anchor="end">{fmt(y0)}</text>'
        f'<text x="{pad_l}" y="{height - 10}" font-size="10">{fmt(x0)}</text>'
        f'<text x="{width - pad_r}" y="{height - 10}" font-size="10" text-anchor="end">{fmt(x1)} ({escape(xlabel)})</text>'
        f'<polyline points="{path}" fill="none" stroke="#4C72B0" stroke-width="1.5"/></svg></figure>'
    )
