"""LatestOnlyOperator: run what follows only in the latest scheduled interval."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from miniflow.operators.branch import BaseBranchOperator
from miniflow.timetables import DataInterval, TimeRestriction
from miniflow.utils.timezone import utcnow

__all__ = ["LatestOnlyOperator"]


class LatestOnlyOperator(BaseBranchOperator):
    """Skip the tasks directly downstream unless this run is the latest one: the next
    interval of the schedule (after this run's) must contain now. A run triggered from
    outside (``dag_run.external_trigger``) always proceeds, as in Airflow 2.10 -- which
    does not count ``dags test`` runs as external, so a test of a past date skips."""

    ui_color = "#e9ffdb"
    clock: Callable[[], dt.datetime] = staticmethod(utcnow)

    def choose_branch(self, context: dict[str, Any]) -> Iterable[str]:
        run = context["dag_run"]
        follow = sorted(context["task"].downstream_task_ids)
        if run.external_trigger:
            self.log.info("Externally triggered DAG run: allowing execution to proceed.")
            return follow
        start = run.data_interval_start or run.logical_date
        end = run.data_interval_end or run.logical_date
        nxt = context["dag"].timetable.next_dagrun_info(DataInterval(start, end), TimeRestriction(None, None, True),
                                                       self.clock())
        if nxt is None:
            self.log.info("Last scheduled execution: allowing execution to proceed.")
            return follow
        now = self.clock()
        left, right = nxt.data_interval.start, nxt.data_interval.end
        self.log.info("Checking latest only with left_window: %s right_window: %s now: %s", left, right, now)
        if not left < now <= right:
            self.log.info("Not latest execution, skipping downstream.")
            return []
        self.log.info("Latest, allowing execution to proceed.")
        return follow
