"""The Calendar tab: a year of days per row, each day coloured by its runs' states (as
Airflow 2's calendar), drawn as SVG on the server.

A day with a failed run is red, else one with a run still going is blue, else a day
whose runs all succeeded is green; other mixes are grey, days without runs are blank.
The titles say how many runs of each state a day has.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["CalendarYear", "calendar_years", "CELL"]

CELL = 12  # pixels per day square, gap included
_UNFINISHED = {"running", "queued"}


@dataclass
class Day:
    x: int
    y: int
    date: dt.date
    summary: str  # failed | running | success | mixed | none
    title: str


@dataclass
class CalendarYear:
    year: int
    days: list[Day] = field(default_factory=list)
    months: list[tuple[int, str]] = field(default_factory=list)  # (x, label)
    width: int = 0


def _summary(states: Counter[str]) -> str:
    if not states:
        return "none"
    if states["failed"]:
        return "failed"
    if any(states[s] for s in _UNFINISHED):
        return "running"
    return "success" if set(states) == {"success"} else "mixed"


def calendar_years(runs: Iterable[tuple[dt.datetime, str]], years: int) -> list[CalendarYear]:
    """The latest `years` years that have runs, newest first, from (logical date, state)."""
    by_day: dict[dt.date, Counter[str]] = defaultdict(Counter)
    for when, state in runs:
        by_day[when.date()][state] += 1
    shown = sorted({d.year for d in by_day}, reverse=True)[:years]
    out = []
    for year in shown:
        first = dt.date(year, 1, 1)
        offset = (first.weekday() + 1) % 7  # weeks start on Sunday, as Airflow's calendar
        cal = CalendarYear(year)
        day = first
        while day.year == year:
            index = (day - first).days + offset
            x, y = (index // 7) * CELL, (index % 7) * CELL
            states = by_day.get(day, Counter())
            counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
            cal.days.append(Day(x, y, day, _summary(states), f"{day.isoformat()}: {counts or 'no runs'}"))
            if day.day == 1:
                cal.months.append((x, day.strftime("%b")))
            cal.width = x + CELL
            day += dt.timedelta(days=1)
        out.append(cal)
    return out
