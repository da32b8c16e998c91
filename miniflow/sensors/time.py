"""Sensors that wait for a time: a delta after the data interval, a time of day, a
datetime, a day of the week.

Each reads ``now`` from its ``clock`` (UTC; tests replace it, so nothing really
waits). The ``...Async`` names are Airflow's deferrable versions; miniflow has no
triggerer, so they are the same sensors in ``mode="reschedule"``: the worker slot is
free while they wait, and the next poke is due at the target time itself rather than
a whole ``poke_interval`` later.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from miniflow.sensors.base import BaseSensorOperator
from miniflow.utils.timezone import utcnow
from miniflow.utils.weekday import WeekDay

__all__ = [
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "DayOfWeekSensor",
    "parse_datetime",
]


def parse_datetime(text: str, tz: dt.tzinfo = dt.timezone.utc) -> dt.datetime:
    """An ISO-8601 string (or anything pendulum parses) as an aware datetime; naive
    values are in `tz` (UTC, Airflow's default timezone)."""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        import pendulum

        value = pendulum.parse(text, tz=tz)  # type: ignore[assignment]
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


class _TimeSensor(BaseSensorOperator):
    """What the time sensors share: the clock, and polling no later than the target."""

    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    @abstractmethod
    def target(self, context: dict[str, Any]) -> dt.datetime:
        """The instant after which the sensor is done."""

    def poke(self, context: dict[str, Any]) -> bool:
        target = self.target(context)
        self.log.info("Checking if the time (%s) has come", target.isoformat())
        return self.clock() > target

    def _next_interval(self, pokes: int, context: dict[str, Any]) -> float:
        until = (self.target(context) - self.clock()).total_seconds()
        return max(1.0, min(super()._next_interval(pokes, context), until))


class _Deferrable(_TimeSensor):
    """Airflow's deferrable-only arguments, accepted; the sensor reschedules instead."""

    def __init__(self, *, end_from_trigger: bool = False, start_from_trigger: bool = False,
                 trigger_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)


class TimeDeltaSensor(_TimeSensor):
    """Wait until `delta` after the end of the run's data interval."""

    def __init__(self, *, delta: dt.timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def target(self, context: dict[str, Any]) -> dt.datetime:
        return context["data_interval_end"] + self.delta


class TimeSensor(_TimeSensor):
    """Wait until the time of day `target_time` (in the DAG's timezone) has passed."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_time = target_time

    def poke(self, context: dict[str, Any]) -> bool:
        self.log.info("Checking if the time (%s) has come", self.target_time)
        return self.clock().astimezone(self.dag.timezone).time().replace(tzinfo=None) > self.target_time

    def target(self, context: dict[str, Any]) -> dt.datetime:
        """Today's `target_time` in the DAG's timezone (only paces the pokes)."""
        today = self.clock().astimezone(self.dag.timezone).date()
        return dt.datetime.combine(today, self.target_time, self.dag.timezone)


class DateTimeSensor(_TimeSensor):
    """Wait until `target_time` (a datetime, or a templated string such as
    ``"{{ data_interval_end.replace(hour=11) }}"``); naive values are UTC."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: str | dt.datetime, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(target_time, dt.datetime):
            self.target_time = target_time.isoformat()
        elif isinstance(target_time, str):
            self.target_time = target_time
        else:
            raise TypeError(f"task {self.task_id!r}: target_time must be a str or a datetime, "
                            f"got {type(target_time).__name__}")

    def target(self, context: dict[str, Any]) -> dt.datetime:
        return parse_datetime(self.target_time)


class TimeDeltaSensorAsync(_Deferrable, TimeDeltaSensor):
    """`TimeDeltaSensor`, waiting in reschedule mode."""


class DateTimeSensorAsync(_Deferrable, DateTimeSensor):
    """`DateTimeSensor`, waiting in reschedule mode."""


class TimeSensorAsync(_Deferrable):
    """Wait until `target_time` on the day the sensor first pokes, in the DAG's timezone
    (Airflow fixes the day when the file is parsed, which is the same day in practice)."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_time = target_time

    def target(self, context: dict[str, Any]) -> dt.datetime:
        first_poke = context["ti"].sensor_started_at().astimezone(self.dag.timezone)
        return dt.datetime.combine(first_poke.date(), self.target_time, self.dag.timezone)

    def poke(self, context: dict[str, Any]) -> bool:
        target = self.target(context)
        self.log.info("Checking if the time (%s) has come", target.isoformat())
        return self.clock() >= target


class DayOfWeekSensor(BaseSensorOperator):
    """Wait until the day of the week (UTC) is one of `week_day`; with
    ``use_task_logical_date=True``, check the run's logical date instead (done at once,
    or never, which suits backfills)."""

    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay],
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def poke(self, context: dict[str, Any]) -> bool:
        day = context["logical_date"] if self.use_task_logical_date else self.clock()
        self.log.info("Poking until weekday is in %s; it is %s", self.week_day, WeekDay(day.isoweekday()).name)
        return day.isoweekday() in self._week_day_num
