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

DAG_T = m.DAG
SER_T = m.SERIALIZED_DAG
RUN_T = m.DAG_RUN
TI_T = m.TASK_INSTANCE
HIST_T = m.TASK_INSTANCE_HISTORY
XCOM_T = m.XCOM
ERR_T = m.IMPORT_ERROR
POOL_T = m.SLOT_POOL
VAR_T = m.VARIABLE
USER_T = m.AB_USER
LOG_T = m.LOG
JOB_T = m.JOB
DS_T = m.DATASET
DS_EVENT_T = m.DATASET_EVENT
DS_REF_T = m.DATASET_REFERENCE
DS_ALIAS_T = m.DATASET_ALIAS
DS_QUEUE_T = m.DATASET_DAG_RUN_QUEUE
RUN_DS_EVENT_T = m.DAGRUN_DATASET_EVENT
CONN_T = m.CONNECTION
SLA_T = m.SLA_MISS
SESSION_T = m.WEB_SESSION



def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def state_filter(column: Any, states: Iterable[TaskInstanceState | DagRunState | str | None]) -> Any:
    """``column IN (...)``, with None meaning SQL NULL (a task instance with no state)."""
    states = list(states)
    named = [str(s) for s in states if s is not None]
    clauses = [column.in_(named)] if named else []
    if None in states:
        clauses.append(column.is_(None))
    return or_(*clauses)


def columns(record: type[Any], *tables: FromClause) -> list[KeyedColumnElement[Any]]:
    """The columns a query selects to build `record` (`miniflow.db.records`): each of
    its fields in order, taken from the first of `tables` that has it."""
    found = []
    for field in dataclasses.fields(record):
        found.append(next(t.c[field.name] for t in tables if field.name in t.c))
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
