"""Charts drawn on the server as SVG, with no chart library and no script: the
Durations tab's bar charts (a bar per run, its height the duration against the
longest shown, its colour the state) and the Gantt chart of a run (a bar per task
instance on a time axis, its queued time drawn before its running time)."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from miniflow.web.humanize import format_duration

__all__ = ["BarChart", "bar_chart", "GanttChart", "gantt_chart", "GANTT_LEFT", "GANTT_WIDTH"]

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


GANTT_LEFT, GANTT_WIDTH, GANTT_ROW = 200, 760, 26  # pixels: labels, time area, row
_STEPS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900,
          1800, 3600, 7200, 14400, 21600, 43200, 86400)  # seconds between the time axis' ticks


@dataclass
class GanttBar:
    label: str
    state: str
    y: int
    queued_x: float  # the queued part (queued_at to start), drawn lighter before the running part
    queued_w: float
    run_x: float
    run_w: float
    title: str


@dataclass
class GanttChart:
    bars: list[GanttBar] = field(default_factory=list)
    ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, clock time)
    height: int = 0
    span: float = 0.0


def gantt_chart(tis: list[Any], now: dt.datetime) -> GanttChart:
    """A bar per task instance that was queued or started, on a time axis from the
    first queueing to the last end (or `now` for what still runs)."""
    shown = [t for t in tis if t.start_date or t.queued_at]
    if not shown:
        return GanttChart()
    begin = min(t.queued_at or t.start_date for t in shown)
    finish = max(t.end_date or now for t in shown)
    span = max((finish - begin).total_seconds(), 0.001)

    def x(when: dt.datetime) -> float:
        return round(GANTT_LEFT + GANTT_WIDTH * (when - begin).total_seconds() / span, 1)

    chart = GanttChart(height=len(shown) * GANTT_ROW + 24, span=span)
    for i, t in enumerate(sorted(shown, key=lambda t: (t.queued_at or t.start_date, t.task_id, t.map_index))):
        queued_from = t.queued_at or t.start_date
        started = t.start_date or now
        ended = t.end_date or now
        label = f"{t.task_id}[{t.map_index}]" if t.map_index >= 0 else t.task_id
        waited = (started - queued_from).total_seconds() if t.queued_at else 0.0
        ran = (ended - started).total_seconds() if t.start_date else 0.0
        chart.bars.append(GanttBar(
            label, t.state or "none", i * GANTT_ROW + 22, x(queued_from), max(0.0, x(started) - x(queued_from)),
            x(started), max(1.0, x(ended) - x(started)) if t.start_date else 0.0,
            f"{label}: queued {format_duration(waited)}, ran {format_duration(ran)} ({t.state or 'no state'})"))
    step = next((s for s in _STEPS if span / s <= 8), _STEPS[-1])
    for n in range(int(span / step) + 1):
        when = begin + dt.timedelta(seconds=n * step)
        chart.ticks.append((x(when), when.strftime("%H:%M:%S.%f")[:-3] if step < 1 else when.strftime("%H:%M:%S")))
    return chart
