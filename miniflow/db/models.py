"""Tables of the metadata database, as SQLAlchemy 2.x typed models.

Times are stored as timezone-aware UTC (`UtcDateTime`). A task instance is one row per
(dag_id, run_id, task_id, map_index), holding its current try (map_index is -1 for a
task that is not mapped, 0..n-1 for the n instances of a mapped one); every finished try is also kept in
`task_instance_history`, so the UI can show all tries with their logs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base", "UtcDateTime", "DagModel", "SerializedDagModel", "DagRunModel", "TaskInstanceModel",
    "TaskInstanceHistory", "XComModel", "ImportErrorModel", "PoolModel", "VariableModel",
    "UserModel", "EventLog", "JobModel", "DatasetModel", "DatasetEventModel", "DatasetQueueModel",
    "DatasetAliasModel", "DatasetReferenceModel", "RunDatasetEventModel", "ConnectionModel", "SlaMissModel",
    "WebSessionModel",
]

ID_LEN = 250


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the metadata DB; use UTC")
        value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class DagModel(Base):
    """One row per DAG seen in the DAG folder: what the scheduler and UI need without parsing."""

    __tablename__ = "dag"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    owners: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str | None] = mapped_column(Text)
    schedule: Mapped[str | None] = mapped_column(String(250))
    timezone: Mapped[str] = mapped_column(String(100), default="UTC")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    owner_links: Mapped[dict[str, str] | None] = mapped_column(JSON)  # owner -> http(s) or mailto link
    is_paused: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=16)
    max_active_tasks: Mapped[int] = mapped_column(Integer, default=16)
    last_parsed: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The next run the scheduler will create: its data interval and when it is due.
    next_dagrun: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_data_interval_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    next_dagrun_create_after: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("idx_dag_next_dagrun_create_after", "is_paused", "next_dagrun_create_after"),)


class SerializedDagModel(Base):
    """The DAG's structure as JSON, so the webserver never imports DAG files."""

    __tablename__ = "serialized_dag"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    dag_hash: Mapped[str] = mapped_column(String(64))
    source_code: Mapped[str | None] = mapped_column(Text)
    last_updated: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DagRunModel(Base):
    __tablename__ = "dag_run"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    logical_date: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    data_interval_start: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    data_interval_end: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    run_type: Mapped[str] = mapped_column(String(50))  # scheduled | manual | backfill
    state: Mapped[str] = mapped_column(String(50))
    conf: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    external_trigger: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    triggered_by: Mapped[str | None] = mapped_column(String(250))

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", name="dag_run_dag_id_run_id_key"),
        UniqueConstraint("dag_id", "logical_date", name="dag_run_dag_id_logical_date_key"),
        Index("idx_dag_run_state", "state", "dag_id"),
        Index("idx_dag_run_dag_logical", "dag_id", "logical_date"),
        # Every DAG's runs by date, newest first (the Browse pages); a date range over them.
        Index("idx_dag_run_logical_date", "logical_date", "dag_id"),
    )


class TaskInstanceModel(Base):
    __tablename__ = "task_instance"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    state: Mapped[str | None] = mapped_column(String(20))
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    operator: Mapped[str | None] = mapped_column(String(100))
    pool: Mapped[str] = mapped_column(String(256), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    queue: Mapped[str] = mapped_column(String(256), default="default")
    priority_weight: Mapped[int] = mapped_column(Integer, default=1)
    queued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    queued_by: Mapped[str | None] = mapped_column(String(250))  # scheduler job that queued it
    next_try_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # retry or reschedule time
    first_poke_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # sensors in reschedule mode
    poke_count: Mapped[int] = mapped_column(Integer, default=0)
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rendered_map_index: Mapped[str | None] = mapped_column(String(250))  # map_index_template, rendered
    # Set on every insert and update, so the scheduler reads only what changed (see RunView).
    updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, default=_utcnow, onupdate=_utcnow)

    __table_args__ = (
        ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
        Index("idx_ti_state", "state"),
        Index("idx_ti_dag_state", "dag_id", "state"),
        Index("idx_ti_pool", "pool", "state", "priority_weight"),
        Index("idx_ti_updated_at", "updated_at"),
    )


class TaskInstanceHistory(Base):
    """One row per finished try."""

    __tablename__ = "task_instance_history"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    try_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str | None] = mapped_column(String(20))
    start_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    duration: Mapped[float | None] = mapped_column(Float)
    hostname: Mapped[str | None] = mapped_column(String(1000))
    pid: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    )


