"""Tables of the metadata database, as SQLAlchemy Core tables (the ORM is never needed,
and importing it would cost every command a tenth of a second).

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
    Column,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)

__all__ = [
    "metadata", "UtcDateTime", "dag_table", "serialized_dag_table", "dag_run_table", "task_instance_table",
    "task_instance_history_table", "xcom_table", "import_error_table", "slot_pool_table", "variable_table",
    "ab_user_table", "log_table", "job_table", "dataset_table", "dataset_event_table", "dataset_reference_table",
    "dataset_alias_table", "dataset_dag_run_queue_table", "dagrun_dataset_event_table", "web_session_table",
    "sla_miss_table", "connection_table",
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


metadata = MetaData()


# One row per DAG seen in the DAG folder: what the scheduler and UI need without
# parsing.
dag_table = Table(
    "dag", metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("fileloc", Text, nullable=False),
    Column("owners", String(500), default="", nullable=False),
    Column("description", Text),
    Column("schedule", String(250)),
    Column("timezone", String(100), default="UTC", nullable=False),
    Column("tags", JSON, default=list, nullable=False),
    Column("owner_links", JSON),  # owner -> http(s) or mailto link
    Column("is_paused", Boolean, default=True, nullable=False),
    Column("is_active", Boolean, default=True, nullable=False),
    Column("max_active_runs", Integer, default=16, nullable=False),
    Column("max_active_tasks", Integer, default=16, nullable=False),
    Column("last_parsed", UtcDateTime),
    # The next run the scheduler will create: its data interval and when it is due.
    Column("next_dagrun", UtcDateTime),
    Column("next_dagrun_data_interval_start", UtcDateTime),
    Column("next_dagrun_data_interval_end", UtcDateTime),
    Column("next_dagrun_create_after", UtcDateTime),
    Index("idx_dag_next_dagrun_create_after", "is_paused", "next_dagrun_create_after"),
)


# The DAG's structure as JSON, so the webserver never imports DAG files.
serialized_dag_table = Table(
    "serialized_dag", metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("fileloc", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("dag_hash", String(64), nullable=False),
    Column("source_code", Text),
    Column("last_updated", UtcDateTime, nullable=False),
)


dag_run_table = Table(
    "dag_run", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", String(ID_LEN), nullable=False),
    Column("run_id", String(ID_LEN), nullable=False),
    Column("logical_date", UtcDateTime, nullable=False),
    Column("data_interval_start", UtcDateTime),
    Column("data_interval_end", UtcDateTime),
    Column("run_type", String(50), nullable=False),  # scheduled | manual | backfill
    Column("state", String(50), nullable=False),
    Column("conf", JSON),
    Column("external_trigger", Boolean, default=False, nullable=False),
    Column("queued_at", UtcDateTime),
    Column("start_date", UtcDateTime),
    Column("end_date", UtcDateTime),
    Column("triggered_by", String(250)),
    UniqueConstraint("dag_id", "run_id", name="dag_run_dag_id_run_id_key"),
    UniqueConstraint("dag_id", "logical_date", name="dag_run_dag_id_logical_date_key"),
    Index("idx_dag_run_state", "state", "dag_id"),
    Index("idx_dag_run_dag_logical", "dag_id", "logical_date"),
    # Every DAG's runs by date, newest first (the Browse pages); a date range over them.
    Index("idx_dag_run_logical_date", "logical_date", "dag_id"),
)


def _task_instance_key() -> list[Column[Any]]:
    """The key of a task instance, for each table that starts with it (a column belongs
    to one table, so each gets its own)."""
    return [
        Column("dag_id", String(ID_LEN), primary_key=True),
        Column("run_id", String(ID_LEN), primary_key=True),
        Column("task_id", String(ID_LEN), primary_key=True),
        Column("map_index", Integer, primary_key=True, default=-1, server_default="-1"),
    ]


task_instance_table = Table(
    "task_instance", metadata,
    *_task_instance_key(),
    Column("state", String(20)),
    Column("try_number", Integer, default=0, nullable=False),
    Column("max_tries", Integer, default=0, nullable=False),
    Column("operator", String(100)),
    Column("pool", String(256), default="default_pool", nullable=False),
    Column("pool_slots", Integer, default=1, nullable=False),
    Column("queue", String(256), default="default", nullable=False),
    Column("priority_weight", Integer, default=1, nullable=False),
    Column("queued_at", UtcDateTime),
    Column("start_date", UtcDateTime),
    Column("end_date", UtcDateTime),
    Column("duration", Float),
    Column("hostname", String(1000)),
    Column("pid", Integer),
    Column("heartbeat", UtcDateTime),
    Column("queued_by", String(250)),  # scheduler job that queued it
    Column("next_try_at", UtcDateTime),  # retry or reschedule time
    Column("first_poke_at", UtcDateTime),  # sensors in reschedule mode
    Column("poke_count", Integer, default=0, nullable=False),
    Column("rendered_fields", JSON),
    Column("rendered_map_index", String(250)),  # map_index_template, rendered
    # Set on every insert and update, so the scheduler reads only what changed (see RunView).
    Column("updated_at", UtcDateTime, default=_utcnow, onupdate=_utcnow),
    # Its run's, copied: the queueing order (priority, then the oldest run) is then one
    # index of this table (idx_ti_queue_order), which the queue step reads in order and
    # stops after what it can take, instead of sorting every scheduled instance each pass.
    Column("logical_date", UtcDateTime),
    ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    Index("idx_ti_dag_state", "dag_id", "state"),
    Index("idx_ti_pool", "pool", "state", "priority_weight"),
    Index("idx_ti_updated_at", "updated_at"),
)


Index("idx_ti_queue_order", task_instance_table.c.state, task_instance_table.c.priority_weight.desc(),
      task_instance_table.c.logical_date, task_instance_table.c.task_id, task_instance_table.c.map_index)


# One row per finished try.
task_instance_history_table = Table(
    "task_instance_history", metadata,
    *_task_instance_key(),
    Column("try_number", Integer, primary_key=True),
    Column("state", String(20)),
    Column("start_date", UtcDateTime),
    Column("end_date", UtcDateTime),
    Column("duration", Float),
    Column("hostname", String(1000)),
    Column("pid", Integer),
    ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
)


xcom_table = Table(
    "xcom", metadata,
    *_task_instance_key(),
    Column("key", String(512), primary_key=True),
    Column("value", Text),  # JSON text
    Column("timestamp", UtcDateTime, nullable=False),
    ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
)


import_error_table = Table(
    "import_error", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("filename", Text, nullable=False),
    Column("lineno", Integer),
    Column("message", Text, nullable=False),
    Column("timestamp", UtcDateTime, nullable=False),
)


slot_pool_table = Table(
    "slot_pool", metadata,
    Column("name", String(256), primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("description", Text),
)


variable_table = Table(
    "variable", metadata,
    Column("key", String(ID_LEN), primary_key=True),
    Column("val", Text),
    Column("description", Text),
)


ab_user_table = Table(
    "ab_user", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(256), unique=True, nullable=False),
    Column("password_hash", String(512), nullable=False),
    Column("role", String(20), nullable=False),  # Admin | Op | Viewer
    Column("email", String(256)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_login", UtcDateTime),
)


# Who did what: pauses, triggers, clears, marks, logins.
log_table = Table(
    "log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dttm", UtcDateTime, nullable=False),
    Column("event", String(60), nullable=False),
    Column("owner", String(256)),
    Column("dag_id", String(ID_LEN)),
    Column("task_id", String(ID_LEN)),
    Column("run_id", String(ID_LEN)),
    Column("extra", Text),
    Index("idx_log_dttm", "dttm"),
    Index("idx_log_dag", "dag_id", "dttm"),
)


# A running daemon (scheduler, worker): its heartbeat tells the living from the dead.
job_table = Table(
    "job", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_type", String(30), nullable=False),
    Column("hostname", String(1000), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("state", String(20), nullable=False),  # running | stopped
    Column("start_date", UtcDateTime, nullable=False),
    Column("end_date", UtcDateTime),
    Column("latest_heartbeat", UtcDateTime, nullable=False),
    Column("loop_seconds", Float),  # a scheduler's last pass, without its wait
    Index("idx_job_type_state", "job_type", "state", "latest_heartbeat"),
)


# --- datasets (see miniflow.datasets) ---------------------------------------------------------


# A dataset some DAG produces or consumes, by URI.
dataset_table = Table(
    "dataset", metadata,
    Column("uri", String(3000), primary_key=True),
    Column("extra", JSON, default=dict, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)


# One update of a dataset: by a task's try, or from outside (API, CLI).
dataset_event_table = Table(
    "dataset_event", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("uri", String(3000), nullable=False),
    Column("extra", JSON, default=dict, nullable=False),
    Column("source_dag_id", String(ID_LEN)),
    Column("source_task_id", String(ID_LEN)),
    Column("source_run_id", String(ID_LEN)),
    Column("source_map_index", Integer, default=-1, server_default="-1", nullable=False),
    Column("source_alias", String(3000)),
    Column("timestamp", UtcDateTime, nullable=False),
    Index("idx_dataset_event_uri", "uri", "timestamp"),
)


# Which DAG is scheduled on which dataset URI or alias name (`kind`).
dataset_reference_table = Table(
    "dataset_reference", metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("kind", String(10), primary_key=True),  # uri | alias
    Column("name", String(3000), primary_key=True),
)


# The datasets an alias has resolved to, as tasks added them at run time.
dataset_alias_table = Table(
    "dataset_alias", metadata,
    Column("name", String(3000), primary_key=True),
    Column("uri", String(3000), primary_key=True),
)


# A dataset update a consumer DAG has not run for yet.
dataset_dag_run_queue_table = Table(
    "dataset_dag_run_queue", metadata,
    Column("uri", String(3000), primary_key=True),
    Column("target_dag_id", String(ID_LEN), primary_key=True),
    Column("created_at", UtcDateTime, nullable=False),
)


# The events that triggered a run (its ``triggering_dataset_events``).
dagrun_dataset_event_table = Table(
    "dagrun_dataset_event", metadata,
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("run_id", String(ID_LEN), primary_key=True),
    Column("event_id", Integer, primary_key=True),
    ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
)


# One login to the UI. The session cookie only names it, so logging out (the row goes)
# or changing the password (all the user's rows go) ends it, even for a copy of the
# cookie.
web_session_table = Table(
    "web_session", metadata,
    Column("session_id", String(64), primary_key=True),
    Column("username", String(256), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Index("idx_web_session_user", "username"),
)


# A task that had not succeeded `sla` after its run was due (Airflow 2's SLA misses);
# kept so each miss is reported once.
sla_miss_table = Table(
    "sla_miss", metadata,
    Column("task_id", String(ID_LEN), primary_key=True),
    Column("dag_id", String(ID_LEN), primary_key=True),
    Column("execution_date", UtcDateTime, primary_key=True),
    Column("email_sent", Boolean, default=False, server_default=false(), nullable=False),
    Column("timestamp", UtcDateTime),
    Column("description", Text),
    Column("notification_sent", Boolean, default=False, server_default=false(), nullable=False),
    Index("idx_sla_miss_dag", "dag_id"),
)


# A connection stored in the DB; `password` and `extra` are Fernet tokens (see
# miniflow.secrets).
connection_table = Table(
    "connection", metadata,
    Column("conn_id", String(ID_LEN), primary_key=True),
    Column("conn_type", String(500), nullable=False),
    Column("description", Text),
    Column("host", String(500)),
    Column("schema", String(500)),
    Column("login", Text),
    Column("password", Text),
    Column("port", Integer),
    Column("extra", Text),
)
