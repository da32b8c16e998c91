"""`WeekDay`: the days of the week as ISO numbers (Monday = 1 ... Sunday = 7), as in
Airflow's ``airflow.utils.weekday``; used by `DayOfWeekSensor` and
`BranchDayOfWeekOperator`."""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = ["WeekDay"]


@enum.unique
class WeekDay(enum.IntEnum):
    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """``"friday"`` -> ``WeekDay.FRIDAY``; an unknown name is an error naming it."""
        name = week_day_str.upper()
        if name not in cls.__members__:
            raise AttributeError(f'Invalid Week Day passed: "{week_day_str}"')
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        return day if isinstance(day, WeekDay) else cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str] | Iterable[WeekDay]) -> set[int]:
        """The ISO numbers of one day or several (a name, a `WeekDay`, or an iterable of either)."""
        if isinstance(week_day, (str, WeekDay)):
            return {cls.convert(week_day)}
        if not isinstance(week_day, Iterable):
            raise TypeError(
                f"Unsupported Type for week_day parameter: {type(week_day)}. "
                "Input should be a str, a WeekDay, or an iterable of them"
            )
        return {cls.convert(day) for day in week_day}
