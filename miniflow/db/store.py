"""The metadata store: the one place where miniflow reads and writes its database.
Everything else calls these methods, each caller through its own narrow interface
(`miniflow.db.interfaces`); no other module writes SQL. Reads return frozen records
(`miniflow.db.records`), never rows.

State changes are conditional updates (``UPDATE ... WHERE state IN (<expected>)``) that
report whether they took effect, so two processes can never both take the same step.
Queries use SQLAlchemy Core on the typed tables of `miniflow.db.models`: it is several
times faster than the ORM on the runner's hot path.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.dml import ReturningUpdate

from miniflow.db import models as m
from miniflow.db.dataset_queries import DatasetQueries, DatasetUpdate
from miniflow.db.engine import (
    WRITE,
    Rows,
    change_margin,
    keeps_connections,
    make_engine,
    one_scheduler_only,
    run_built,
    supports_skip_locked,
)
from miniflow.db.gate import move_runs, move_tis
from miniflow.db.records import (
    DagRecord,
    EventRecord,
    ImportErrorRecord,
    PoolRecord,
    RunRecord,
    SerializedDagRecord,
    StoredDagRecord,
    TIRecord,
    TIStateRecord,
    TryRecord,
    VariableRecord,
    XComRecord,
)
from miniflow.db.scheduler_queries import SchedulerQueries
from miniflow.db.sla_queries import SlaQueries
from miniflow.db.tables import (
    CONN_T,
    DAG_C,
    DAG_T,
    ERR_T,
    HIST_T,
    LOG_T,
    POOL_T,
    RUN_C,
    RUN_T,
    SER_T,
    TI_C,
    TI_T,
    VAR_T,
    XCOM_T,
    columns,
    state_filter,
    to_record,
    to_records,
    utcnow,
)
from miniflow.db.web_queries import WebQueries
from miniflow.state import (
    TI_OVERRIDES,
    TI_TRANSITIONS,
    DagRunState,
    IllegalTransition,
    Override,
    TaskInstanceState,
    check_ti_move,
)
from miniflow.taskinstancekey import TaskInstanceKey

if TYPE_CHECKING:
    from miniflow.connections import Connection as ConnectionInfo
    from miniflow.dagbag import ImportErrorInfo
    from miniflow.dagrun import RunDecisions
    from miniflow.db.interfaces import AdminStore, RunnerStore, SchedulerStore, WebStore
    from miniflow.serialization import ParsedDag
    from miniflow.timetables import DataInterval

__all__ = ["Store", "get_store", "reset_store", "close_store", "utcnow"]

HOSTNAME = socket.gethostname()

# The runner's hot path, built once with bind parameters: building a statement costs
# more than running it on SQLite, and these run several times per task try.
_TI_KEY = (TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.run_id == bindparam("k_run"),
           TI_T.c.task_id == bindparam("k_task"), TI_T.c.map_index == bindparam("k_map"))
_CLAIM = (
    move_tis([TaskInstanceState.QUEUED], TaskInstanceState.RUNNING)
    .where(*_TI_KEY)
    # A sensor poking again after a reschedule continues its try (poke_count > 0).
    .values(try_number=TI_T.c.try_number + case((TI_T.c.poke_count > 0, 0), else_=1),
            start_date=bindparam("now", type_=m.UtcDateTime), end_date=None, duration=None,
            heartbeat=bindparam("now", type_=m.UtcDateTime), hostname=bindparam("hostname"),
            pid=bindparam("pid"), first_poke_at=func.coalesce(TI_T.c.first_poke_at, bindparam("now", type_=m.UtcDateTime)))
    .returning(*TI_C)
)
_CLEAR_XCOM = delete(XCOM_T).where(XCOM_T.c.dag_id == bindparam("k_dag"), XCOM_T.c.run_id == bindparam("k_run"),
                                   XCOM_T.c.task_id == bindparam("k_task"), XCOM_T.c.map_index == bindparam("k_map"))
_FINISH_VALUES = dict(end_date=bindparam("now", type_=m.UtcDateTime),
                      duration=bindparam("duration"), next_try_at=bindparam("next_try_at", type_=m.UtcDateTime),
                      heartbeat=None, rendered_fields=bindparam("rendered", type_=TI_T.c.rendered_fields.type),
                      rendered_map_index=bindparam("map_name"))
_OWNED_TRY = (*_TI_KEY, TI_T.c.try_number == bindparam("k_try"))
# One statement per outcome of a running try. A sensor's reschedule keeps its try, as
# in Airflow: the next poke continues it.
_FINISH = {
    state: move_tis([TaskInstanceState.RUNNING], state).where(*_OWNED_TRY).values(
        **_FINISH_VALUES, **(dict(poke_count=TI_T.c.poke_count + 1)
                             if state == TaskInstanceState.UP_FOR_RESCHEDULE else dict(first_poke_at=None, poke_count=0)))
    for state in TI_TRANSITIONS[TaskInstanceState.RUNNING]
}
# A finished try's history row, copied from its task instance row (every history column
# is one of its columns) once the outcome is in it: one statement whose shape never
# changes, so it is compiled once per process.
_RECORD_TRY = insert(HIST_T).from_select(
    list(HIST_T.c.keys()), select(*(TI_T.c[name] for name in HIST_T.c.keys())).where(*_OWNED_TRY))
_INSERT_XCOM = insert(XCOM_T)
_GET_RUN = select(*RUN_C).where(RUN_T.c.dag_id == bindparam("k_dag"), RUN_T.c.run_id == bindparam("k_run"))
_RUN_LOGICAL_DATE = select(RUN_T.c.logical_date).where(RUN_T.c.dag_id == bindparam("k_dag"),
                                                       RUN_T.c.run_id == bindparam("k_run"))
_GET_VARIABLE = select(VAR_T.c.val).where(VAR_T.c.key == bindparam("k_key"))
_GET_CONNECTION = select(CONN_T).where(CONN_T.c.conn_id == bindparam("k_conn"))
_TI_STATES = select(*columns(TIStateRecord, TI_T)).where(
    TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.run_id == bindparam("k_run"))


@functools.cache
def _move_statement(expected: tuple[TaskInstanceState | None, ...], new: TaskInstanceState | None,
                    override: Override | None, whole: bool, single: bool,
                    columns: tuple[str, ...]) -> ReturningUpdate[Any]:
    """`set_ti_states`'s statement for one shape of call, built once: the scheduler
    moves task instances many times a second, and building costs more than running.
    It returns the keys of the instances it moved."""
    which = [TI_T.c.task_id.in_(bindparam("k_whole", expanding=True))] if whole else []
    if single:
        which.append(tuple_(TI_T.c.task_id, TI_T.c.map_index).in_(bindparam("k_single", expanding=True)))
    return (move_tis(expected, new, override)
            .where(TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.run_id == bindparam("k_run"), or_(*which))
            .values(**{name: bindparam(f"v_{name}", type_=TI_T.c[name].type) for name in columns})
            .returning(TI_T.c.task_id, TI_T.c.map_index))


@functools.cache
def _xcom_pull_statement(of_tasks: bool, of_key: bool, of_map_indexes: bool) -> Select[Any]:
    """`xcom_pull`'s statement for one shape of call, built once: a try that takes its
    upstream's output (every TaskFlow task) reads it, and building costs more than
    running."""
    query = select(*columns(XComRecord, XCOM_T)).where(XCOM_T.c.dag_id == bindparam("k_dag"),
                                                       XCOM_T.c.run_id == bindparam("k_run"))
    if of_tasks:
        query = query.where(XCOM_T.c.task_id.in_(bindparam("k_tasks", expanding=True)))
    if of_key:
        query = query.where(XCOM_T.c.key == bindparam("k_key"))
    if of_map_indexes:
        query = query.where(XCOM_T.c.map_index.in_(bindparam("k_maps", expanding=True)))
    return query.order_by(XCOM_T.c.timestamp.desc())


class Store(SchedulerQueries, WebQueries, DatasetQueries, SlaQueries):
    """Reads and writes of the metadata DB, grouped by table."""

    def __init__(self, engine: Engine, paused_at_creation: bool = True) -> None:
        self.engine = engine
        self.paused_at_creation = paused_at_creation  # core.dags_are_paused_at_creation
        self.one_scheduler_only = one_scheduler_only(engine)
        self.skip_locked = supports_skip_locked(engine)
        self.change_margin = change_margin(engine)
        self._kept = threading.local() if keeps_connections(engine) else None
        self._used_by: int | None = None  # the process that last ran a transaction (see `used_here`)
        self._pid = os.getpid()  # the process whose connections the engine's pool holds
        self._inherited: list[Connection] = []

    @classmethod
    def from_url(cls, url: str, sqlite_busy_timeout: float = 30.0, paused_at_creation: bool = True) -> Store:
        return cls(make_engine(url, sqlite_busy_timeout), paused_at_creation)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        with self._transaction(write=True) as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._transaction(write=False) as conn:
            yield conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        pid = os.getpid()
        if pid != self._pid:
            # Forked: the pool's connections are the parent's. Let go of them without
            # closing them, here rather than at the fork, so that a forked process that
            # never uses the database (most tries) pays nothing for it.
            self.engine.dispose(close=False)
            self._pid = pid
        self._used_by = pid
        kept = self._kept_connection()
        if kept is None:
            with self.engine.connect().execution_options(**{WRITE: write}) as conn, conn.begin():
                yield conn
        else:
            with kept.execution_options(**{WRITE: write}).begin():
                yield kept

    def _kept_connection(self) -> Connection | None:
        """This thread's own connection where connections are kept between transactions
        (`miniflow.db.engine.keeps_connections`); None elsewhere, and inside a transaction
        this thread already has open (the caller's nested one gets a connection of its own)."""
        kept = self._kept
        if kept is None:
            return None
        conn: Connection | None = getattr(kept, "conn", None)
        if conn is not None and kept.pid != os.getpid():
            # A parent's connection, inherited across fork(): SQLite forbids using it in
            # the child, even to close it, so it is only kept from the garbage collector.
            self._inherited.append(conn)
            conn = None
        if conn is None or conn.invalidated or conn.closed:
            if conn is not None:
                conn.close()
            conn = kept.conn = self.engine.connect()
            kept.pid = os.getpid()
        return None if conn.in_transaction() else conn

    def close(self) -> None:
        """Close this thread's kept connection and the pooled ones (as the process ends)."""
        kept = self._kept
        if kept is not None and getattr(kept, "conn", None) is not None and kept.pid == os.getpid():
            kept.conn.close()
            kept.conn = None
        self.engine.dispose()

    def check_ready(self) -> None:
        from miniflow.db.migrate import check_ready

        check_ready(self.engine)

    # --- DAGs ----------------------------------------------------------------------------

    def sync_dags(
        self,
        dags: Sequence[ParsedDag],
        import_errors: Sequence[ImportErrorInfo] = (),
        processed_files: Iterable[str] | None = None,
        paused_by_default: bool | None = None,
    ) -> None:
        """Record loaded DAGs (`miniflow.serialization.parsed_dag`) and the import
        errors of their files.

        New DAGs start paused as `paused_by_default` says (by default the store's
        `paused_at_creation`, so every path that registers a DAG agrees), unless the DAG
        says otherwise (``is_paused_upon_creation``); a DAG already known keeps its
        paused flag and its next-run fields. DAGs that vanished from one of the
        `processed_files` (whole files that were just parsed) are marked inactive; a
        caller syncing a single DAG passes none, and touches no other DAG.
        """
        now = utcnow()
        paused_default = self.paused_at_creation if paused_by_default is None else paused_by_default
        files = set(processed_files or ())
        files |= {e.filepath for e in import_errors}
        with self.write() as conn:
            self.serialize_schedulers(conn, "sync")  # schedulers sharing PostgreSQL sync in turn
            known = {r.dag_id: r for r in conn.execute(select(DAG_T.c.dag_id, DAG_T.c.fileloc))}
            hashes = dict(conn.execute(select(SER_T.c.dag_id, SER_T.c.dag_hash)).all())
            seen = set()
            for dag in dags:
                seen.add(dag.dag_id)
                values = dict(
                    fileloc=dag.fileloc, owners=dag.owners, owner_links=dag.owner_links, description=dag.description,
                    schedule=dag.schedule, timezone=dag.timezone, tags=dag.tags, is_active=True,
                    max_active_runs=dag.max_active_runs, max_active_tasks=dag.max_active_tasks, last_parsed=now,
                )
                if dag.dag_id in known:
                    conn.execute(update(DAG_T).where(DAG_T.c.dag_id == dag.dag_id).values(**values))
                else:
                    paused = dag.is_paused_upon_creation
                    conn.execute(insert(DAG_T).values(
                        dag_id=dag.dag_id, is_paused=paused_default if paused is None else paused, **values
                    ))
                self.sync_dataset_references(conn, dag.dag_id, dag.dataset_uris, dag.dataset_aliases, dag.outlet_uris)
                if hashes.get(dag.dag_id) != dag.dag_hash:
                    row = dict(fileloc=dag.fileloc, data=dag.data, dag_hash=dag.dag_hash, last_updated=now,
                               source_code=dag.source_code)
                    if dag.dag_id in hashes:
                        conn.execute(update(SER_T).where(SER_T.c.dag_id == dag.dag_id).values(**row))
                    else:
                        conn.execute(insert(SER_T).values(dag_id=dag.dag_id, **row))
            gone = [d for d, r in known.items() if r.fileloc in files and d not in seen]
            if gone:
                conn.execute(update(DAG_T).where(DAG_T.c.dag_id.in_(gone)).values(is_active=False))
            if files:
                conn.execute(delete(ERR_T).where(ERR_T.c.filename.in_(files)))
            for err in import_errors:
                conn.execute(insert(ERR_T).values(
                    filename=err.filepath, lineno=err.lineno, message=err.message, timestamp=now
                ))

    def dag_files(self) -> dict[str, str]:
        """The file each active DAG was loaded from."""
        with self.read() as conn:
            return dict(conn.execute(select(DAG_T.c.dag_id, DAG_T.c.fileloc).where(DAG_T.c.is_active.is_(True))).all())

    def import_error_files(self) -> set[str]:
        with self.read() as conn:
            return set(conn.execute(select(ERR_T.c.filename)).scalars())

    def get_dag_row(self, dag_id: str) -> DagRecord | None:
        with self.read() as conn:
            return to_record(DagRecord, conn.execute(select(*DAG_C).where(DAG_T.c.dag_id == dag_id)).first())

    def dag_rows(self, active_only: bool = True) -> list[DagRecord]:
        query = select(*DAG_C).order_by(DAG_T.c.dag_id)
        if active_only:
            query = query.where(DAG_T.c.is_active.is_(True))
        with self.read() as conn:
            return to_records(DagRecord, conn.execute(query))

    def set_paused(self, dag_id: str, paused: bool) -> bool:
        with self.write() as conn:
            result = conn.execute(update(DAG_T).where(DAG_T.c.dag_id == dag_id).values(is_paused=paused))
            return result.rowcount > 0

    def import_errors(self) -> list[ImportErrorRecord]:
        with self.read() as conn:
            return to_records(ImportErrorRecord, conn.execute(
                select(*columns(ImportErrorRecord, ERR_T)).order_by(ERR_T.c.filename)))

    def serialized_dag(self, dag_id: str) -> SerializedDagRecord | None:
        with self.read() as conn:
            return to_record(SerializedDagRecord, conn.execute(
                select(*columns(SerializedDagRecord, SER_T)).where(SER_T.c.dag_id == dag_id)).first())

    def stored_dags(self) -> list[StoredDagRecord]:
        """The serialized form of every active DAG, as the last parse left it."""
        query = select(*columns(StoredDagRecord, SER_T)).join(DAG_T, DAG_T.c.dag_id == SER_T.c.dag_id) \
            .where(DAG_T.c.is_active.is_(True))
        with self.read() as conn:
            return to_records(StoredDagRecord, conn.execute(query))

    # --- DAG runs --------------------------------------------------------------------------

    def create_run(
        self,
        dag_id: str,
        task_rows: Sequence[dict[str, Any]],
        run_id: str,
        logical_date: dt.datetime,
        data_interval: DataInterval | None,
        run_type: str,
        conf: dict[str, Any] | None = None,
        state: DagRunState = DagRunState.QUEUED,
        external_trigger: bool = False,
        triggered_by: str | None = None,
        conn: Connection | None = None,
    ) -> RunRecord | None:
        """Insert a run and its task instances (`task_rows`, from
        `miniflow.serialization.task_rows`); None if the run already exists (same run_id,
        or same logical date: never two runs for one date)."""
        if conn is None:
            with self.write() as own:
                return self.create_run(dag_id, task_rows, run_id, logical_date, data_interval, run_type,
                                       conf, state, external_trigger, triggered_by, own)
        now = utcnow()
        exists = conn.execute(select(RUN_T.c.id).where(RUN_T.c.dag_id == dag_id).where(
            or_(RUN_T.c.run_id == run_id, RUN_T.c.logical_date == logical_date))).first()
        if exists:
            return None
        try:
            with conn.begin_nested():
                conn.execute(insert(RUN_T).values(
                    dag_id=dag_id, run_id=run_id, logical_date=logical_date,
                    data_interval_start=data_interval.start if data_interval else None,
                    data_interval_end=data_interval.end if data_interval else None,
                    run_type=run_type, state=str(state), conf=conf or {},
                    external_trigger=external_trigger, queued_at=now, triggered_by=triggered_by,
                    start_date=now if state == DagRunState.RUNNING else None,
                ))
        except IntegrityError:
            return None
        if task_rows:
            conn.execute(insert(TI_T), [
                dict(dag_id=dag_id, run_id=run_id, logical_date=logical_date, state=None, try_number=0, poke_count=0,
                     **row)
                for row in task_rows
            ])
        return to_record(RunRecord, run_built(conn, _GET_RUN, {"k_dag": dag_id, "k_run": run_id}).first())

    def states_at(self, dag_id: str, logical_dates: Sequence[dt.datetime],
                  task_ids: Sequence[str] | None = None) -> list[tuple[str | None, dt.datetime, str | None]]:
        """``(None, logical date, state)`` of a DAG's runs at `logical_dates` -- or, given
        `task_ids`, ``(task id, logical date, state)`` of those tasks' instances in them,
        one for each map index (what ExternalTaskSensor waits on)."""
        with self.read() as conn:
            if task_ids is None:
                rows = conn.execute(select(RUN_T.c.logical_date, RUN_T.c.state).where(
                    RUN_T.c.dag_id == dag_id, RUN_T.c.logical_date.in_(logical_dates)))
                return [(None, logical_date, state) for logical_date, state in rows]
            return [(task_id, logical_date, state) for task_id, logical_date, state in conn.execute(
                select(TI_T.c.task_id, RUN_T.c.logical_date, TI_T.c.state).join(RUN_T, and_(
                    RUN_T.c.dag_id == TI_T.c.dag_id, RUN_T.c.run_id == TI_T.c.run_id)).where(
                    TI_T.c.dag_id == dag_id, TI_T.c.task_id.in_(task_ids),
                    RUN_T.c.logical_date.in_(logical_dates)))]

    def get_run(self, dag_id: str, run_id: str) -> RunRecord | None:
        with self.read() as conn:
            return to_record(RunRecord, run_built(conn, _GET_RUN, {"k_dag": dag_id, "k_run": run_id}).first())

    def find_run(self, dag_id: str, logical_date: dt.datetime) -> RunRecord | None:
        with self.read() as conn:
            return to_record(RunRecord, conn.execute(select(*RUN_C).where(
                RUN_T.c.dag_id == dag_id, RUN_T.c.logical_date == logical_date)).first())

    def list_runs(
        self,
        dag_id: str | None = None,
        states: Iterable[DagRunState] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = True,
    ) -> list[RunRecord]:
        query = select(*RUN_C)
        if dag_id is not None:
            query = query.where(RUN_T.c.dag_id == dag_id)
        if states is not None:
            query = query.where(state_filter(RUN_T.c.state, states))
        if start is not None:
            query = query.where(RUN_T.c.logical_date >= start)
        if end is not None:
            query = query.where(RUN_T.c.logical_date <= end)
        order = RUN_T.c.logical_date.desc() if newest_first else RUN_T.c.logical_date
        query = query.order_by(order).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.read() as conn:
            return to_records(RunRecord, conn.execute(query))

    def delete_run(self, dag_id: str, run_id: str) -> None:
        with self.write() as conn:
            for table in (XCOM_T, HIST_T, TI_T):
                conn.execute(delete(table).where(table.c.dag_id == dag_id, table.c.run_id == run_id))
            conn.execute(delete(RUN_T).where(RUN_T.c.dag_id == dag_id, RUN_T.c.run_id == run_id))

    def set_run_state(
        self,
        dag_id: str,
        run_id: str,
        new: DagRunState,
        expected: Iterable[DagRunState],
        conn: Connection | None = None,
        override: Override | None = None,
    ) -> bool:
        """Move a run to `new` if it is in an `expected` state (see `miniflow.db.gate`)."""
        if conn is None:
            with self.write() as own:
                return self.set_run_state(dag_id, run_id, new, expected, own, override)
        now = utcnow()
        values: dict[str, Any] = {}
        if new == DagRunState.RUNNING:
            values["start_date"] = func.coalesce(RUN_T.c.start_date, now)
            values["end_date"] = None
        elif new in (DagRunState.SUCCESS, DagRunState.FAILED):
            values["end_date"] = now
        elif new == DagRunState.QUEUED:
            values.update(queued_at=now, end_date=None)
        query = move_runs(expected, new, override).where(RUN_T.c.dag_id == dag_id, RUN_T.c.run_id == run_id)
        return conn.execute(query.values(**values)).rowcount > 0

    # --- task instances -------------------------------------------------------------------

    def tis_of_run(self, dag_id: str, run_id: str, conn: Connection | None = None) -> list[TIRecord]:
        query = select(*TI_C).where(TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id)
        if conn is not None:
            return to_records(TIRecord, conn.execute(query))
        with self.read() as own:
            return to_records(TIRecord, own.execute(query))

    def ti_states(self, dag_id: str, run_id: str) -> list[TIStateRecord]:
        """Where a run's task instances stand: the light read a scheduling pass needs."""
        with self.read() as conn:
            return to_records(TIStateRecord, run_built(conn, _TI_STATES, {"k_dag": dag_id, "k_run": run_id}))

    def get_ti(self, key: TaskInstanceKey) -> TIRecord | None:
        with self.read() as conn:
            return to_record(TIRecord, conn.execute(select(*TI_C).where(*_key_filter(key))).first())

    def mapped_tis(self, dag_id: str, run_id: str, task_id: str) -> list[TIRecord]:
        """Every instance of one task in a run, by map index."""
        with self.read() as conn:
            return to_records(TIRecord, conn.execute(select(*TI_C).where(
                TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, TI_T.c.task_id == task_id,
            ).order_by(TI_T.c.map_index)))

    def set_ti_states(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Iterable[str | tuple[str, int]],
        new: TaskInstanceState | None,
        expected: Iterable[TaskInstanceState | None],
        conn: Connection | None = None,
        override: Override | None = None,
        **values: Any,
    ) -> list[TaskInstanceKey]:
        """Move these task instances to `new` if they are in an `expected` state; returns
        those that moved (see `miniflow.db.gate`).

        A task id names every instance of the task; a ``(task_id, map_index)`` pair one.
        """
        task_ids = list(task_ids)
        expected = list(expected)
        check_ti_move(expected, new, override)  # also when there is nothing to move
        if not task_ids:
            return []
        if conn is None:
            with self.write() as own:
                return self.set_ti_states(dag_id, run_id, task_ids, new, expected, own, override, **values)
        now = utcnow()
        if new == TaskInstanceState.QUEUED:
            values.setdefault("queued_at", now)
        if new in (TaskInstanceState.SKIPPED, TaskInstanceState.UPSTREAM_FAILED):
            values.setdefault("start_date", now)
            values.setdefault("end_date", now)
            values.setdefault("duration", 0.0)
        whole = [t for t in task_ids if isinstance(t, str)]
        single = [t for t in task_ids if not isinstance(t, str)]
        moved: Rows
        if any(isinstance(v, ClauseElement) for v in values.values()):  # an SQL expression: build this one
            which = [TI_T.c.task_id.in_(whole)] if whole else []
            if single:
                which.append(tuple_(TI_T.c.task_id, TI_T.c.map_index).in_(single))
            query = (move_tis(expected, new, override)
                     .where(TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, or_(*which)).values(**values)
                     .returning(TI_T.c.task_id, TI_T.c.map_index))
            moved = conn.execute(query)
        else:
            query = _move_statement(tuple(expected), new, override, bool(whole), bool(single), tuple(sorted(values)))
            moved = run_built(conn, query, {"k_dag": dag_id, "k_run": run_id, "k_whole": whole, "k_single": single,
                                            **{f"v_{name}": value for name, value in values.items()}})
        return [TaskInstanceKey(dag_id, run_id, task_id, map_index) for task_id, map_index in moved]

    def stop_run(self, dag_id: str, run_id: str, running_to: TaskInstanceState,
                 spare: Sequence[str] = ()) -> int:
        """End a run's unfinished task instances but `spare`: running tries move to
        `running_to` (their processes stop themselves, see the runner's heartbeat), the
        rest are skipped. A timed-out run (skipped) or a failed fail_stop task (failed)."""
        TIS = TaskInstanceState
        waiting = [None, TIS.SCHEDULED, TIS.QUEUED, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE]
        with self.write() as conn:
            spared = TI_T.c.task_id.not_in(list(spare)) if spare else TI_T.c.task_id.is_not(None)
            now = utcnow()
            mine = (TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, spared)
            moved = conn.execute(move_tis(waiting, TIS.SKIPPED).where(*mine).values(
                start_date=func.coalesce(TI_T.c.start_date, now), end_date=now, next_try_at=None)).rowcount
            return moved + conn.execute(move_tis([TIS.RUNNING], running_to).where(*mine).values(
                end_date=now, heartbeat=None)).rowcount

    def verify_integrity(self, dag_id: str, run_id: str, new_rows: Sequence[dict[str, Any]],
                         removed: Sequence[str]) -> None:
        """Bring a run in line with a DAG file that changed under it: task instances for
        new tasks, and `removed` for unfinished ones whose task is gone (as Airflow does)."""
        TIS = TaskInstanceState
        with self.write() as conn:
            logical_date = run_built(conn, _RUN_LOGICAL_DATE, {"k_dag": dag_id, "k_run": run_id}).scalar() \
                if new_rows else None
            for row in new_rows:
                try:
                    with conn.begin_nested():  # another scheduler may have added it a moment ago
                        conn.execute(insert(TI_T).values(dag_id=dag_id, run_id=run_id, logical_date=logical_date,
                                                         state=None, try_number=0, poke_count=0, **row))
                except IntegrityError:
                    pass
            self.set_ti_states(dag_id, run_id, removed, TIS.REMOVED,
                               [None, TIS.SCHEDULED, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE], conn)

    def record_decisions(self, dag_id: str, run_id: str, decisions: RunDecisions,
                         ready_state: TaskInstanceState = TaskInstanceState.SCHEDULED) -> list[TaskInstanceKey]:
        """Apply `evaluate_run`'s verdicts for one run (see `record_all_decisions`)."""
        return self.record_all_decisions([(dag_id, run_id, decisions)], ready_state)

    def record_all_decisions(self, items: Sequence[tuple[str, str, RunDecisions]],
                             ready_state: TaskInstanceState = TaskInstanceState.SCHEDULED) -> list[TaskInstanceKey]:
        """Apply `evaluate_run`'s verdicts of several runs in one transaction: skips,
        upstream failures, and tasks that may run (and due retries) moved to `ready_state`
        (queued for ``dags test``, which has no queueing step). Returns the task instances
        that moved to `ready_state`."""
        items = sorted((i for i in items if i[2].skip or i[2].upstream_failed or i[2].retry_due or i[2].runnable),
                       key=lambda i: (i[0], i[1]))  # one lock order for every scheduler
        if not items:
            return []
        TIS = TaskInstanceState
        ready: list[TaskInstanceKey] = []
        with self.write() as conn:
            for dag_id, run_id, decisions in items:
                self.set_ti_states(dag_id, run_id, decisions.skip, TIS.SKIPPED, [None], conn)
                self.set_ti_states(dag_id, run_id, decisions.upstream_failed, TIS.UPSTREAM_FAILED, [None], conn)
                ready += self.set_ti_states(dag_id, run_id, decisions.retry_due, ready_state,
                                            [TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE], conn)
                ready += self.set_ti_states(dag_id, run_id, decisions.runnable, ready_state, [None], conn)
        return ready

    def claim_ti(self, key: TaskInstanceKey, pid: int | None = None) -> TIRecord | None:
        """queued -> running for one try; returns the updated row, or None if someone
        else claimed it (or it was cleared) first. Starts the try with no XComs."""
        params = _key_params(key)
        with self.write() as conn:
            row = run_built(conn, _CLAIM, {**params, "now": utcnow(), "hostname": HOSTNAME,
                                           "pid": pid or os.getpid()}).first()
            if row is not None:
                run_built(conn, _CLEAR_XCOM, params)
            return to_record(TIRecord, row)

    def finish_ti(
        self,
        claimed: TIRecord,
        state: TaskInstanceState,
        xcoms: Sequence[tuple[str, str]] = (),
        next_try_at: dt.datetime | None = None,
        rendered_fields: dict[str, Any] | None = None,
        rendered_map_index: str | None = None,
        dataset_updates: Sequence[DatasetUpdate] = (),
    ) -> bool:
        """Record the outcome (and XComs, and on success the datasets it updated) of the
        try `claim_ti` returned as `claimed`, if that try still owns the row (it was not
        failed as a zombie meanwhile)."""
        now = utcnow()
        assert claimed.start_date is not None, "claim_ti starts the try"
        duration = (now - claimed.start_date).total_seconds()
        key = _key_params(claimed.key)
        rescheduled = state == TaskInstanceState.UP_FOR_RESCHEDULE
        if state not in _FINISH:
            raise IllegalTransition(f"illegal task instance transition running -> {state}")
        with self.write() as conn:
            owned = run_built(conn, _FINISH[state], {
                **key, "k_try": claimed.try_number, "now": now,
                "duration": duration, "next_try_at": next_try_at, "rendered": rendered_fields,
                "map_name": rendered_map_index,
            }).rowcount
            if not owned:
                return False
            if not rescheduled:
                run_built(conn, _RECORD_TRY, {**key, "k_try": claimed.try_number})
            if dataset_updates and state == TaskInstanceState.SUCCESS:
                self.record_dataset_events(conn, claimed.key, dataset_updates)
            if xcoms:
                conn.execute(_INSERT_XCOM, _xcom_rows(claimed.key, xcoms, now))
            return True

    def heartbeat_ti(self, key: TaskInstanceKey, try_number: int) -> bool:
        with self.write() as conn:
            return conn.execute(update(TI_T).where(
                *_key_filter(key), TI_T.c.try_number == try_number,
                TI_T.c.state == str(TaskInstanceState.RUNNING),
            ).values(heartbeat=utcnow())).rowcount > 0

    def ti_history(self, key: TaskInstanceKey) -> list[TryRecord]:
        with self.read() as conn:
            return to_records(TryRecord, conn.execute(select(*columns(TryRecord, HIST_T))
                                                      .where(*_key_filter(key, HIST_T)).order_by(HIST_T.c.try_number)))

    def clear_tis(self, items: Sequence[tuple[str, str, str, int]], map_index: int | None = None) -> int:
        """Reset task instances ``(dag_id, run_id, task_id, retries)`` so they run again
        (every instance of a mapped task, or only `map_index`).

        As in Airflow, the try count goes on and the task gets its retries anew
        (``max_tries = try_number + retries``); a running try is left alone. Their
        runs go back to queued so the scheduler picks them up.
        """
        with self.write() as conn:
            total = 0
            clearable = TI_OVERRIDES[Override.CLEAR][0]
            for dag_id, run_id, task_id, retries in items:
                query = move_tis(clearable, None, Override.CLEAR).where(
                    TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, TI_T.c.task_id == task_id)
                if map_index is not None:
                    query = query.where(TI_T.c.map_index == map_index)
                total += conn.execute(query.values(
                    next_try_at=None, end_date=None, duration=None, poke_count=0,
                    first_poke_at=None, max_tries=TI_T.c.try_number + retries)).rowcount
            for dag_id, run_id in {(i[0], i[1]) for i in items}:
                self.set_run_state(dag_id, run_id, DagRunState.QUEUED, list(DagRunState), conn, Override.CLEAR)
            return total

    def warm_up(self) -> None:
        """Compile the runner's hot statements once (in a rolled-back transaction), so
        processes forked afterwards inherit them compiled. Connections are then dropped:
        a forked child must open its own."""
        key = {"k_dag": "", "k_run": "", "k_task": "", "k_map": -1}
        with self.engine.connect().execution_options(**{WRITE: True}) as conn:
            trans = conn.begin()
            run_built(conn, _CLAIM, {**key, "now": utcnow(), "hostname": HOSTNAME, "pid": 0})
            run_built(conn, _CLEAR_XCOM, key)
            run_built(conn, _TI_STATES, {"k_dag": "", "k_run": ""})
            run_built(conn, _GET_RUN, {"k_dag": "", "k_run": ""})
            for of_map_indexes in (False, True):  # a task's output, and a mapped task's
                run_built(conn, _xcom_pull_statement(True, True, of_map_indexes),
                          {"k_dag": "", "k_run": "", "k_tasks": [""], "k_key": "", "k_maps": [0]})
            for stmt in _FINISH.values():
                run_built(conn, stmt, {**key, "k_try": 0, "now": utcnow(), "duration": 0.0,
                                       "next_try_at": None, "rendered": None, "map_name": None})
            run_built(conn, _RECORD_TRY, {**key, "k_try": 0})
            # XComs need a run to belong to: a scratch one, rolled back with the rest. One
            # XCom and several are two statements (execute and executemany).
            conn.execute(insert(RUN_T).values(dag_id="", run_id="", logical_date=utcnow(), run_type="manual",
                                              state=str(DagRunState.QUEUED)))
            for names in (["a"], ["b", "c"]):
                conn.execute(_INSERT_XCOM, _xcom_rows(TaskInstanceKey("", "", ""), [(n, "") for n in names], utcnow()))
            trans.rollback()
        self.engine.dispose()

    def used_here(self) -> bool:
        """Whether this process has used the database (a warm-up does not count): the local
        executor keeps its next spare child connected ahead when the last try used it."""
        return self._used_by == os.getpid()

    def warm_up_connection(self) -> None:
        """Open this thread's connection and read as a try does: a new connection's first
        transaction pays milliseconds for loading the schema, and a process forked ahead
        of work (`miniflow.executors.local`) pays them while it waits."""
        with self.read() as conn:
            run_built(conn, _GET_RUN, {"k_dag": "", "k_run": ""}).first()
        self._used_by = None

    # --- XCom ------------------------------------------------------------------------------

    def xcom_push(self, ti: TaskInstanceKey, key: str, value: str) -> None:
        with self.write() as conn:
            conn.execute(delete(XCOM_T).where(*_key_filter(ti, XCOM_T), XCOM_T.c.key == key))
            conn.execute(_INSERT_XCOM, _xcom_rows(ti, [(key, value)], utcnow()))

    def xcom_pull(self, dag_id: str, run_id: str, task_ids: Sequence[str] | None, key: str | None,
                  map_indexes: Sequence[int] | None = None) -> list[XComRecord]:
        """XComs of one run, newest first; `task_ids`/`key`/`map_indexes` None mean any."""
        query = _xcom_pull_statement(task_ids is not None, key is not None, map_indexes is not None)
        params = {"k_dag": dag_id, "k_run": run_id, "k_tasks": list(task_ids or ()), "k_key": key,
                  "k_maps": list(map_indexes or ())}
        with self.read() as conn:
            return to_records(XComRecord, run_built(conn, query, params))

    def xcom_clear(self, dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> int:
        """Remove a task's XComs in a run (of one instance, given `map_index`); returns how many."""
        query = delete(XCOM_T).where(XCOM_T.c.dag_id == dag_id, XCOM_T.c.run_id == run_id, XCOM_T.c.task_id == task_id)
        if map_index is not None:
            query = query.where(XCOM_T.c.map_index == map_index)
        with self.write() as conn:
            return conn.execute(query).rowcount

    def xcom_length(self, dag_id: str, run_id: str, task_id: str, key: str, mapped: bool) -> int | None:
        """How many items a mapped task gets from this output: the length of the list or
        dict one task returned, or how many instances of a mapped task returned a value.
        None when there is no value (the task did not run or returned none)."""
        import json

        with self.read() as conn:
            if mapped:
                return conn.execute(select(func.count()).where(
                    XCOM_T.c.dag_id == dag_id, XCOM_T.c.run_id == run_id, XCOM_T.c.task_id == task_id,
                    XCOM_T.c.key == key, XCOM_T.c.map_index >= 0)).scalar_one()
            text = conn.execute(select(XCOM_T.c.value).where(
                XCOM_T.c.dag_id == dag_id, XCOM_T.c.run_id == run_id, XCOM_T.c.task_id == task_id,
                XCOM_T.c.key == key, XCOM_T.c.map_index == -1)).scalar()
        value = None if text is None else json.loads(text)
        return len(value) if isinstance(value, (list, dict)) else None

    def expand_ti(self, dag_id: str, run_id: str, task_id: str, length: int, row: dict[str, Any],
                  ready_state: TaskInstanceState | None = TaskInstanceState.SCHEDULED) -> list[TaskInstanceKey]:
        """Give a mapped task `length` instances 0..length-1 and move them to
        `ready_state` (if None, they wait with no state for their own decision).

        The placeholder (map_index -1) becomes instance 0; instances a cleared, re-expanded
        task no longer has are marked removed; with no items the task is skipped. Only
        instances with no state move, so repeating this is harmless. Returns the
        instances that moved to `ready_state`.
        """
        TIS = TaskInstanceState
        with self.write() as conn:
            mine = (TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, TI_T.c.task_id == task_id)
            if length == 0:
                self.set_ti_states(dag_id, run_id, [task_id], TIS.SKIPPED, [None], conn)
                return []
            conn.execute(update(TI_T).where(*mine, TI_T.c.map_index == -1, TI_T.c.state.is_(None))
                         .values(map_index=0))
            have = set(conn.execute(select(TI_T.c.map_index).where(*mine)).scalars())
            missing = [i for i in range(length) if i not in have]
            if missing:
                logical_date = run_built(conn, _RUN_LOGICAL_DATE, {"k_dag": dag_id, "k_run": run_id}).scalar()
                conn.execute(insert(TI_T), [dict(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=i,
                                                 logical_date=logical_date, state=None, try_number=0, poke_count=0,
                                                 **row) for i in missing])
            extra = [(task_id, i) for i in have if i >= length]
            self.set_ti_states(dag_id, run_id, extra, TIS.REMOVED, [None], conn)
            if ready_state is None:
                return []
            return self.set_ti_states(dag_id, run_id, [(task_id, i) for i in range(length)], ready_state, [None],
                                      conn)

    # --- pools, variables ------------------------------------------------------------------

    def set_pool(self, name: str, slots: int, description: str | None = None) -> None:
        with self.write() as conn:
            if conn.execute(update(POOL_T).where(POOL_T.c.name == name).values(
                    slots=slots, description=description)).rowcount == 0:
                conn.execute(insert(POOL_T).values(name=name, slots=slots, description=description))

    def pools(self) -> dict[str, PoolRecord]:
        with self.read() as conn:
            return {r.name: r for r in to_records(PoolRecord, conn.execute(select(*columns(PoolRecord, POOL_T))))}

    def delete_pool(self, name: str) -> bool:
        with self.write() as conn:
            return conn.execute(delete(POOL_T).where(POOL_T.c.name == name)).rowcount > 0

    # --- connections (secrets encrypted: see miniflow.secrets) -----------------------------

    def get_connection(self, conn_id: str) -> ConnectionInfo | None:
        with self.read() as conn:
            row = conn.execute(_GET_CONNECTION, {"k_conn": conn_id}).first()
        return _connection(row) if row is not None else None

    def connections(self) -> list[ConnectionInfo]:
        with self.read() as conn:
            return [_connection(r) for r in conn.execute(select(CONN_T).order_by(CONN_T.c.conn_id))]

    def set_connection(self, connection: ConnectionInfo, overwrite: bool = False) -> bool:
        """Store `connection`; False if its id exists and not `overwrite`."""
        from miniflow.secrets import encrypt

        values = dict(conn_type=connection.conn_type or "", description=connection.description,
                      host=connection.host, schema=connection.schema, login=connection.login,
                      password=encrypt(connection.password), port=connection.port, extra=encrypt(connection.extra))
        with self.write() as conn:
            exists = conn.execute(select(CONN_T.c.conn_id).where(CONN_T.c.conn_id == connection.conn_id)).first()
            if exists and not overwrite:
                return False
            if exists:
                conn.execute(update(CONN_T).where(CONN_T.c.conn_id == connection.conn_id).values(**values))
            else:
                conn.execute(insert(CONN_T).values(conn_id=connection.conn_id, **values))
            return True

    def delete_connection(self, conn_id: str) -> bool:
        with self.write() as conn:
            return conn.execute(delete(CONN_T).where(CONN_T.c.conn_id == conn_id)).rowcount > 0

    def rotate_connection_secrets(self) -> int:
        """Re-encrypt every stored secret with the first key of core.fernet_key."""
        from miniflow.secrets import rotate

        with self.write() as conn:
            rows = list(conn.execute(select(CONN_T.c.conn_id, CONN_T.c.password, CONN_T.c.extra)))
            for r in rows:
                conn.execute(update(CONN_T).where(CONN_T.c.conn_id == r.conn_id).values(
                    password=rotate(r.password), extra=rotate(r.extra)))
            return len(rows)

    def get_variable(self, key: str) -> str | None:
        with self.read() as conn:
            return run_built(conn, _GET_VARIABLE, {"k_key": key}).scalar()

    def set_variable(self, key: str, value: str, description: str | None = None) -> None:
        with self.write() as conn:
            if conn.execute(update(VAR_T).where(VAR_T.c.key == key).values(
                    val=value, description=description)).rowcount == 0:
                conn.execute(insert(VAR_T).values(key=key, val=value, description=description))

    def delete_variable(self, key: str) -> bool:
        with self.write() as conn:
            return conn.execute(delete(VAR_T).where(VAR_T.c.key == key)).rowcount > 0

    def variables(self) -> list[VariableRecord]:
        with self.read() as conn:
            return to_records(VariableRecord, conn.execute(select(*columns(VariableRecord, VAR_T)).order_by(VAR_T.c.key)))

    # --- event log ---------------------------------------------------------------------

    def log_event(self, event: str, owner: str | None = None, dag_id: str | None = None,
                  task_id: str | None = None, run_id: str | None = None, extra: str | None = None) -> None:
        with self.write() as conn:
            conn.execute(insert(LOG_T).values(dttm=utcnow(), event=event, owner=owner, dag_id=dag_id,
                                              task_id=task_id, run_id=run_id, extra=extra))

    def events(self, dag_id: str | None = None, limit: int = 100, offset: int = 0) -> list[EventRecord]:
        query = (select(*columns(EventRecord, LOG_T)).order_by(LOG_T.c.dttm.desc(), LOG_T.c.id.desc())
                 .limit(limit).offset(offset))
        if dag_id is not None:
            query = query.where(LOG_T.c.dag_id == dag_id)
        with self.read() as conn:
            return to_records(EventRecord, conn.execute(query))


def _connection(row: Any) -> ConnectionInfo:
    from miniflow.connections import Connection as ConnectionInfo
    from miniflow.secrets import decrypt

    return ConnectionInfo(conn_id=row.conn_id, conn_type=row.conn_type, description=row.description, host=row.host,
                      schema=row.schema, login=row.login, password=decrypt(row.password), port=row.port,
                      extra=decrypt(row.extra))


def _xcom_rows(key: TaskInstanceKey, xcoms: Sequence[tuple[str, str]], now: dt.datetime) -> list[dict[str, Any]]:
    """`_INSERT_XCOM`'s rows: always these columns, so that it is compiled once."""
    return [dict(dag_id=key.dag_id, run_id=key.run_id, task_id=key.task_id, map_index=key.map_index, key=k, value=v,
                 timestamp=now) for k, v in xcoms]


def _key_params(key: TaskInstanceKey) -> dict[str, Any]:
    return {"k_dag": key.dag_id, "k_run": key.run_id, "k_task": key.task_id, "k_map": key.map_index}


def _key_filter(key: TaskInstanceKey, table: Any = TI_T) -> tuple[Any, ...]:
    return (table.c.dag_id == key.dag_id, table.c.run_id == key.run_id, table.c.task_id == key.task_id,
            table.c.map_index == key.map_index)


if TYPE_CHECKING:
    def _offers_every_interface(store: Store) -> tuple[SchedulerStore, RunnerStore, WebStore, AdminStore]:
        """mypy's proof that the store offers all that each caller may ask of it."""
        return store, store, store, store


_store: Store | None = None


def get_store(check: bool = True) -> Store:
    """The process-wide store for the configured database (checked to be migrated)."""
    global _store
    if _store is None:
        from miniflow.config import get_config

        config = get_config()
        store = Store.from_url(config.get("database", "sql_alchemy_conn"),
                               config.get("database", "sqlite_busy_timeout"),
                               bool(config.get("core", "dags_are_paused_at_creation")))
        if check:
            store.check_ready()
        _store = store
    return _store


def close_store() -> None:
    """Close the process-wide store's connections (as the process ends)."""
    global _store
    if _store is not None:
        _store.close()
    _store = None


def reset_store() -> None:
    """Forget the process-wide store (after fork, or when tests switch databases)."""
    global _store
    if _store is not None:
        _store.engine.dispose(close=False)
    _store = None
