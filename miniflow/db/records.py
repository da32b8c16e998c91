"""What the store returns: frozen records, one per shape of row it reads.

A whole table row has the table's name (`RunRecord` is a ``dag_run`` row); a query
that reads only some columns, or joins two tables, has a record of its own, so a
caller can never reach for a column its query did not read. Records are plain data:
they hold no connection, and they are frozen (shallowly: a JSON column's dict or list
is the caller's to copy before changing it).

The field order of each record is the order its query selects its columns in
(`miniflow.db.tables.columns` builds that list from the record), which lets the store
build a record from a row positionally, the cheapest way there is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from miniflow.taskinstancekey import TaskInstanceKey

__all__ = [
    "DagRecord", "SerializedDagRecord", "StoredDagRecord", "RunRecord", "TIRecord", "TryRecord", "XComRecord",
    "ImportErrorRecord",
    "PoolRecord", "VariableRecord", "EventRecord", "UserRecord", "JobRecord", "DatasetEventRecord",
    "SlaMissRecord", "TIStateRecord", "QueuedTIRecord", "RunSummary", "RunProgress", "TISpan",
    "LastDoneRecord", "BlockingTIRecord",
]


@dataclass(frozen=True, slots=True)
class _Keyed:
    """The key columns a task instance's records (and its tries') start with."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int

    @property
    def key(self) -> TaskInstanceKey:
        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)


# --- whole rows ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DagRecord:
    """A DAG as the scheduler and the UI know it, without its structure."""

    dag_id: str
    fileloc: str
    owners: str
    description: str | None
    schedule: str | None
    timezone: str
    tags: list[str]
    owner_links: dict[str, str] | None
    is_paused: bool
    is_active: bool
    max_active_runs: int
    max_active_tasks: int
    last_parsed: dt.datetime | None
    next_dagrun: dt.datetime | None
    next_dagrun_data_interval_start: dt.datetime | None
    next_dagrun_data_interval_end: dt.datetime | None
    next_dagrun_create_after: dt.datetime | None


@dataclass(frozen=True, slots=True)
class SerializedDagRecord:
    """A DAG's structure as JSON (`miniflow.serialization.serialize_dag`) and its source."""

    dag_id: str
    fileloc: str
    data: dict[str, Any]
    dag_hash: str
    source_code: str | None
    last_updated: dt.datetime


@dataclass(frozen=True, slots=True)
class StoredDagRecord:
    """An active DAG's serialized form, as a starting scheduler reads it."""

    dag_id: str
    data: dict[str, Any]
    dag_hash: str


@dataclass(frozen=True, slots=True)
class RunRecord:
    id: int
    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    run_type: str
    state: str
    conf: dict[str, Any] | None
    external_trigger: bool
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    triggered_by: str | None


@dataclass(frozen=True, slots=True)
class TIRecord(_Keyed):
    """A task instance: one task (one map index of it) in one run, and its current try."""

    state: str | None
    try_number: int
    max_tries: int
    operator: str | None
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    queued_at: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None
    heartbeat: dt.datetime | None
    queued_by: str | None
    next_try_at: dt.datetime | None
    first_poke_at: dt.datetime | None
    poke_count: int
    rendered_fields: dict[str, Any] | None
    rendered_map_index: str | None
    updated_at: dt.datetime | None
    logical_date: dt.datetime | None  # its run's


@dataclass(frozen=True, slots=True)
class TryRecord(_Keyed):
    """One ended try of a task instance (``task_instance_history``)."""

    try_number: int
    state: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None


@dataclass(frozen=True, slots=True)
class XComRecord:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: str | None  # JSON text
    timestamp: dt.datetime


@dataclass(frozen=True, slots=True)
class ImportErrorRecord:
    id: int
    filename: str
    lineno: int | None
    message: str
    timestamp: dt.datetime


@dataclass(frozen=True, slots=True)
class PoolRecord:
    name: str
    slots: int
    description: str | None


@dataclass(frozen=True, slots=True)
class VariableRecord:
    key: str
    val: str | None
    description: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An entry of the audit log."""

    id: int
    dttm: dt.datetime
    event: str
    owner: str | None
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    extra: str | None


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    role: str
    email: str | None
    created_at: dt.datetime
    last_login: dt.datetime | None


@dataclass(frozen=True, slots=True)
class JobRecord:
    """A scheduler (or other long-running process) and its heartbeat."""

    id: int
    job_type: str
    hostname: str
    pid: int
    state: str
    start_date: dt.datetime
    end_date: dt.datetime | None
    latest_heartbeat: dt.datetime
    loop_seconds: float | None


@dataclass(frozen=True, slots=True)
class DatasetEventRecord:
    id: int
    uri: str
    extra: dict[str, Any]
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int
    source_alias: str | None
    timestamp: dt.datetime


@dataclass(frozen=True, slots=True)
class SlaMissRecord:
    task_id: str
    dag_id: str
    execution_date: dt.datetime
    email_sent: bool
    timestamp: dt.datetime | None
    description: str | None
    notification_sent: bool


# --- parts of rows, and joins ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TIStateRecord(_Keyed):
    """What a scheduling pass reads of a task instance: where it stands, and since when."""

    state: str | None
    try_number: int
    next_try_at: dt.datetime | None
    priority_weight: int
    updated_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class QueuedTIRecord(_Keyed):
    """A task instance the scheduler queued: what an executor needs to start its try."""

    pool: str
    pool_slots: int
    try_number: int
    queue: str
    poke_count: int


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A run as the DAG list and the calendar show it."""

    dag_id: str
    run_id: str
    state: str
    logical_date: dt.datetime


@dataclass(frozen=True, slots=True)
class RunProgress:
    """A run as a backfill follows it: its state, and how many of its task instances are done."""

    run_id: str
    state: str
    logical_date: dt.datetime
    finished_tis: int


@dataclass(frozen=True, slots=True)
class TISpan:
    """A task instance as the grid shows it: its state and when it ran."""

    run_id: str
    task_id: str
    map_index: int
    state: str | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None
    duration: float | None


@dataclass(frozen=True, slots=True)
class LastDoneRecord:
    """The run of a task's latest success or skip (an SLA check starts from it)."""

    task_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class BlockingTIRecord:
    """A task instance that had not succeeded when a task missed its SLA."""

    task_id: str
    map_index: int
    state: str | None
    logical_date: dt.datetime
