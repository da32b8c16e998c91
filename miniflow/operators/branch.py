"""Branching on a condition: `BaseBranchOperator`, and the branches on the date and
the day of the week.

A branch operator's `choose_branch` returns the task id(s) to follow; the other direct
downstream tasks are skipped (see `miniflow.operators.skip`). The date and weekday
branches compare against ``now`` (read from the operator's ``clock``, which tests
replace) or, with ``use_task_logical_date=True``, against the run's logical date,
which makes backfills choose as the original runs would have.
"""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException
from miniflow.operators.skip import SkipMixin
from miniflow.utils.timezone import utcnow
from miniflow.utils.weekday import WeekDay

__all__ = ["BaseBranchOperator", "BranchDateTimeOperator", "BranchDayOfWeekOperator", "target_times_as_dates"]


class BaseBranchOperator(BaseOperator, SkipMixin):
    """Subclasses implement `choose_branch(context)`; the rest of the direct paths are skipped."""

    @abstractmethod
    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str] | None:
        """The task id(s) to follow."""

    def execute(self, context: dict[str, Any]) -> Any:
        branch = self.choose_branch(context)
        self.skip_all_except(context["ti"], branch)
        return branch


def _aware(value: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=tz)


def target_times_as_dates(
    base: dt.datetime, lower: dt.datetime | dt.time | None, upper: dt.datetime | dt.time | None,
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Turn times of day into datetimes on `base`'s date; a window whose upper time is
    before its lower one (22:00-02:00) ends the next day."""
    if isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        return lower, upper
    if isinstance(lower, dt.time):
        lower = dt.datetime.combine(base, lower)
    if isinstance(upper, dt.time):
        upper = dt.datetime.combine(base, upper)
    if lower is not None and upper is not None and upper < lower:
        upper += dt.timedelta(days=1)
    return lower, upper


class BranchDateTimeOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` when now lies within ``[target_lower,
    target_upper]`` (either bound may be None), else ``follow_task_ids_if_false``.

    Times of day are taken on now's UTC date and read in the DAG's timezone, as
    Airflow does; naive datetimes are in the DAG's timezone too.
    """

    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: dt.datetime | dt.time | None,
        target_upper: dt.datetime | dt.time | None,
        use_task_logical_date: bool = False,
        use_task_execution_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise AirflowException(
                f"task {self.task_id!r}: both target_upper and target_lower are None; give at least one "
                "to compare the current datetime with"
            )
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.use_task_logical_date = use_task_logical_date or use_task_execution_date

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str]:
        now = context["logical_date"] if self.use_task_logical_date else self.clock()
        lower, upper = target_times_as_dates(now, self.target_lower, self.target_upper)
        lower, upper = _aware(lower, self.dag.timezone), _aware(upper, self.dag.timezone)
        if upper is not None and upper < now:
            return self.follow_task_ids_if_false
        if lower is not None and lower > now:
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follow ``follow_task_ids_if_true`` on the given day(s) of the week: today's in the
    DAG's timezone, or the logical date's with ``use_task_logical_date=True``."""

    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | Iterable[str] | WeekDay | Iterable[WeekDay],
        use_task_logical_date: bool = False,
        use_task_execution_day: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date or use_task_execution_day
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: dict[str, Any]) -> str | Iterable[str]:
        if self.use_task_logical_date:
            day = context["logical_date"]
        else:
            day = self.clock().astimezone(self.dag.timezone)
        if day.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false
