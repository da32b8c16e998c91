"""Schedules: which runs a DAG gets, and when each may start.

This module is pure: no database, no clock reads. The current time is always passed in
as `now`, so tests can hammer every rule with any instant they like.

The semantics are Airflow 2.10's data intervals:

- A scheduled run covers a *data interval* ``[start, end)``; its ``logical_date`` is the
  interval's start, and the run is created only once the interval has ended
  (``end <= now``). A daily DAG's run for 2024-03-05 starts just after midnight on
  2024-03-06.
- The first interval starts at ``start_date`` if that is a cron tick, else at the next
  tick after it. Runs whose logical date is after ``end_date`` are never created.
- ``catchup=True`` creates every missed interval since ``start_date``;
  ``catchup=False`` skips to the latest *complete* interval and goes on from there.
- Cron expressions are evaluated in the timezone of ``start_date``; wall-clock times
  that do not exist (spring forward) move forward, and ambiguous ones (autumn back)
  take the second occurrence, so a daily 02:00 job runs once a day across DST.
  Schedules that fire at least hourly follow absolute time instead, so no hour is
  skipped or run twice.
- ``catchup=False`` with a ``timedelta`` schedule (which Airflow leaves loosely
  defined) follows Airflow 2.10's code: the latest complete interval is the one ending
  at ``now`` rounded down to a multiple of the delta since the Unix epoch, but never
  before ``start_date``.
- ``@once`` runs once, at ``start_date``; ``@continuous`` starts the next run as soon as
  the last one ended; ``None`` never runs on its own.
- The *trigger* timetables (`CronTriggerTimetable`, `DeltaTriggerTimetable`,
  `MultipleCronTriggerTimetable`) run *at* each tick, like POSIX cron, instead of
  after an interval: the run for the 06:00 tick is created at 06:00, its data interval
  is ``[tick - interval, tick]`` (zero length unless ``interval=`` is given).
  ``catchup=False`` starts from the latest tick at or before ``now``.
- `EventsTimetable` runs at each listed instant, with a zero-length data interval.

Every datetime handed out is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from croniter import croniter

from miniflow.exceptions import InvalidScheduleError

__all__ = [
    "DataInterval",
    "DagRunInfo",
    "TimeRestriction",
    "Timetable",
    "NullTimetable",
    "OnceTimetable",
    "ContinuousTimetable",
    "CronTimetable",
    "DeltaTimetable",
    "CronTriggerTimetable",
    "DeltaTriggerTimetable",
    "MultipleCronTriggerTimetable",
    "EventsTimetable",
    "PRESETS",
    "timetable_for",
    "interval_tick",
    "due_runs",
    "upcoming_runs",
    "to_utc",
    "timetable_to_json",
    "timetable_from_json",
    "zone_to_json",
    "zone_from_json",
]

UTC = dt.timezone.utc

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def to_utc(value: dt.datetime) -> dt.datetime:
    """An aware UTC datetime; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC, fold=0)
    return value.astimezone(UTC).replace(fold=0)


