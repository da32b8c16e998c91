"""Small bar charts drawn on the server as SVG (the Durations tab): one bar per run,
its height the run's (or the task's) duration against the longest shown, its colour
the state. No chart library, no script."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from miniflow.web.humanize import format_duration

__all__ = ["BarChart", "bar_chart"]

BAR, GAP, HEIGHT = 10, 2, 48  # pixels


@dataclass
class Bar:
    x: int
    y: int
    height: int
    state: str
    title: str


@dataclass
class BarChart:
    bars: list[Bar] = field(default_factory=list)
    width: int = 0
    height: int = HEIGHT
    longest: float | None = None
    median: float | None = None


def bar_chart(points: list[tuple[str, float | None, str]]) -> BarChart:
    """A chart of (label, seconds or None, state) points, oldest first."""
    known = [s for _, s, _ in points if s is not None]
    longest = max(known, default=0.0)
    chart = BarChart(width=len(points) * (BAR + GAP), longest=longest if known else None,
                     median=statistics.median(known) if known else None)
    for i, (label, seconds, state) in enumerate(points):
        height = max(1, round(HEIGHT * seconds / longest)) if seconds and longest else 0
        text = format_duration(seconds) if seconds is not None else "no duration yet"
        chart.bars.append(Bar(i * (BAR + GAP), HEIGHT - height, height, state or "none", f"{label}: {text}"))
    return chart
