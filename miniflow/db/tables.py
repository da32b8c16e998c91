"""Core handles of the metadata tables, and small helpers every query module shares."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, TypeVar

from sqlalchemy import FromClause, or_
from sqlalchemy.sql.elements import KeyedColumnElement

from miniflow.db import models as m
from miniflow.db.records import DagRecord, RunRecord, TIRecord
from miniflow.state import DagRunState, TaskInstanceState

__all__ = [
    "DAG_T", "SER_T", "RUN_T", "TI_T", "HIST_T", "XCOM_T", "ERR_T", "POOL_T", "VAR_T",
    "USER_T", "LOG_T", "JOB_T", "DS_T", "DS_EVENT_T", "DS_REF_T", "DS_ALIAS_T", "DS_QUEUE_T",
    "RUN_DS_EVENT_T", "CONN_T", "SLA_T", "SESSION_T", "DAG_C", "RUN_C", "TI_C", "utcnow", "state_filter",
    "columns", "to_record", "to_records",
]

R = TypeVar("R")

DAG_T = m.dag_table
SER_T = m.serialized_dag_table
RUN_T = m.dag_run_table
TI_T = m.task_instance_table
HIST_T = m.task_instance_history_table
XCOM_T = m.xcom_table
ERR_T = m.import_error_table
POOL_T = m.slot_pool_table
VAR_T = m.variable_table
USER_T = m.ab_user_table
LOG_T = m.log_table
JOB_T = m.job_table
DS_T = m.dataset_table
DS_EVENT_T = m.dataset_event_table
DS_REF_T = m.dataset_reference_table
DS_ALIAS_T = m.dataset_alias_table
DS_QUEUE_T = m.dataset_dag_run_queue_table
RUN_DS_EVENT_T = m.dagrun_dataset_event_table
CONN_T = m.connection_table
SLA_T = m.sla_miss_table
SESSION_T = m.web_session_table



def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def state_filter(column: Any, states: Iterable[TaskInstanceState | DagRunState | str | None]) -> Any:
    """``column IN (...)``, with None meaning SQL NULL (a task instance with no state).
    Written as equalities: SQLAlchemy renders an IN of values again at every execution,
    and the statements that move states run for every try."""
    states = list(states)
    clauses = [column == str(s) for s in states if s is not None]
    if None in states:
        clauses.append(column.is_(None))
    return or_(*clauses)


def columns(record: type[Any], *tables: FromClause) -> list[KeyedColumnElement[Any]]:
    """The columns a query selects to build `record` (`miniflow.db.records`): each of
    its fields in order, taken from the first of `tables` that has it."""
    found = []
    for field in dataclasses.fields(record):
        column = next((t.c[field.name] for t in tables if field.name in t.c), None)
        if column is None:
            raise TypeError(f"{record.__name__}.{field.name} is a column of none of the tables its query reads")
        found.append(column)
    return found


def to_record(record: type[R], row: Any) -> R | None:
    """`row` (selected by `columns(record, ...)`) as a `record`; None stays None."""
    return None if row is None else record(*row)


def to_records(record: type[R], rows: Iterable[Any]) -> list[R]:
    return [record(*row) for row in rows]


# The columns of the whole-row records most queries read.
DAG_C = columns(DagRecord, DAG_T)
RUN_C = columns(RunRecord, RUN_T)
TI_C = columns(TIRecord, TI_T)