def _localize(naive: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """Attach `tz` to a wall-clock time: gaps move forward, folds take the later time."""
    first = naive.replace(tzinfo=tz, fold=0)
    roundtrip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:  # the wall time does not exist: fold=0 lands past the gap
        return first
    return naive.replace(tzinfo=tz, fold=1)


@dataclass(frozen=True, order=True)
class DataInterval:
    start: dt.datetime
    end: dt.datetime

    @classmethod
    def exact(cls, at: dt.datetime) -> DataInterval:
        """A zero-length interval at one instant."""
        return cls(at, at)


@dataclass(frozen=True)
class DagRunInfo:
    """A run a timetable asks for: its data interval, and when it may be created."""

    data_interval: DataInterval
    run_after: dt.datetime

    @classmethod
    def exact(cls, at: dt.datetime) -> DagRunInfo:
        """A run at one instant, covering just that instant."""
        return cls(DataInterval.exact(at), run_after=at)

    @classmethod
    def interval(cls, start: dt.datetime, end: dt.datetime) -> DagRunInfo:
        """A run covering ``[start, end)``, created once it has ended."""
        return cls(DataInterval(start, end), run_after=end)

    @property
    def logical_date(self) -> dt.datetime:
        return self.data_interval.start


@dataclass(frozen=True)
class TimeRestriction:
    """The bounds a DAG puts on its timetable: start_date, end_date and catchup."""

    earliest: dt.datetime | None
    latest: dt.datetime | None
    catchup: bool


class Timetable(ABC):
    """Base class: answers which run comes after the last one.

    Timetables written for Airflow subclass this (``airflow.timetables.base``) with
    Airflow's keyword-only signatures, ``next_dagrun_info(*, last_automated_data_interval,
    restriction)`` and ``infer_manual_data_interval(*, run_after)``; such methods are
    adapted to miniflow's calls when the subclass is defined. They read the clock
    themselves, as in Airflow.
    """

    can_be_scheduled = True
    periodic = True
    summary = ""
    description = ""
    active_runs_limit: int | None = None  # at most this many runs at once (max_active_runs must obey)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("next_dagrun_info")
        if own is not None and "last_automated_data_interval" in inspect.signature(own).parameters:
            @functools.wraps(own)
            def next_dagrun_info(self, last, restriction, now):
                return own(self, last_automated_data_interval=last, restriction=restriction)

            cls.next_dagrun_info = next_dagrun_info  # type: ignore[method-assign]
        manual = cls.__dict__.get("infer_manual_data_interval")
        if manual is not None:
            parameter = inspect.signature(manual).parameters.get("run_after")
            if parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY:
                @functools.wraps(manual)
                def infer_manual_data_interval(self, run_after):
                    return manual(self, run_after=run_after)

                cls.infer_manual_data_interval = infer_manual_data_interval  # type: ignore[method-assign]

    def validate(self) -> None:  # noqa: B027 -- optional, as in Airflow
        """Raise if the timetable cannot work; Airflow calls this when a DAG is made."""

    @abstractmethod
    def next_dagrun_info(
        self,
        last: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        """The run after `last` (None: the first run), or None if there is none."""

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        """The data interval of a run triggered by hand for `run_after`."""
        return DataInterval(run_after, run_after)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.summary!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), self.summary))


class NullTimetable(Timetable):
    """`schedule=None`: runs only when triggered."""

    can_be_scheduled = False
    summary = "None"

    def next_dagrun_info(self, last, restriction, now):
        return None


class OnceTimetable(Timetable):
    """`@once`: one run at start_date, whatever catchup says (as in Airflow)."""

    summary = "@once"

    def next_dagrun_info(self, last, restriction, now):
        if last is not None or restriction.earliest is None:
            return None
        at = restriction.earliest
        if restriction.latest is not None and at > restriction.latest:
            return None
        return DagRunInfo(DataInterval(at, at), run_after=at)


class ContinuousTimetable(Timetable):
    """`@continuous` (Airflow 2.6+): the next run as soon as the last one ended. Its data
    interval goes from where the last one's ended (the first's from start_date) to when
    it is created; a DAG with it runs one run at a time (`active_runs_limit`)."""

    summary = "@continuous"
    description = "As frequently as possible, but only one run at a time."
    periodic = False
    active_runs_limit: int | None = 1

    def next_dagrun_info(self, last, restriction, now):
        if restriction.latest is not None and restriction.latest < now:
            return None
        if last is not None:
            return DagRunInfo.interval(last.end, max(last.end, now))
        start = restriction.earliest or now
        return DagRunInfo.interval(start, max(start, now))


