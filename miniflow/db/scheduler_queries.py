"""The scheduler's queries: due runs, runs to examine, task instances to queue within
the limits, jobs and their heartbeats, zombies and orphans.

A mixin of `miniflow.db.store.Store`, kept in its own file so each reads on its own.
Where several schedulers share PostgreSQL, the rows a scheduler is about to change are
locked with ``FOR UPDATE SKIP LOCKED``, so the others pass over them instead of waiting
or doing the same work; on SQLite only one scheduler runs.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, and_, bindparam, case, func, insert, select, tuple_, update

from miniflow.db.engine import run_built, serialize_transactions
from miniflow.db.engine import skip_locked as skip_locked_rows
from miniflow.db.gate import move_runs, move_tis
from miniflow.db.records import (
    DagRecord,
    JobRecord,
    QueuedTIRecord,
    RunProgress,
    RunRecord,
    TIRecord,
    TIStateRecord,
)
from miniflow.db.tables import (
    DAG_C,
    DAG_T,
    HIST_T,
    JOB_T,
    POOL_T,
    RUN_C,
    RUN_T,
    TI_C,
    TI_T,
    columns,
    state_filter,
    to_records,
    utcnow,
)
from miniflow.state import FINISHED, DagRunState, TaskInstanceState
from miniflow.taskinstancekey import TaskInstanceKey

if TYPE_CHECKING:
    from miniflow.timetables import DagRunInfo, DataInterval

__all__ = ["SchedulerQueries", "RunsToExamine", "ACTIVE_TI_STATES", "AUTOMATED_RUN_TYPES"]

TIS = TaskInstanceState
_LOCK_KEYS = {"queue": 72_001, "sync": 72_002}  # arbitrary, fixed advisory-lock ids
ACTIVE_TI_STATES = (TIS.QUEUED, TIS.RUNNING)
AUTOMATED_RUN_TYPES = ("scheduled", "backfill")


_STATE_ROWS = select(*columns(TIStateRecord, TI_T))
_STATE_ROWS_OF_RUNS = _STATE_ROWS.where(
    tuple_(TI_T.c.dag_id, TI_T.c.run_id).in_(bindparam("k_runs", expanding=True)))
_STATE_ROWS_CHANGED = _STATE_ROWS.where(TI_T.c.updated_at >= bindparam("since", type_=TI_T.c.updated_at.type))
_LAST_CHANGE = select(func.max(TI_T.c.updated_at))
_RUNS_PROGRESS = select(
    RUN_T.c.run_id, RUN_T.c.state, RUN_T.c.logical_date,
    func.count(case((state_filter(TI_T.c.state, FINISHED), 1))),
).select_from(RUN_T.outerjoin(TI_T, and_(TI_T.c.dag_id == RUN_T.c.dag_id, TI_T.c.run_id == RUN_T.c.run_id))).where(
    RUN_T.c.dag_id == bindparam("dag_id"), RUN_T.c.run_id.in_(bindparam("k_runs", expanding=True)),
).group_by(RUN_T.c.run_id, RUN_T.c.state, RUN_T.c.logical_date)


_ANY_QUEUED_RUN = select(RUN_T.c.run_id).where(RUN_T.c.state == str(DagRunState.QUEUED)).limit(1)
_ANY_SCHEDULED_TI = select(TI_T.c.task_id).where(TI_T.c.state == str(TIS.SCHEDULED)).limit(1)
_DAGS_RUNNING = select(RUN_T.c.dag_id).where(RUN_T.c.state == str(DagRunState.RUNNING)).distinct()
_DAGS_DUE = select(*DAG_C).where(
    DAG_T.c.is_paused.is_(False), DAG_T.c.is_active.is_(True),
    DAG_T.c.next_dagrun_create_after <= bindparam("now", type_=DAG_T.c.next_dagrun_create_after.type),
).order_by(DAG_T.c.next_dagrun_create_after)
_OCCUPANCY = select(TI_T.c.dag_id, TI_T.c.run_id, TI_T.c.task_id, TI_T.c.pool, TI_T.c.pool_slots).where(
    state_filter(TI_T.c.state, ACTIVE_TI_STATES))
_POOL_SLOTS = select(POOL_T.c.name, POOL_T.c.slots)
_TI_KEY_COLUMNS = (TI_T.c.dag_id, TI_T.c.run_id, TI_T.c.task_id, TI_T.c.map_index)
# The chosen task instances of one run, in one statement that says which of them it
# moved. By run, and with their task ids on their own as well, so that the database
# finds them by key: otherwise SQLite, planning without statistics, walks every
# scheduled instance of the DAG (by its index of states) to match the pairs.
_QUEUE_CHOSEN = (move_tis([TIS.SCHEDULED], TIS.QUEUED)
                 .where(TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.run_id == bindparam("k_run"),
                        TI_T.c.task_id.in_(bindparam("k_tasks", expanding=True)),
                        tuple_(TI_T.c.task_id, TI_T.c.map_index).in_(bindparam("k_pairs", expanding=True)))
                 .values(queued_at=bindparam("now", type_=TI_T.c.queued_at.type), queued_by=bindparam("by"))
                 .returning(*_TI_KEY_COLUMNS))


@functools.cache
def _scheduled_tis(scope: str, skip_locked: bool) -> Select[Any]:
    """Scheduled task instances of running runs, highest priority first, then the
    oldest run (the order of idx_ti_queue_order, so the database reads no further than
    the limit): of the runs named by the parameters (scope "runs"), of every run
    ("all"), or of the runs a scheduler runs -- no backfills, no paused DAGs
    ("scheduler"); of the DAGs and pools named (those with room), but not of the tasks
    named (at their limit over all runs, or within a run). Built once per shape."""
    query = (
        select(*columns(QueuedTIRecord, TI_T))
        .join(RUN_T, and_(RUN_T.c.dag_id == TI_T.c.dag_id, RUN_T.c.run_id == TI_T.c.run_id))
        .join(DAG_T, DAG_T.c.dag_id == TI_T.c.dag_id)
        .where(TI_T.c.state == str(TIS.SCHEDULED), RUN_T.c.state == str(DagRunState.RUNNING),
               TI_T.c.dag_id.in_(bindparam("k_dags", expanding=True)),
               TI_T.c.pool.in_(bindparam("k_pools", expanding=True)),
               tuple_(TI_T.c.dag_id, TI_T.c.task_id).not_in(bindparam("k_full_tasks", expanding=True)),
               tuple_(TI_T.c.dag_id, TI_T.c.run_id, TI_T.c.task_id).not_in(
                   bindparam("k_full_in_runs", expanding=True)))
        .order_by(TI_T.c.priority_weight.desc(), TI_T.c.logical_date, TI_T.c.task_id, TI_T.c.map_index)
        .limit(bindparam("limit"))
    )
    if scope == "runs":
        query = query.where(TI_T.c.dag_id == bindparam("k_dag"), TI_T.c.run_id.in_(bindparam("k_runs", expanding=True)))
    elif scope == "scheduler":
        query = query.where(RUN_T.c.run_type != "backfill", DAG_T.c.is_paused.is_(False))
    return skip_locked_rows(query, skip_locked, of=TI_T)


@functools.cache
def _running_runs(include_backfill: bool, by_dag: bool, by_run_ids: bool) -> Select[Any]:
    """The running runs a scheduling pass examines, in a stable order, the same in every
    scheduler, so their row locks never cross. Built once per shape."""
    runs = (select(*RUN_C).join(DAG_T, DAG_T.c.dag_id == RUN_T.c.dag_id)
            .where(RUN_T.c.state == str(DagRunState.RUNNING)))
    if not include_backfill:
        runs = runs.where(RUN_T.c.run_type != "backfill", DAG_T.c.is_paused.is_(False))
    if by_dag:
        runs = runs.where(RUN_T.c.dag_id == bindparam("k_dag"))
    if by_run_ids:
        runs = runs.where(RUN_T.c.run_id.in_(bindparam("k_runs", expanding=True)))
    return runs.order_by(RUN_T.c.dag_id, RUN_T.c.run_id)


@dataclass
class _Occupancy:
    """What the queued and running task instances take: instances by DAG, by task, by
    task within a run, and slots by pool; with each pool's size."""

    per_dag: Counter[str]
    per_task: Counter[tuple[str, str]]
    per_task_in_run: Counter[tuple[str, str, str]]
    per_pool: Counter[str]
    pools: dict[str, int]

    @classmethod
    def read(cls, conn: Connection, default_pool_slots: int) -> _Occupancy:
        rows = run_built(conn, _OCCUPANCY).all()
        per_pool: Counter[str] = Counter()
        for *_, pool, pool_slots in rows:
            per_pool[pool] += pool_slots
        pools = dict(run_built(conn, _POOL_SLOTS).all())
        pools.setdefault("default_pool", default_pool_slots)
        tis = [(dag_id, run_id, task_id) for dag_id, run_id, task_id, *_ in rows]
        return cls(Counter(dag_id for dag_id, _, _ in tis), Counter((dag_id, task_id) for dag_id, _, task_id in tis),
                   Counter(tis), per_pool, pools)

    def dags_with_room(self, dag_ids: Iterable[str], dag_limits: dict[str, int]) -> list[str]:
        """Those of `dag_ids` below their max_active_tasks (a DAG with no limit given
        is not this scheduler's)."""
        return sorted(d for d in set(dag_ids) if self.per_dag[d] < dag_limits.get(d, 0))

    def open_pools(self) -> list[str]:
        """The pools with a free slot (a pool that does not exist has none)."""
        return [name for name, size in self.pools.items() if self.per_pool[name] < size]

    def full_tasks(self, task_limits: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
        """The tasks ``(dag_id, task_id)`` at their max_active_tis_per_dag."""
        return sorted(task for task, n in self.per_task.items() if n >= task_limits.get(task, n + 1))

    def full_in_runs(self, run_task_limits: dict[tuple[str, str], int]) -> list[tuple[str, str, str]]:
        """The tasks ``(dag_id, run_id, task_id)`` at their max_active_tis_per_dagrun."""
        return sorted((d, r, t) for (d, r, t), n in self.per_task_in_run.items()
                      if n >= run_task_limits.get((d, t), n + 1))

    def admit(self, candidates: list[QueuedTIRecord], slots: int, dag_limits: dict[str, int],
              task_limits: dict[tuple[str, str], int],
              run_task_limits: dict[tuple[str, str], int]) -> list[QueuedTIRecord]:
        """The candidates that fit, in their order, each counted before the next is weighed."""
        chosen: list[QueuedTIRecord] = []
        for ti in candidates:
            if len(chosen) >= slots:
                break
            if self.per_dag[ti.dag_id] >= dag_limits[ti.dag_id]:
                continue
            limit = task_limits.get((ti.dag_id, ti.task_id))
            if limit is not None and self.per_task[ti.dag_id, ti.task_id] >= limit:
                continue
            limit = run_task_limits.get((ti.dag_id, ti.task_id))
            if limit is not None and self.per_task_in_run[ti.dag_id, ti.run_id, ti.task_id] >= limit:
                continue
            if self.per_pool[ti.pool] + ti.pool_slots > self.pools.get(ti.pool, 0):
                continue  # full, or an unknown pool: the task waits, as in Airflow
            self.per_dag[ti.dag_id] += 1
            self.per_task[ti.dag_id, ti.task_id] += 1
            self.per_task_in_run[ti.dag_id, ti.run_id, ti.task_id] += 1
            self.per_pool[ti.pool] += ti.pool_slots
            chosen.append(ti)
        return chosen


@dataclass(frozen=True)
class RunsToExamine:
    runs: list[RunRecord]
    all_rows: dict[tuple[str, str], list[TIStateRecord]]  # (dag_id, run_id) -> every task instance
    changed: list[TIStateRecord]  # task instances changed since the time asked for
    changed_until: dt.datetime | None  # the latest change these reads include


class SchedulerQueries:
    engine: Any
    skip_locked: bool
    change_margin: dt.timedelta

    write: Any
    read: Any

    def serialize_schedulers(self, conn: Connection, what: str) -> None:
        """Let one scheduler at a time into this transaction's critical step (PostgreSQL
        advisory lock, released at commit); SQLite runs one scheduler and needs none."""
        serialize_transactions(conn, _LOCK_KEYS[what])

    def _any(self, query: Select[Any]) -> bool:
        with self.read() as conn:
            return run_built(conn, query).first() is not None

    # --- jobs --------------------------------------------------------------------------

    def register_job(self, job_type: str, hostname: str, pid: int) -> int:
        now = utcnow()
        with self.write() as conn:
            return conn.execute(insert(JOB_T).values(
                job_type=job_type, hostname=hostname, pid=pid, state="running",
                start_date=now, latest_heartbeat=now,
            ).returning(JOB_T.c.id)).scalar_one()

    def heartbeat_job(self, job_id: int, loop_seconds: float | None = None) -> None:
        with self.write() as conn:
            conn.execute(update(JOB_T).where(JOB_T.c.id == job_id)
                         .values(latest_heartbeat=utcnow(), loop_seconds=loop_seconds))

    def end_job(self, job_id: int) -> None:
        with self.write() as conn:
            conn.execute(update(JOB_T).where(JOB_T.c.id == job_id).values(state="stopped", end_date=utcnow()))

    def live_jobs(self, job_type: str, threshold: float) -> list[JobRecord]:
        """Jobs still running whose heartbeat is fresher than `threshold` seconds."""
        since = utcnow() - dt.timedelta(seconds=threshold)
        with self.read() as conn:
            return to_records(JobRecord, conn.execute(select(*columns(JobRecord, JOB_T)).where(
                JOB_T.c.job_type == job_type, JOB_T.c.state == "running", JOB_T.c.latest_heartbeat >= since)))

    def end_dead_jobs(self, job_type: str, threshold: float) -> int:
        since = utcnow() - dt.timedelta(seconds=threshold)
        with self.write() as conn:
            return conn.execute(update(JOB_T).where(
                JOB_T.c.job_type == job_type, JOB_T.c.state == "running", JOB_T.c.latest_heartbeat < since,
            ).values(state="stopped", end_date=utcnow())).rowcount

    # --- creating runs -----------------------------------------------------------------

    def set_next_dagrun(self, dag_id: str, info: DagRunInfo | None, conn: Connection | None = None) -> None:
        values = dict(
            next_dagrun=info.logical_date if info else None,
            next_dagrun_data_interval_start=info.data_interval.start if info else None,
            next_dagrun_data_interval_end=info.data_interval.end if info else None,
            next_dagrun_create_after=info.run_after if info else None,
        )
        query = update(DAG_T).where(DAG_T.c.dag_id == dag_id).values(**values)
        if conn is not None:
            conn.execute(query)
            return
        with self.write() as own:
            own.execute(query)

    def dags_due(self, now: dt.datetime) -> list[DagRecord]:
        """Unpaused, active DAGs whose next run may be created now."""
        with self.read() as conn:
            return to_records(DagRecord, run_built(conn, _DAGS_DUE, {"now": now}))

    @contextmanager
    def lock_dag(self, dag_id: str) -> Iterator[Connection | None]:
        """A transaction holding the DAG's row, or None if another scheduler holds it."""
        with self.write() as conn:
            row = conn.execute(skip_locked_rows(select(DAG_T.c.dag_id).where(DAG_T.c.dag_id == dag_id),
                                                self.skip_locked)).first()
            yield conn if row is not None else None

    def last_automated_interval(self, dag_id: str, conn: Connection | None = None) -> DataInterval | None:
        from miniflow.timetables import DataInterval

        query = (select(RUN_T.c.data_interval_start, RUN_T.c.data_interval_end)
                 .where(RUN_T.c.dag_id == dag_id, RUN_T.c.run_type.in_(AUTOMATED_RUN_TYPES))
                 .order_by(RUN_T.c.logical_date.desc()).limit(1))
        if conn is None:
            with self.read() as own:
                row = own.execute(query).first()
        else:
            row = conn.execute(query).first()
        if row is None or row.data_interval_start is None:
            return None
        return DataInterval(row.data_interval_start, row.data_interval_end)

    def active_run_counts(self, conn: Connection | None = None) -> Counter[str]:
        """Queued plus running runs per DAG (max_active_runs counts both, as in Airflow)."""
        query = (select(RUN_T.c.dag_id, func.count())
                 .where(state_filter(RUN_T.c.state, [DagRunState.QUEUED, DagRunState.RUNNING]))
                 .group_by(RUN_T.c.dag_id))
        if conn is None:
            with self.read() as own:
                return Counter(dict(own.execute(query).all()))
        return Counter(dict(conn.execute(query).all()))

    # --- runs to start and to examine ----------------------------------------------------

    def start_queued_runs(self, limits: dict[str, int]) -> list[tuple[str, str]]:
        """queued -> running, oldest first, while each DAG has fewer than its limit running;
        only unpaused DAGs in `limits`. Backfill runs are backfill's business."""
        started: list[tuple[str, str]] = []
        if not self._any(_ANY_QUEUED_RUN):
            return started  # the usual pass: no write transaction
        with self.write() as conn:
            running = Counter(dict(conn.execute(
                select(RUN_T.c.dag_id, func.count()).where(RUN_T.c.state == str(DagRunState.RUNNING))
                .group_by(RUN_T.c.dag_id)).all()))
            queued = conn.execute(skip_locked_rows(
                select(RUN_T.c.dag_id, RUN_T.c.run_id)
                .join(DAG_T, DAG_T.c.dag_id == RUN_T.c.dag_id)
                .where(RUN_T.c.state == str(DagRunState.QUEUED), DAG_T.c.is_paused.is_(False),
                       RUN_T.c.run_type != "backfill")
                .order_by(RUN_T.c.logical_date), self.skip_locked, of=RUN_T)).all()
            for dag_id, run_id in queued:
                if dag_id not in limits or running[dag_id] >= limits[dag_id]:
                    continue
                moved = conn.execute(move_runs([DagRunState.QUEUED], DagRunState.RUNNING).where(
                    RUN_T.c.dag_id == dag_id, RUN_T.c.run_id == run_id,
                ).values(start_date=func.coalesce(RUN_T.c.start_date, utcnow()),
                         end_date=None)).rowcount
                if moved:
                    running[dag_id] += 1
                    started.append((dag_id, run_id))
        return started

    def runs_to_examine(self, needs_all: Callable[[tuple[str, str]], bool], since: dt.datetime | None,
                        include_backfill: bool = False, dag_id: str | None = None,
                        run_ids: list[str] | None = None) -> RunsToExamine:
        """Running runs of unpaused DAGs (backfill runs only when asked); every task
        instance of those runs `needs_all` asks for, and of the rest only the rows
        changed `since` (of any run: the caller's copies of runs outside this scope are
        kept current too). Three queries however many runs, in one snapshot, so the
        returned `changed_until` is where the next call picks up."""
        query = _running_runs(include_backfill, dag_id is not None, run_ids is not None)
        changed: list[TIStateRecord] = []
        with self.read() as conn:
            if since is None:
                changed_until = run_built(conn, _LAST_CHANGE).scalar()
            else:  # the latest stamp is among the rows changed since the previous latest one
                changed = to_records(TIStateRecord, run_built(
                    conn, _STATE_ROWS_CHANGED, {"since": since - self.change_margin}))
                changed_until = max((ti.updated_at for ti in changed if ti.updated_at is not None), default=since)
            runs = to_records(RunRecord, run_built(conn, query, {"k_dag": dag_id, "k_runs": run_ids}))
            keys = [(r.dag_id, r.run_id) for r in runs]
            whole: dict[tuple[str, str], list[TIStateRecord]] = {key: [] for key in keys if needs_all(key)}
            if whole:  # by key, not by run state: a run another scheduler just ended keeps its rows
                for ti in to_records(TIStateRecord, run_built(conn, _STATE_ROWS_OF_RUNS, {"k_runs": list(whole)})):
                    whole[ti.dag_id, ti.run_id].append(ti)
        return RunsToExamine(runs, whole, changed, changed_until)

    def previous_ti_states(self, dag_id: str, logical_date: dt.datetime,
                           task_ids: list[str]) -> dict[tuple[str, int], Any] | None:
        """States in the DAG's previous run (by logical date), by (task_id, map_index);
        None when there is none."""
        with self.read() as conn:
            prev = conn.execute(select(RUN_T.c.run_id).where(
                RUN_T.c.dag_id == dag_id, RUN_T.c.logical_date < logical_date,
            ).order_by(RUN_T.c.logical_date.desc()).limit(1)).first()
            if prev is None:
                return None
            return {(r.task_id, r.map_index): r.state for r in conn.execute(
                select(TI_T.c.task_id, TI_T.c.map_index, TI_T.c.state).where(
                    TI_T.c.dag_id == dag_id, TI_T.c.run_id == prev.run_id, TI_T.c.task_id.in_(task_ids)))}

    def runs_progress(self, dag_id: str, run_ids: list[str]) -> list[RunProgress]:
        """These runs' states and finished task instances, in one query."""
        if not run_ids:
            return []
        with self.read() as conn:
            return to_records(RunProgress, run_built(conn, _RUNS_PROGRESS, {"dag_id": dag_id, "k_runs": run_ids}))

    # --- queueing within the limits ------------------------------------------------------

    def queue_within_limits(
        self,
        slots: int,
        dag_limits: dict[str, int],
        task_limits: dict[tuple[str, str], int],
        job_id: int | None,
        include_backfill: bool = False,
        run_filter: tuple[str, list[str]] | None = None,
        default_pool_slots: int = 128,
        surely_some: bool = False,
        run_task_limits: dict[tuple[str, str], int] | None = None,
    ) -> list[QueuedTIRecord]:
        """Move scheduled task instances to queued, highest priority_weight first, within
        `slots` (the executor's), each DAG's max_active_tasks (`dag_limits`, which also
        names the DAGs this scheduler has loaded), per-task limits over all runs
        (`task_limits`) and within each run (`run_task_limits`), and pool slots. Returns
        the queued rows. Unless the caller knows some are `surely_some` (it just scheduled
        them), a read first asks whether any task instance is scheduled at all, so the
        usual idle pass opens no write transaction.

        The candidates are read in the queueing order (an index of it), up to a few
        times what may be taken, and only of DAGs with a running run and room below their
        max_active_tasks, in pools with a free slot, of tasks below their own limits: as
        Airflow leaves out its "starved" DAGs, pools and tasks, a full DAG's or task's many
        waiting instances then hide nobody else's, and a pass while the only busy DAG is
        full reads nothing."""
        if slots <= 0 or not (surely_some or self._any(_ANY_SCHEDULED_TI)):
            return []
        with self.write() as conn:
            self.serialize_schedulers(conn, "queue")  # limits hold across schedulers
            occupancy = _Occupancy.read(conn, default_pool_slots)
            query = _scheduled_tis("runs" if run_filter is not None else "all" if include_backfill else "scheduler",
                                   self.skip_locked)
            params: dict[str, Any] = {"limit": max(slots * 4, 64), "k_dag": run_filter and run_filter[0],
                                      "k_runs": run_filter and run_filter[1]}
            running = [run_filter[0]] if run_filter is not None else [dag_id for dag_id, in run_built(conn, _DAGS_RUNNING)]
            run_task_limits = run_task_limits or {}
            chosen: list[QueuedTIRecord] = []
            last_read: dict[str, list[Any]] | None = None
            while len(chosen) < slots:
                read: dict[str, list[Any]] = {
                    "k_dags": occupancy.dags_with_room(running, dag_limits), "k_pools": occupancy.open_pools(),
                    "k_full_tasks": occupancy.full_tasks(task_limits),
                    "k_full_in_runs": occupancy.full_in_runs(run_task_limits),
                }
                if not read["k_dags"] or not read["k_pools"] or read == last_read:
                    break  # nothing could be taken, or a read like the last one would find nothing more
                last_read = read
                found = to_records(QueuedTIRecord, run_built(conn, query, {**params, **read}))
                taken = {ti.key for ti in chosen}
                chosen += occupancy.admit([ti for ti in found if ti.key not in taken], slots - len(chosen),
                                          dag_limits, task_limits, run_task_limits)
                if len(found) < params["limit"]:
                    break  # that was every candidate
            by_run: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
            for ti in chosen:
                by_run[ti.dag_id, ti.run_id].append((ti.task_id, ti.map_index))
            moved = {tuple(row) for (dag_id, run_id), pairs in by_run.items() for row in run_built(conn, _QUEUE_CHOSEN, {
                "k_dag": dag_id, "k_run": run_id, "k_tasks": sorted({t for t, _ in pairs}), "k_pairs": pairs,
                "now": utcnow(), "by": str(job_id) if job_id else None})}
            return [ti for ti in chosen if ti.key in moved]

    # --- tries that ended without recording themselves -----------------------------------

    def fail_try(self, row: TIRecord, failed_try: int, retry_at: dt.datetime | None) -> bool:
        """The try `failed_try` of task instance `row` ended without recording an outcome
        (its process died, or it never started): up_for_retry when `retry_at` is given,
        else failed. Conditional on the row being unchanged, so a late report is a no-op."""
        now = utcnow()
        state = TIS.UP_FOR_RETRY if retry_at is not None else TIS.FAILED
        duration = (now - row.start_date).total_seconds() if row.start_date else None
        with self.write() as conn:
            changed = conn.execute(move_tis([TIS(row.state)], state).where(
                TI_T.c.dag_id == row.dag_id, TI_T.c.run_id == row.run_id, TI_T.c.task_id == row.task_id,
                TI_T.c.map_index == row.map_index, TI_T.c.try_number == row.try_number,
            ).values(end_date=now, next_try_at=retry_at, heartbeat=None,
                     duration=duration, try_number=failed_try, poke_count=0, first_poke_at=None)).rowcount
            if changed:
                conn.execute(insert(HIST_T).values(
                    dag_id=row.dag_id, run_id=row.run_id, task_id=row.task_id, map_index=row.map_index,
                    try_number=failed_try,
                    state=str(state), start_date=row.start_date or now, end_date=now, duration=duration,
                    hostname=row.hostname, pid=row.pid,
                ))
            return bool(changed)

    def ti_rows_for_keys(self, keys: list[TaskInstanceKey]) -> dict[TaskInstanceKey, TIStateRecord]:
        """Where these task instances stand, by key, in one query."""
        if not keys:
            return {}
        with self.read() as conn:
            rows = to_records(TIStateRecord, conn.execute(
                _STATE_ROWS.where(tuple_(*_TI_KEY_COLUMNS).in_(keys))))
            return {TaskInstanceKey(r.dag_id, r.run_id, r.task_id, r.map_index): r for r in rows}

    def zombies(self, threshold: float) -> list[TIRecord]:
        """Running tries whose heartbeat is older than `threshold` seconds."""
        since = utcnow() - dt.timedelta(seconds=threshold)
        with self.read() as conn:
            return to_records(TIRecord, conn.execute(select(*TI_C).where(
                TI_T.c.state == str(TIS.RUNNING), TI_T.c.heartbeat < since)))

    def reset_orphans(self, live_job_ids: list[int]) -> int:
        """Task instances queued by a scheduler that is gone go back to scheduled. Those
        queued by no scheduler (backfill, ``dags test``) are their owner's to recover."""
        owners = [str(j) for j in live_job_ids]
        with self.write() as conn:
            return conn.execute(move_tis([TIS.QUEUED], TIS.SCHEDULED).where(
                TI_T.c.queued_by.is_not(None), TI_T.c.queued_by.not_in(owners),
            ).values(queued_by=None)).rowcount