class XComModel(Base):
    __tablename__ = "xcom"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1, server_default="-1")
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    value: Mapped[str | None] = mapped_column(Text)  # JSON text
    timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    )


class ImportErrorModel(Base):
    __tablename__ = "import_error"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(Text)
    lineno: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class PoolModel(Base):
    __tablename__ = "slot_pool"
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)


class VariableModel(Base):
    __tablename__ = "variable"
    key: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    val: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class UserModel(Base):
    __tablename__ = "ab_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(256), unique=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    role: Mapped[str] = mapped_column(String(20))  # Admin | Op | Viewer
    email: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_login: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class EventLog(Base):
    """Who did what: pauses, triggers, clears, marks, logins."""

    __tablename__ = "log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dttm: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(60))
    owner: Mapped[str | None] = mapped_column(String(256))
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    extra: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("idx_log_dttm", "dttm"), Index("idx_log_dag", "dag_id", "dttm"))


class JobModel(Base):
    """A running daemon (scheduler, worker): its heartbeat tells the living from the dead."""

    __tablename__ = "job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(String(30))
    hostname: Mapped[str] = mapped_column(String(1000))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))  # running | stopped
    start_date: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end_date: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    latest_heartbeat: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    loop_seconds: Mapped[float | None] = mapped_column(Float)  # a scheduler's last pass, without its wait

    __table_args__ = (Index("idx_job_type_state", "job_type", "state", "latest_heartbeat"),)


# --- datasets (see miniflow.datasets) ---------------------------------------------------------


class DatasetModel(Base):
    """A dataset some DAG produces or consumes, by URI."""

    __tablename__ = "dataset"
    uri: Mapped[str] = mapped_column(String(3000), primary_key=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class DatasetEventModel(Base):
    """One update of a dataset: by a task's try, or from outside (API, CLI)."""

    __tablename__ = "dataset_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(3000))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LEN))
    source_map_index: Mapped[int] = mapped_column(Integer, default=-1, server_default="-1")
    source_alias: Mapped[str | None] = mapped_column(String(3000))
    timestamp: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("idx_dataset_event_uri", "uri", "timestamp"),)


class DatasetReferenceModel(Base):
    """Which DAG is scheduled on which dataset URI or alias name (`kind`)."""

    __tablename__ = "dataset_reference"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # uri | alias
    name: Mapped[str] = mapped_column(String(3000), primary_key=True)


class DatasetAliasModel(Base):
    """The datasets an alias has resolved to, as tasks added them at run time."""

    __tablename__ = "dataset_alias"
    name: Mapped[str] = mapped_column(String(3000), primary_key=True)
    uri: Mapped[str] = mapped_column(String(3000), primary_key=True)


class DatasetQueueModel(Base):
    """A dataset update a consumer DAG has not run for yet."""

    __tablename__ = "dataset_dag_run_queue"
    uri: Mapped[str] = mapped_column(String(3000), primary_key=True)
    target_dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class RunDatasetEventModel(Base):
    """The events that triggered a run (its ``triggering_dataset_events``)."""

    __tablename__ = "dagrun_dataset_event"
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)

    __table_args__ = (
        ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    )


class WebSessionModel(Base):
    """One login to the UI. The session cookie only names it, so logging out (the row
    goes) or changing the password (all the user's rows go) ends it, even for a copy of
    the cookie."""

    __tablename__ = "web_session"
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("idx_web_session_user", "username"),)


class SlaMissModel(Base):
    """A task that had not succeeded `sla` after its run was due (Airflow 2's SLA misses);
    kept so each miss is reported once."""

    __tablename__ = "sla_miss"
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    execution_date: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    email_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    timestamp: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    description: Mapped[str | None] = mapped_column(Text)
    notification_sent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    __table_args__ = (Index("idx_sla_miss_dag", "dag_id"),)


class ConnectionModel(Base):
    """A connection stored in the DB; `password` and `extra` are Fernet tokens
    (see miniflow.secrets)."""

    __tablename__ = "connection"
    conn_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(500))
    schema: Mapped[str | None] = mapped_column(String(500))
    login: Mapped[str | None] = mapped_column(Text)
    password: Mapped[str | None] = mapped_column(Text)
    port: Mapped[int | None] = mapped_column(Integer)
    extra: Mapped[str | None] = mapped_column(Text)
