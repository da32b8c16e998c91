"""The queries of SLA checks (see `miniflow.sla`): the latest finished instance of each
task with an SLA, the misses recorded and not yet reported, and what blocks them.

A mixin of `miniflow.db.store.Store`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, select, update

from miniflow.db.records import BlockingTIRecord, LastDoneRecord, SlaMissRecord
from miniflow.db.tables import DAG_T, RUN_T, SLA_T, TI_T, columns, state_filter, to_records
from miniflow.state import TaskInstanceState

__all__ = ["SlaQueries"]


_MISSES = select(*columns(SlaMissRecord, SLA_T))


class SlaQueries:
    read: Any
    write: Any

    def unpaused(self, dag_ids: Iterable[str]) -> set[str]:
        """Those of these DAGs that are active and not paused."""
        with self.read() as conn:
            return set(conn.execute(select(DAG_T.c.dag_id).where(
                DAG_T.c.dag_id.in_(list(dag_ids)), DAG_T.c.is_paused.is_(False), DAG_T.c.is_active.is_(True),
            )).scalars())

    def latest_done_runs(self, dag_id: str, task_ids: Sequence[str]) -> dict[str, LastDoneRecord]:
        """For each task, the run (its logical date and data interval) of its latest
        success or skip, by logical date."""
        done = state_filter(TI_T.c.state, [TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED])
        latest = (select(TI_T.c.task_id, func.max(RUN_T.c.logical_date).label("logical_date"))
                  .join(RUN_T, and_(RUN_T.c.dag_id == TI_T.c.dag_id, RUN_T.c.run_id == TI_T.c.run_id))
                  .where(TI_T.c.dag_id == dag_id, TI_T.c.task_id.in_(list(task_ids)), done)
                  .group_by(TI_T.c.task_id).subquery())
        query = (select(*columns(LastDoneRecord, latest, RUN_T))
                 .join(RUN_T, and_(RUN_T.c.dag_id == dag_id, RUN_T.c.logical_date == latest.c.logical_date)))
        with self.read() as conn:
            return {r.task_id: r for r in to_records(LastDoneRecord, conn.execute(query))}

    def sla_miss_keys(self, dag_id: str) -> set[tuple[str, dt.datetime]]:
        """(task_id, execution_date) of the misses recorded for a DAG."""
        with self.read() as conn:
            return {(r.task_id, r.execution_date) for r in conn.execute(
                select(SLA_T.c.task_id, SLA_T.c.execution_date).where(SLA_T.c.dag_id == dag_id))}

    def add_sla_misses(self, dag_id: str, misses: Iterable[tuple[str, dt.datetime]], now: dt.datetime) -> None:
        rows = [dict(dag_id=dag_id, task_id=t, execution_date=d, timestamp=now) for t, d in misses]
        if rows:
            with self.write() as conn:
                conn.execute(insert(SLA_T), rows)

    def unreported_sla_misses(self, dag_id: str) -> list[SlaMissRecord]:
        with self.read() as conn:
            return to_records(SlaMissRecord, conn.execute(_MISSES.where(
                SLA_T.c.dag_id == dag_id, SLA_T.c.notification_sent.is_(False),
            ).order_by(SLA_T.c.execution_date, SLA_T.c.task_id)))

    def unfinished_tis_at(self, dag_id: str, logical_dates: Sequence[dt.datetime]) -> list[BlockingTIRecord]:
        """Task instances in a state other than success (as in Airflow, not those with no
        state yet) of the runs at these logical dates: what blocks the tasks that missed
        their SLA there."""
        with self.read() as conn:
            return to_records(BlockingTIRecord, conn.execute(
                select(*columns(BlockingTIRecord, TI_T, RUN_T))
                .join(RUN_T, and_(RUN_T.c.dag_id == TI_T.c.dag_id, RUN_T.c.run_id == TI_T.c.run_id))
                .where(TI_T.c.dag_id == dag_id, RUN_T.c.logical_date.in_(list(logical_dates)),
                       TI_T.c.state != str(TaskInstanceState.SUCCESS))
                .order_by(RUN_T.c.logical_date, TI_T.c.task_id, TI_T.c.map_index)))

    def mark_sla_misses_reported(self, dag_id: str, keys: Iterable[tuple[str, dt.datetime]],
                                 email_sent: bool) -> None:
        with self.write() as conn:
            for task_id, when in keys:
                conn.execute(update(SLA_T).where(
                    SLA_T.c.dag_id == dag_id, SLA_T.c.task_id == task_id, SLA_T.c.execution_date == when,
                ).values(notification_sent=True, email_sent=email_sent))

    def sla_misses(self, limit: int = 500, dag_id: str | None = None) -> list[SlaMissRecord]:
        """The latest recorded misses, newest first (the UI's list)."""
        query = _MISSES.order_by(SLA_T.c.timestamp.desc(), SLA_T.c.dag_id, SLA_T.c.task_id).limit(limit)
        if dag_id is not None:
            query = query.where(SLA_T.c.dag_id == dag_id)
        with self.read() as conn:
            return to_records(SlaMissRecord, conn.execute(query))
