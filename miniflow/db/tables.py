"""Core handles of the metadata tables, and small helpers every query module shares."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, TypeVar, cast

from sqlalchemy import FromClause, Table, or_
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

DAG_T = cast(Table, m.DagModel.__table__)
SER_T = cast(Table, m.SerializedDagModel.__table__)
RUN_T = cast(Table, m.DagRunModel.__table__)
TI_T = cast(Table, m.TaskInstanceModel.__table__)
HIST_T = cast(Table, m.TaskInstanceHistory.__table__)
XCOM_T = cast(Table, m.XComModel.__table__)
ERR_T = cast(Table, m.ImportErrorModel.__table__)
POOL_T = cast(Table, m.PoolModel.__table__)
VAR_T = cast(Table, m.VariableModel.__table__)
USER_T = cast(Table, m.UserModel.__table__)
LOG_T = cast(Table, m.EventLog.__table__)
JOB_T = cast(Table, m.JobModel.__table__)
DS_T = cast(Table, m.DatasetModel.__table__)
DS_EVENT_T = cast(Table, m.DatasetEventModel.__table__)
DS_REF_T = cast(Table, m.DatasetReferenceModel.__table__)
DS_ALIAS_T = cast(Table, m.DatasetAliasModel.__table__)
DS_QUEUE_T = cast(Table, m.DatasetQueueModel.__table__)
RUN_DS_EVENT_T = cast(Table, m.RunDatasetEventModel.__table__)
CONN_T = cast(Table, m.ConnectionModel.__table__)
SLA_T = cast(Table, m.SlaMissModel.__table__)
SESSION_T = cast(Table, m.WebSessionModel.__table__)



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
