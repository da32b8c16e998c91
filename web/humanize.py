"""Schedules and durations in words: ``0 2 * * *`` -> "every day at 02:00", 75.0 -> "1m 15s"."""

from __future__ import annotations

import re

__all__ = ["describe_schedule", "format_duration"]

_PRESETS = {
    "@once": "once", "@hourly": "every hour", "@daily": "every day at 00:00", "@midnight": "every day at 00:00",
    "@weekly": "every Sunday at 00:00", "@monthly": "on day 1 of every month at 00:00",
    "@quarterly": "on day 1 of every third month at 00:00", "@yearly": "every 1 January at 00:00",
    "@annually": "every 1 January at 00:00", "None": "manual only",
}
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


_DELTA = re.compile(r"^(?:(\d+) days?, )?(\d+):(\d\d):(\d\d)$")  # str() of a whole-second timedelta


def _describe_delta(summary: str) -> str | None:
    """``1 day, 0:00:00`` -> "every day", ``1:30:00`` -> "every 1 hour 30 minutes"."""
    match = _DELTA.match(summary)
    if match is None:
        return None
    parts = [(int(n or 0), unit) for n, unit in zip(match.groups(), ("day", "hour", "minute", "second"), strict=True)]
    named = [(n, unit) for n, unit in parts if n]
    if len(named) == 1 and named[0][0] == 1:
        return f"every {named[0][1]}"
    return "every " + " ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in named) if named else None


def _num(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def describe_schedule(summary: str | None) -> str:
    """A short English phrase for common schedules; the expression itself otherwise."""
    if summary is None or summary == "":
        return "manual only"
    if summary in _PRESETS:
        return _PRESETS[summary]
    if summary == "Dataset":  # DatasetTriggeredTimetable's summary, as in Airflow
        return "on dataset updates"
    if summary.endswith(" or on dataset updates"):  # DatasetOrTimeSchedule
        return f"{describe_schedule(summary.removesuffix(' or on dataset updates'))} or on dataset updates"
    fields = summary.split()
    if len(fields) != 5:
        return _describe_delta(summary) or f"every {summary}"  # a timedelta's text, e.g. "1 day, 0:00:00"
    minute, hour, dom, month, dow = fields
    if month != "*":
        return summary
    m, h = _num(minute), _num(hour)
    if minute.startswith("*/") and hour == "*" and dom == "*" and dow == "*":
        return f"every {minute[2:]} minutes"
    if m is not None and hour == "*" and dom == "*" and dow == "*":
        return f"every hour at minute {m}"
    if m is not None and hour.startswith("*/") and dom == "*" and dow == "*":
        return f"every {hour[2:]} hours at minute {m}"
    if m is None or h is None:
        return summary
    at = f"{h:02d}:{m:02d}"
    if dom == "*" and dow == "*":
        return f"every day at {at}"
    if dom == "*" and _num(dow) is not None and int(dow) <= 7:
        return f"every {_DAYS[int(dow)]} at {at}"
    if dom == "*" and dow == "1-5":
        return f"every weekday at {at}"
    if _num(dom) is not None and dow == "*":
        return f"on day {dom} of every month at {at}"
    return summary


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
