"""Server-side SVG charts: a bar chart and a step chart, no JavaScript, no inline styles.

Each chart is an `<svg role="img">` with a `<title>` and a `<desc>` (referenced by
`aria-labelledby`), a `<title>` on every bar or step so a pointer shows its value, and colours
from classes in static/style.css (the CSP forbids inline styles). Every label is escaped. Pages
put a data table beside each chart: the chart is a picture of the table, never the only copy.

A value of None is a hidden cell (small-count suppression): no bar, no line through it, and its
text (e.g. "<3") written where the bar would be.

Imports markupsafe only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NotRequired, TypedDict, Unpack

from markupsafe import Markup, escape

__all__ = ["Point", "bar_chart", "step_chart"]

WIDTH = 640
HEIGHT = 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 40, 10, 12, 44
_MAX_X_LABELS = 9


class ChartLabels(TypedDict):
    """What names a chart: element id, title, description, and the text shown without data."""

    chart_id: str
    title: str
    description: str
    empty_text: NotRequired[str]


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    value: float | None  # None: hidden
    text: str | None = None  # what to show for the value (default: the number)
    tick: str | None = None  # a shorter label for the x axis (default: the label)

    @property
    def shown(self) -> str:
        if self.text is not None:
            return self.text
        if self.value is None:
            return ""
        return f"{self.value:g}"


def _nice_max(values: Sequence[float]) -> float:
    """The top of the scale: at least 2 and even, so the three gridlines are whole counts."""
    top = max(values, default=0.0)
    if top <= 2:
        return 2.0
    magnitude = 10 ** math.floor(math.log10(top))
    for step in (2, 4, 6, 8, 10):
        if top <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)  # pragma: no cover


def _frame(labels: ChartLabels, body: list[str], css: str) -> Markup:
    ident = escape(labels["chart_id"])
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(labels["title"])}</title>'
        f'<desc id="{ident}-desc">{escape(labels["description"])}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704  (every part escaped above)


def _axes(top: float, points: Sequence[Point], slot: float) -> list[str]:
    """Baseline, three gridlines with their values, and every nth x label."""
    plot_h = HEIGHT - _TOP - _BOTTOM
    out = []
    for fraction in (0.0, 0.5, 1.0):
        y = _TOP + plot_h * (1 - fraction)
        value = top * fraction
        out.append(
            f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(f'{value:g}')}</text>"
        )
    every = max(1, math.ceil(len(points) / _MAX_X_LABELS))
    for i, point in enumerate(points):
        if i % every:
            continue
        x = _LEFT + slot * (i + 0.5)
        out.append(
            f'<text class="axis" x="{x:.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle">'
            f"{escape(point.tick or point.label)}</text>"
        )
    return out


def _empty(labels: ChartLabels) -> Markup:
    body = [
        f'<text class="axis" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
        f"{escape(labels.get('empty_text', 'No data'))}</text>"
    ]
    return _frame(labels, body, "empty")


def _tip(point: Point) -> str:
    return f"<title>{escape(f'{point.label}: {point.shown}')}</title>"


def _hidden_cell(x: float, base: float, point: Point) -> str:
    """A hidden value's text, centred at x just above the baseline."""
    return (
        f'<text class="hidden-cell" x="{x:.1f}" y="{base - 4:.1f}" '
        f'text-anchor="middle">{_tip(point)}{escape(point.shown)}</text>'
    )


def _plot(points: Sequence[Point]) -> tuple[float, float, float, float, list[str]]:
    """What both charts share: the scale's top, the width per point, the baseline's y, the plot
    height, and the axes drawn so far."""
    top = _nice_max([p.value for p in points if p.value is not None])
    plot_h = HEIGHT - _TOP - _BOTTOM
    slot = (WIDTH - _LEFT - _RIGHT) / len(points)
    return top, slot, _TOP + plot_h, plot_h, _axes(top, points, slot)


def bar_chart(points: Sequence[Point], **labels: Unpack[ChartLabels]) -> Markup:
    """Vertical bars, one per point, in order."""
    if not points:
        return _empty(labels)
    top, slot, base, plot_h, body = _plot(points)
    for i, point in enumerate(points):
        x = _LEFT + slot * i + slot * 0.15
        if point.value is None:
            body.append(_hidden_cell(x + slot * 0.35, base, point))
            continue
        h = plot_h * max(point.value, 0) / top
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}">{_tip(point)}</rect>'
        )
    return _frame(labels, body, "bars")


def step_chart(points: Sequence[Point], **labels: Unpack[ChartLabels]) -> Markup:
    """A step line through the points; a hidden value breaks the line."""
    if not points:
        return _empty(labels)
    top, slot, base, plot_h, body = _plot(points)
    runs: list[list[str]] = [[]]
    for i, point in enumerate(points):
        x0, x1 = _LEFT + slot * i, _LEFT + slot * (i + 1)
        if point.value is None:
            runs.append([])
            body.append(_hidden_cell(x0 + slot / 2, base, point))
            continue
        y = base - plot_h * max(point.value, 0) / top
        runs[-1] += [f"{x0:.1f},{y:.1f}", f"{x1:.1f},{y:.1f}"]
        body.append(
            f'<rect class="step-hit" x="{x0:.1f}" y="{_TOP}" width="{slot:.1f}" '
            f'height="{plot_h}">{_tip(point)}</rect>'
        )
    for run in runs:
        if run:
            body.append(f'<polyline class="step" points="{" ".join(run)}"/>')
    return _frame(labels, body, "steps")