class _IntervalTimetable(Timetable):
    """Shared logic of cron and delta schedules; subclasses say what a step is."""

    @abstractmethod
    def _next(self, current: dt.datetime) -> dt.datetime:
        """The tick one step after `current`."""

    @abstractmethod
    def _prev(self, current: dt.datetime) -> dt.datetime:
        """The tick one step before `current`."""

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        return current

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        return current

    @abstractmethod
    def _skip_to_latest(self, earliest: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        """Start of the latest complete interval at `now` (catchup=False), not before `earliest`."""

    def next_dagrun_info(
        self,
        last: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        earliest = restriction.earliest
        if not restriction.catchup:
            earliest = self._skip_to_latest(earliest, to_utc(now))
        elif earliest is not None:
            earliest = self._align_to_next(earliest)
        if last is None:
            if earliest is None:
                return None
            start = earliest
        else:
            # Realign: the schedule may have changed since the last run.
            start = self._align_to_prev(last.end)
            if earliest is not None:
                start = max(start, earliest)
        if restriction.latest is not None and start > restriction.latest:
            return None
        end = self._next(start)
        return DagRunInfo(DataInterval(start, end), run_after=end)

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        """The last complete period before `run_after` (Airflow 2.10): a daily DAG
        triggered at 01:00 on the 25th covers the 24th, midnight to midnight."""
        end = self._align_to_prev(to_utc(run_after))
        return DataInterval(self._prev(end), end)


def interval_tick(timetable: Timetable, when: dt.datetime, forward: bool) -> dt.datetime | None:
    """The tick of a cron or timedelta schedule one step after (`forward`) or before
    `when`, as Airflow 2's deprecated ``DAG.following_schedule``/``previous_schedule``
    give it; None for other schedules."""
    if not isinstance(timetable, _IntervalTimetable):
        return None
    return timetable._next(to_utc(when)) if forward else timetable._prev(to_utc(when))


_croniters = threading.local()


def _parsed(expression: str) -> croniter:
    """One croniter per expression and thread, moved to each step's start: parsing the
    expression costs more than the step (a long backfill takes thousands of steps)."""
    cache: dict[str, croniter] = _croniters.__dict__.setdefault("by_expression", {})
    it = cache.get(expression)
    if it is None:
        it = cache[expression] = croniter(expression)
    return it


@functools.lru_cache(maxsize=1024)
def _cron_fields(expression: str) -> tuple[tuple[Any, ...], ...] | None:
    """The expression's expanded fields, or None if it is not a valid cron expression:
    parsed once per process, since parsing costs more than the rest of making a
    timetable, and DAGs share a few expressions."""
    try:
        return tuple(tuple(field) for field in croniter(expression).expanded)
    except (ValueError, KeyError, TypeError):
        return None


class CronTimetable(_IntervalTimetable):
    """A cron expression (or preset) evaluated in the DAG's timezone."""

    def __init__(self, expression: str, timezone: str | dt.tzinfo = UTC) -> None:
        self.expression = PRESETS.get(expression, expression)
        self.summary = expression
        self.timezone = _zone(timezone)
        fields = _cron_fields(self.expression)
        if fields is None:
            raise InvalidScheduleError(f"invalid cron expression {expression!r}")
        # Schedules firing at least hourly step in absolute time across DST (see module doc).
        self._every_hour = fields[1] == ("*",)

    def _step(self, current: dt.datetime, forward: bool) -> dt.datetime:
        local = current.astimezone(self.timezone)
        naive = local.replace(tzinfo=None)
        it = _parsed(self.expression)
        tick = it.get_next(dt.datetime, naive) if forward else it.get_prev(dt.datetime, naive)
        if self._every_hour:
            return to_utc(current) + (tick - naive)
        return to_utc(_localize(tick, self.timezone))

    def _next(self, current: dt.datetime) -> dt.datetime:
        return self._step(current, forward=True)

    def _prev(self, current: dt.datetime) -> dt.datetime:
        return self._step(current, forward=False)

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        following = self._next(current)
        return following if self._prev(following) != current else current

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        previous = self._prev(current)
        return previous if self._next(previous) != current else current

    def _skip_to_latest(self, earliest: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        last_start = self._prev(now)
        if self._next(last_start) == now:  # now is a tick: the interval ending now is due
            latest = last_start
        else:
            latest = self._prev(last_start)
        if earliest is None:
            return latest
        return max(latest, self._align_to_next(earliest))


class DeltaTimetable(_IntervalTimetable):
    """A fixed period (`timedelta`, or dateutil's `relativedelta`) from start_date."""

    def __init__(self, delta: Any) -> None:
        probe = dt.datetime(2000, 1, 1, tzinfo=UTC)
        if probe + delta <= probe:
            raise InvalidScheduleError(f"schedule period must be positive, got {delta!r}")
        self.delta = delta
        self.summary = str(delta)

    def _next(self, current: dt.datetime) -> dt.datetime:
        return to_utc(current + self.delta)

    def _prev(self, current: dt.datetime) -> dt.datetime:
        return to_utc(current - self.delta)

    def _skip_to_latest(self, earliest: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        if isinstance(self.delta, dt.timedelta):
            seconds = self.delta.total_seconds()
        else:  # relativedelta: Airflow's fixed approximation of months and years
            d = self.delta
            seconds = (
                d.years * 365 * 86400 + d.months * 30 * 86400 + d.days * 86400
                + d.hours * 3600 + d.minutes * 60 + d.seconds
            )
        stamp = now.timestamp()
        rounded = dt.datetime.fromtimestamp(stamp - stamp % seconds, tz=UTC)
        latest = self._prev(rounded)
        return latest if earliest is None else max(latest, earliest)


def _zone(timezone: str | dt.tzinfo) -> dt.tzinfo:
    if isinstance(timezone, str):
        from zoneinfo import ZoneInfo

        return UTC if timezone.upper() == "UTC" else ZoneInfo(timezone)
    return timezone


class _TriggerTimetable(Timetable):
    """Shared logic of the trigger timetables: one run *at* each tick.

    With catchup, the tick after the last run's (or the first at/after ``start_date``);
    without, the latest of: the last tick at or before ``now``, the tick after the last
    run's, the first tick at/after ``start_date``. The data interval is
    ``[tick - interval, tick]`` and the run is created at the tick.
    """

    interval: Any = dt.timedelta()

    @abstractmethod
    def _next(self, current: dt.datetime) -> dt.datetime:
        """The first tick after `current`."""

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        return current

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        return current

    def next_dagrun_info(
        self,
        last: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        if restriction.catchup:
            if last is not None:
                tick = self._next(last.end)
            elif restriction.earliest is None:
                return None  # nowhere to catch up from
            else:
                tick = self._align_to_next(restriction.earliest)
        else:
            candidates = [self._align_to_prev(to_utc(now))]
            if last is not None:
                candidates.append(self._next(last.end))
            if restriction.earliest is not None:
                candidates.append(self._align_to_next(restriction.earliest))
            tick = max(candidates)
        if restriction.latest is not None and tick > restriction.latest:
            return None
        return DagRunInfo.interval(to_utc(tick - self.interval), tick)

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        """A manual run at `run_after` covers ``[run_after - interval, run_after]``."""
        run_after = to_utc(run_after)
        return DataInterval(to_utc(run_after - self.interval), run_after)


class CronTriggerTimetable(_TriggerTimetable):
    """Runs at each tick of a cron expression in `timezone` (Airflow's trigger timetable)."""

    def __init__(self, cron: str, *, timezone: str | dt.tzinfo = UTC, interval: Any = dt.timedelta()) -> None:
        self._cron = CronTimetable(cron, _zone(timezone))
        self.timezone = self._cron.timezone
        self.interval = interval
        self.summary = self._cron.expression

    def _next(self, current: dt.datetime) -> dt.datetime:
        return self._cron._next(current)

    def _align_to_next(self, current: dt.datetime) -> dt.datetime:
        return self._cron._align_to_next(current)

    def _align_to_prev(self, current: dt.datetime) -> dt.datetime:
        return self._cron._align_to_prev(current)


class DeltaTriggerTimetable(_TriggerTimetable):
    """Runs every `delta` from ``start_date`` (Airflow 3); without catchup, from ``now``."""

    def __init__(self, delta: Any, *, interval: Any = dt.timedelta()) -> None:
        self._period = DeltaTimetable(delta)
        self.delta = delta
        self.interval = interval
        self.summary = str(delta)

    def _next(self, current: dt.datetime) -> dt.datetime:
        return self._period._next(current)


class MultipleCronTriggerTimetable(Timetable):
    """Runs at the ticks of several cron expressions (Airflow 3): the earliest next one wins."""

    def __init__(self, *crons: str, timezone: str | dt.tzinfo = UTC, interval: Any = dt.timedelta()) -> None:
        if not crons:
            raise InvalidScheduleError("MultipleCronTriggerTimetable needs at least one cron expression")
        self.timetables = [CronTriggerTimetable(c, timezone=timezone, interval=interval) for c in crons]
        self.summary = ", ".join(t.summary for t in self.timetables)

    def next_dagrun_info(
        self,
        last: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        infos = [t.next_dagrun_info(last, restriction, now) for t in self.timetables]
        found = [info for info in infos if info is not None]
        return min(found, key=lambda info: info.run_after) if found else None

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        return self.timetables[0].infer_manual_data_interval(run_after)


class EventsTimetable(Timetable):
    """Runs at each of a list of instants (Airflow's ``EventsTimetable``).

    Duplicates are ignored. Without catchup, events before ``now`` are skipped. A
    manual run covers the instant it is triggered for, or, with
    ``restrict_to_events=True``, the latest event at or before it (the first event if
    all are later).
    """

    def __init__(
        self,
        event_dates: Iterable[dt.datetime],
        restrict_to_events: bool = False,
        presorted: bool = False,
        description: str | None = None,
    ) -> None:
        events = sorted({to_utc(e) for e in event_dates})
        self.event_dates = events
        self.restrict_to_events = restrict_to_events
        if description is not None:
            self.summary = self.description = description
        else:
            self.summary = f"{len(events)} events"
            self.description = (f"{len(events)} events between {events[0]} and {events[-1]}"
                                if events else "No events")

    def next_dagrun_info(
        self,
        last: DataInterval | None,
        restriction: TimeRestriction,
        now: dt.datetime,
    ) -> DagRunInfo | None:
        earliest = restriction.earliest
        if not restriction.catchup and (earliest is None or to_utc(now) > earliest):
            earliest = to_utc(now)
        for event in self.event_dates:
            if earliest is not None and event < earliest:
                continue
            if last is not None and event <= last.end:
                continue
            if restriction.latest is not None and event > restriction.latest:
                return None
            return DagRunInfo.exact(event)
        return None

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        run_after = to_utc(run_after)
        if not self.restrict_to_events or not self.event_dates:
            return DataInterval.exact(run_after)
        past = [e for e in self.event_dates if e <= run_after]
        return DataInterval.exact(past[-1] if past else self.event_dates[0])


def timetable_for(schedule: Any, timezone: dt.tzinfo = UTC) -> Timetable:
    """The timetable of a DAG's `schedule` argument; an unusable value is an error."""
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, str):
        if schedule == "@once":
            return OnceTimetable()
        if schedule == "@continuous":
            return ContinuousTimetable()
        return CronTimetable(schedule, timezone)
    if isinstance(schedule, dt.timedelta) or type(schedule).__name__ == "relativedelta":
        return DeltaTimetable(schedule)
    from miniflow.datasets import DatasetTriggeredTimetable, dataset_condition

    condition = dataset_condition(schedule)
    if condition is not None:
        return DatasetTriggeredTimetable(condition)
    raise InvalidScheduleError(
        f"schedule {schedule!r} is not a cron expression, a preset, a timedelta, datasets or None"
    )


def zone_to_json(zone: dt.tzinfo) -> str | None:
    """A timezone as text that `zone_from_json` reads back to the same rules: an IANA
    name, or ``UTC`` with a fixed offset (``UTC+02:00``); None for a zone it cannot
    name (a dateutil zone, a named fixed offset with seconds)."""
    if isinstance(zone, dt.timezone):
        offset = zone.utcoffset(None)
        if offset % dt.timedelta(minutes=1):
            return None
        return "UTC" if not offset else dt.timezone(offset).tzname(None)
    name = getattr(zone, "key", None) or getattr(zone, "name", None)
    if not isinstance(name, str):
        return None
    try:
        _zone(name)
    except (ValueError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None
    return name


_OFFSET = re.compile(r"UTC([+-])(\d\d):(\d\d)")


def zone_from_json(value: str) -> dt.tzinfo:
    if value == "UTC":
        return UTC
    if match := _OFFSET.fullmatch(value):
        sign = 1 if match[1] == "+" else -1
        return dt.timezone(sign * dt.timedelta(hours=int(match[2]), minutes=int(match[3])))
    return _zone(value)


_RELATIVE = ("years", "months", "days", "leapdays", "hours", "minutes", "seconds", "microseconds")
_ABSOLUTE = ("year", "month", "day", "hour", "minute", "second", "microsecond")


def _delta_to_json(delta: Any) -> dict[str, Any]:
    if isinstance(delta, dt.timedelta):
        return {"seconds": delta.total_seconds()}
    found: dict[str, Any] = {f: getattr(delta, f) for f in _RELATIVE if getattr(delta, f)}
    found.update({f: getattr(delta, f) for f in _ABSOLUTE if getattr(delta, f) is not None})  # hour=0 counts
    if delta.weekday is not None:
        found["weekday"] = [delta.weekday.weekday, delta.weekday.n]
    return {"relativedelta": found}


def _delta_from_json(data: dict[str, Any]) -> Any:
    if "seconds" in data:
        return dt.timedelta(seconds=data["seconds"])
    from dateutil.relativedelta import relativedelta, weekday

    fields = dict(data["relativedelta"])
    if "weekday" in fields:
        fields["weekday"] = weekday(*fields["weekday"])
    return relativedelta(**fields)


def timetable_to_json(timetable: Timetable) -> dict[str, Any]:
    """A JSON form of the timetable, from which processes that do not import DAG files
    (the scheduler, the webserver) rebuild it. A timetable class of the DAG's own
    (Airflow's custom timetables) becomes ``"other"``: only its file can compute it."""
    from miniflow.datasets import DatasetOrTimeSchedule, DatasetTriggeredTimetable, condition_to_json

    if type(timetable).__module__ not in (__name__, "miniflow.datasets"):  # a class of the DAG's own
        return _in_file(timetable)
    zone = getattr(timetable, "timezone", UTC)
    if zone_to_json(zone) is None:  # rules only the file's own zone object knows
        return _in_file(timetable)
    if isinstance(timetable, CronTimetable):
        return {"type": "cron", "expression": timetable.summary, "timezone": zone_to_json(timetable.timezone)}
    if isinstance(timetable, DeltaTimetable):
        return {"type": "delta", **_delta_to_json(timetable.delta)}
    if isinstance(timetable, OnceTimetable):
        return {"type": "once"}
    if isinstance(timetable, ContinuousTimetable):
        return {"type": "continuous"}
    if isinstance(timetable, NullTimetable):
        return {"type": "none"}
    if isinstance(timetable, CronTriggerTimetable):
        return {"type": "cron_trigger", "crons": [timetable.summary], "timezone": zone_to_json(timetable.timezone),
                "interval": _delta_to_json(timetable.interval)}
    if isinstance(timetable, MultipleCronTriggerTimetable):
        first = timetable.timetables[0]
        if zone_to_json(first.timezone) is None:
            return _in_file(timetable)
        return {"type": "cron_trigger", "crons": [t.summary for t in timetable.timetables],
                "timezone": zone_to_json(first.timezone), "interval": _delta_to_json(first.interval)}
    if isinstance(timetable, DeltaTriggerTimetable):
        return {"type": "delta_trigger", "delta": _delta_to_json(timetable.delta),
                "interval": _delta_to_json(timetable.interval)}
    if isinstance(timetable, EventsTimetable):
        return {"type": "events", "events": [e.isoformat() for e in timetable.event_dates],
                "restrict_to_events": timetable.restrict_to_events, "description": timetable.description,
                "summary": timetable.summary}
    if isinstance(timetable, DatasetOrTimeSchedule):
        return {"type": "datasets", "condition": condition_to_json(timetable.dataset_condition),
                "timetable": timetable_to_json(timetable.timetable)}
    if isinstance(timetable, DatasetTriggeredTimetable):
        return {"type": "datasets", "condition": condition_to_json(timetable.dataset_condition)}
    return _in_file(timetable)


def _in_file(timetable: Timetable) -> dict[str, Any]:
    return {"type": "other", "summary": timetable.summary, "periodic": timetable.periodic,
            "can_be_scheduled": timetable.can_be_scheduled}


def timetable_from_json(data: dict[str, Any], other: Callable[[dict[str, Any]], Timetable] | None = None) -> Timetable:
    """The timetable `timetable_to_json` describes. ``"other"`` (a timetable only its
    DAG file can compute), wherever it is, becomes `other(data)`: the scheduler asks
    the file (see `miniflow.serialized_dag`); without `other` (the webserver), and
    for anything unknown, a `NullTimetable`."""
    kind = data.get("type")
    if kind == "cron":
        return CronTimetable(data["expression"], zone_from_json(data["timezone"]))
    if kind == "delta":
        return DeltaTimetable(_delta_from_json(data))
    if kind == "once":
        return OnceTimetable()
    if kind == "continuous":
        return ContinuousTimetable()
    if kind == "cron_trigger":
        zone, interval = zone_from_json(data["timezone"]), _delta_from_json(data["interval"])
        if len(data["crons"]) == 1:
            return CronTriggerTimetable(data["crons"][0], timezone=zone, interval=interval)
        return MultipleCronTriggerTimetable(*data["crons"], timezone=zone, interval=interval)
    if kind == "delta_trigger":
        return DeltaTriggerTimetable(_delta_from_json(data["delta"]), interval=_delta_from_json(data["interval"]))
    if kind == "events":
        events = EventsTimetable([dt.datetime.fromisoformat(e) for e in data["events"]],
                                 restrict_to_events=data["restrict_to_events"])
        events.summary, events.description = data["summary"], data["description"]
        return events
    if kind == "datasets":
        from miniflow.datasets import DatasetOrTimeSchedule, DatasetTriggeredTimetable, condition_from_json

        condition = condition_from_json(data["condition"])
        if "timetable" in data:
            return DatasetOrTimeSchedule(timetable=timetable_from_json(data["timetable"], other), datasets=condition)
        return DatasetTriggeredTimetable(condition)
    if kind == "other" and other is not None:
        return other(data)
    return NullTimetable()


def due_runs(
    timetable: Timetable,
    restriction: TimeRestriction,
    now: dt.datetime,
    last: DataInterval | None = None,
    limit: int | None = None,
) -> list[DagRunInfo]:
    """The runs a scheduler creates at `now`, after `last`, oldest first."""
    now = to_utc(now)
    runs: list[DagRunInfo] = []
    while limit is None or len(runs) < limit:
        info = timetable.next_dagrun_info(last, restriction, now)
        if info is None or info.run_after > now:
            break
        runs.append(info)
        last = info.data_interval
    return runs


def upcoming_runs(
    timetable: Timetable,
    restriction: TimeRestriction,
    now: dt.datetime,
    count: int,
    last: DataInterval | None = None,
) -> list[DagRunInfo]:
    """The next `count` runs after `last`, due or not (`dags next-execution`)."""
    runs: list[DagRunInfo] = []
    while len(runs) < count:
        info = timetable.next_dagrun_info(last, restriction, now)
        if info is None or (last is not None and info.data_interval == last):
            break
        runs.append(info)
        last = info.data_interval
    return runs
