"""The webserver's queries: paginated lists, the grid, users, and the admin actions
(mark success/failed). A mixin of `miniflow.db.store.Store`.

Every list is paginated in SQL and served from an index: no page loads all runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update

from miniflow.db.gate import move_runs, move_tis
from miniflow.db.records import (
    DagRecord,
    EventRecord,
    ImportErrorRecord,
    JobRecord,
    RunRecord,
    RunSummary,
    TIRecord,
    TISpan,
    UserRecord,
    XComRecord,
)
from miniflow.db.tables import (
    DAG_C,
    DAG_T,
    DS_QUEUE_T,
    DS_REF_T,
    ERR_T,
    HIST_T,
    JOB_T,
    LOG_T,
    RUN_C,
    RUN_DS_EVENT_T,
    RUN_T,
    SER_T,
    SESSION_T,
    SLA_T,
    TI_C,
    TI_T,
    USER_T,
    XCOM_T,
    columns,
    state_filter,
    to_record,
    to_records,
    utcnow,
)
from miniflow.state import FINISHED, TI_OVERRIDES, DagRunState, Override, TaskInstanceState

__all__ = ["WebQueries", "ROLES", "SORTABLE", "ALIASES"]

ROLES = ("Admin", "Op", "Viewer")
R = TypeVar("R")


class WebQueries:
    read: Any
    write: Any

    def _counted_page(self, record: type[R], query: Select[Any], order: tuple[Any, ...], limit: int,
                      offset: int) -> tuple[list[R], int]:
        """One page of `query`'s rows in `order` as `record`s, and how many rows it has in all."""
        with self.read() as conn:
            total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
            return to_records(record, conn.execute(query.order_by(*order).limit(limit).offset(offset))), total

    # --- DAGs ---------------------------------------------------------------------------

    def dag_page(self, search: str | None = None, tag: str | None = None, paused: bool | None = None,
                 limit: int = 25, offset: int = 0, order_by: str = "dag_id") -> tuple[list[DagRecord], int]:
        query = select(*DAG_C).where(DAG_T.c.is_active.is_(True))
        if search:
            query = query.where(_contains(DAG_T.c.dag_id, search))
        if paused is not None:
            query = query.where(DAG_T.c.is_paused.is_(paused))
        if tag:
            # Tags are a small JSON list per DAG: filter in Python, then paginate.
            with self.read() as conn:
                rows = [r for r in to_records(DagRecord, conn.execute(query.order_by(_order(DAG_T, order_by))))
                        if tag in (r.tags or [])]
            return rows[offset:offset + limit], len(rows)
        return self._counted_page(DagRecord, query, (_order(DAG_T, order_by),), limit, offset)

    def all_tags(self) -> list[str]:
        with self.read() as conn:
            tags = {t for (ts,) in conn.execute(select(DAG_T.c.tags).where(DAG_T.c.is_active.is_(True))) for t in ts or []}
        return sorted(tags)

    def recent_run_states(self, dag_ids: list[str], per_dag: int = 10) -> dict[str, list[RunSummary]]:
        """The latest runs of each DAG (newest first), in one query."""
        if not dag_ids:
            return {}
        ranked = select(
            *columns(RunSummary, RUN_T),
            func.row_number().over(partition_by=RUN_T.c.dag_id, order_by=RUN_T.c.logical_date.desc()).label("n"),
        ).where(RUN_T.c.dag_id.in_(dag_ids)).subquery()
        out: dict[str, list[RunSummary]] = {d: [] for d in dag_ids}
        query = select(*columns(RunSummary, ranked)).where(ranked.c.n <= per_dag).order_by(ranked.c.dag_id, ranked.c.n)
        with self.read() as conn:
            for run in to_records(RunSummary, conn.execute(query)):
                out[run.dag_id].append(run)
        return out

    def run_counts(self, dag_ids: list[str]) -> dict[str, dict[str, int]]:
        """How many runs each DAG has in each state, for the DAG list."""
        out: dict[str, dict[str, int]] = {d: {} for d in dag_ids}
        if dag_ids:
            with self.read() as conn:
                for dag_id, state, count in conn.execute(
                        select(RUN_T.c.dag_id, RUN_T.c.state, func.count()).where(RUN_T.c.dag_id.in_(dag_ids))
                        .group_by(RUN_T.c.dag_id, RUN_T.c.state)):
                    out[dag_id][state] = count
        return out

    # --- runs and task instances ----------------------------------------------------------

    def run_page(self, dag_id: str, limit: int = 25, offset: int = 0,
                 order_by: str = "-logical_date", state: str | None = None) -> tuple[list[RunRecord], int]:
        query = select(*RUN_C).where(RUN_T.c.dag_id == dag_id)
        if state:
            query = query.where(RUN_T.c.state == state)
        return self._counted_page(RunRecord, query, (_order(RUN_T, order_by),), limit, offset)

    def delete_dag(self, dag_id: str) -> int:
        """Delete a DAG's metadata: its runs and task instances with their history,
        XComs and SLA misses, its dataset wiring and its stored form (Airflow's delete
        DAG). Dataset events it produced and the audit log stay. The DAG comes back,
        with no history, if its file is still in the DAG folder. Returns the runs deleted."""
        with self.write() as conn:
            for table, column in ((HIST_T, HIST_T.c.dag_id), (XCOM_T, XCOM_T.c.dag_id), (SLA_T, SLA_T.c.dag_id),
                                  (RUN_DS_EVENT_T, RUN_DS_EVENT_T.c.dag_id), (TI_T, TI_T.c.dag_id),
                                  (DS_QUEUE_T, DS_QUEUE_T.c.target_dag_id), (DS_REF_T, DS_REF_T.c.dag_id)):
                conn.execute(delete(table).where(column == dag_id))
            runs = conn.execute(delete(RUN_T).where(RUN_T.c.dag_id == dag_id)).rowcount
            conn.execute(delete(SER_T).where(SER_T.c.dag_id == dag_id))
            conn.execute(delete(DAG_T).where(DAG_T.c.dag_id == dag_id))
            return runs

    def run_dates(self, dag_id: str, years: int) -> list[RunSummary]:
        """The DAG's runs in the latest `years` years that have runs (the calendar's),
        newest first; older runs are not read."""
        query = (select(*columns(RunSummary, RUN_T)).where(RUN_T.c.dag_id == dag_id)
                 .order_by(RUN_T.c.logical_date.desc()))
        found: list[RunSummary] = []
        shown: set[int] = set()
        with self.read() as conn:
            for row in to_records(RunSummary, conn.execute(query)):
                if row.logical_date.year not in shown:
                    if len(shown) == years:
                        break
                    shown.add(row.logical_date.year)
                found.append(row)
        return found

    def tis_for_runs(self, dag_id: str, run_ids: list[str]) -> list[TIRecord]:
        if not run_ids:
            return []
        with self.read() as conn:
            return to_records(TIRecord, conn.execute(
                select(*TI_C).where(TI_T.c.dag_id == dag_id, TI_T.c.run_id.in_(run_ids))))

    def grid_tis(self, dag_id: str, run_ids: list[str]) -> list[TISpan]:
        """What the grid shows of the task instances of `run_ids`, and nothing more."""
        if not run_ids:
            return []
        with self.read() as conn:
            return to_records(TISpan, conn.execute(select(*columns(TISpan, TI_T)).where(
                TI_T.c.dag_id == dag_id, TI_T.c.run_id.in_(run_ids))))

    def ti_page(self, dag_id: str, run_id: str, limit: int = 100, offset: int = 0,
                order_by: str = "task_id") -> tuple[list[TIRecord], int]:
        query = select(*TI_C).where(TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id)
        return self._counted_page(TIRecord, query, (_order(TI_T, order_by),), limit, offset)

    def xcom_entries(self, dag_id: str, run_id: str, task_id: str, key: str | None = None,
                     map_index: int = -1) -> list[XComRecord]:
        query = select(*columns(XComRecord, XCOM_T)).where(XCOM_T.c.dag_id == dag_id, XCOM_T.c.run_id == run_id,
                                     XCOM_T.c.task_id == task_id, XCOM_T.c.map_index == map_index)
        if key is not None:
            query = query.where(XCOM_T.c.key == key)
        with self.read() as conn:
            return to_records(XComRecord, conn.execute(query.order_by(XCOM_T.c.key)))

    def mark_tis(self, dag_id: str, run_id: str, task_ids: list[str], state: TaskInstanceState,
                 map_index: int | None = None) -> int:
        """An operator's override: set these task instances (every instance of a mapped
        task, or only `map_index`) to success or failed (a running try is left to
        finish). The run is re-examined by the scheduler."""
        now = utcnow()
        with self.write() as conn:
            query = move_tis(TI_OVERRIDES[Override.MARK][0], state, Override.MARK).where(
                TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id, TI_T.c.task_id.in_(task_ids))
            if map_index is not None:
                query = query.where(TI_T.c.map_index == map_index)
            count = conn.execute(query.values(
                end_date=now, start_date=func.coalesce(TI_T.c.start_date, now), next_try_at=None)).rowcount
            conn.execute(move_runs([DagRunState.SUCCESS, DagRunState.FAILED], DagRunState.QUEUED, Override.MARK).where(
                RUN_T.c.dag_id == dag_id, RUN_T.c.run_id == run_id,
            ).values(end_date=None))
            return count

    def mark_run(self, dag_id: str, run_id: str, state: DagRunState) -> bool:
        """Set a run and its unfinished task instances to success or failed."""
        ti_state = TaskInstanceState.SUCCESS if state == DagRunState.SUCCESS else TaskInstanceState.FAILED
        now = utcnow()
        with self.write() as conn:
            unfinished = TI_OVERRIDES[Override.MARK][0] - FINISHED  # a running try finishes on its own
            conn.execute(move_tis(unfinished, ti_state, Override.MARK).where(
                TI_T.c.dag_id == dag_id, TI_T.c.run_id == run_id,
            ).values(end_date=now, start_date=func.coalesce(TI_T.c.start_date, now)))
            return conn.execute(move_runs(list(DagRunState), state, Override.MARK).where(
                RUN_T.c.dag_id == dag_id, RUN_T.c.run_id == run_id).values(end_date=now)).rowcount > 0

    # --- browse: the runs and task instances of every DAG ------------------------------------

    def run_browse(self, dag_id_search: str | None = None, states: Sequence[str] = (),
                   start: dt.datetime | None = None, end: dt.datetime | None = None, run_type: str | None = None,
                   limit: int = 25, offset: int = 0) -> tuple[list[RunRecord], int]:
        """Runs of every DAG, newest logical date first, and how many match: DAG ids
        containing `dag_id_search`, in any of `states`, ``start <= logical_date < end``."""
        where = _browse_filter(RUN_T.c.dag_id, dag_id_search, RUN_T.c.state, states, start, end)
        if run_type:
            where.append(RUN_T.c.run_type == run_type)
        return self._counted_page(RunRecord, select(*RUN_C).where(*where),
                                  (RUN_T.c.logical_date.desc(), RUN_T.c.dag_id.desc()), limit, offset)

    def ti_browse(self, dag_id_search: str | None = None, task_id_search: str | None = None,
                  states: Sequence[str] = (), start: dt.datetime | None = None, end: dt.datetime | None = None,
                  limit: int = 25, offset: int = 0) -> tuple[list[TIRecord], int]:
        """Task instances of every DAG with their run's logical date, newest first, and
        how many match; filters as `run_browse`, the state "none" meaning no state yet.

        A few thousand matches are read and sorted in one query. More are found by
        walking the runs newest first, a batch at a time: SQLite, which plans without
        statistics, would otherwise read and sort every match (~250 ms at 200,000)."""
        joined = TI_T.join(RUN_T, (RUN_T.c.dag_id == TI_T.c.dag_id) & (RUN_T.c.run_id == TI_T.c.run_id))
        of_runs = _browse_filter(RUN_T.c.dag_id, dag_id_search, None, (), start, end)

        def of_tis(state: Any) -> list[Any]:
            where = _browse_filter(TI_T.c.dag_id, None, state, states, None, None)
            return where + ([_contains(TI_T.c.task_id, task_id_search)] if task_id_search else [])

        browsed = select(*columns(TIRecord, TI_T)).select_from(joined)
        order = (RUN_T.c.logical_date.desc(), RUN_T.c.dag_id.desc(), TI_T.c.task_id, TI_T.c.map_index)
        with self.read() as conn:
            # Every task instance has its run: only filters on runs need the join to count.
            counted = select(func.count()).select_from(joined if of_runs else TI_T).where(*of_runs, *of_tis(TI_T.c.state))
            total = conn.execute(counted).scalar_one()
            if total <= _SORTED_IN_ONE_QUERY:
                query = browsed.where(*of_runs, *of_tis(TI_T.c.state)).order_by(*order)
                return to_records(TIRecord, conn.execute(query.limit(limit).offset(offset))), total
            runs = select(RUN_T.c.logical_date, RUN_T.c.dag_id, RUN_T.c.run_id).where(*of_runs).order_by(*order[:2])
            # Within a batch the runs' keys must pick the index, not the state: as an
            # expression (state || '') the state has none.
            in_batch = of_tis(TI_T.c.state.concat(""))
            page: list[TIRecord] = []
            passed = 0  # matches in the batches before this one
            below: list[Any] = []  # runs after the last batch's last one, in the walk's order
            while len(page) < limit:
                keys = conn.execute(runs.where(*below).limit(_RUN_BATCH)).all()
                if not keys:
                    break
                last = keys[-1]
                below = [or_(RUN_T.c.logical_date < last.logical_date,
                             and_(RUN_T.c.logical_date == last.logical_date, RUN_T.c.dag_id < last.dag_id))]
                batch = or_(*(and_(TI_T.c.dag_id == k.dag_id, TI_T.c.run_id == k.run_id) for k in keys))
                here = conn.execute(select(func.count()).select_from(TI_T).where(batch, *in_batch)).scalar_one()
                if passed + here > offset + len(page):
                    page += to_records(TIRecord, conn.execute(
                        browsed.where(batch, *in_batch).order_by(*order).limit(limit - len(page))
                        .offset(max(0, offset - passed))))
                passed += here
            return page, total

    # --- import errors, events, health ---------------------------------------------------

    def import_error_page(self, limit: int = 100, offset: int = 0) -> tuple[list[ImportErrorRecord], int]:
        return self._counted_page(ImportErrorRecord, select(*columns(ImportErrorRecord, ERR_T)),
                                  (ERR_T.c.filename,), limit, offset)

    def event_page(self, dag_id: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[list[EventRecord], int]:
        query = select(*columns(EventRecord, LOG_T))
        if dag_id:
            query = query.where(LOG_T.c.dag_id == dag_id)
        return self._counted_page(EventRecord, query, (LOG_T.c.dttm.desc(), LOG_T.c.id.desc()), limit, offset)

    def latest_heartbeat(self, job_type: str = "scheduler") -> dt.datetime | None:
        with self.read() as conn:
            return conn.execute(select(func.max(JOB_T.c.latest_heartbeat)).where(
                JOB_T.c.job_type == job_type, JOB_T.c.state == "running")).scalar()

    def metrics_snapshot(self, recent: dt.timedelta = dt.timedelta(minutes=5)) -> dict[str, Any]:
        """What /metrics reports, read in one transaction: runs by state, unfinished task
        instances by state (finished ones only grow), the live schedulers, how long the
        oldest queued try has waited and the queued-to-start delays of recent tries."""
        now = utcnow()
        unfinished = [str(s) for s in TaskInstanceState if s not in FINISHED]
        with self.read() as conn:
            runs = dict(conn.execute(select(RUN_T.c.state, func.count()).group_by(RUN_T.c.state)).all())
            tis = dict(conn.execute(select(TI_T.c.state, func.count()).where(TI_T.c.state.in_(unfinished))
                                    .group_by(TI_T.c.state)).all())
            schedulers = to_records(JobRecord, conn.execute(select(*columns(JobRecord, JOB_T)).where(
                JOB_T.c.job_type == "scheduler", JOB_T.c.state == "running")))
            oldest = conn.execute(select(func.min(TI_T.c.queued_at)).where(TI_T.c.state == "queued")).scalar()
            started = conn.execute(select(TI_T.c.queued_at, TI_T.c.start_date).where(
                TI_T.c.updated_at >= now - recent, TI_T.c.start_date >= now - recent, TI_T.c.queued_at.is_not(None)))
            delays = sorted(max(0.0, (s - q).total_seconds()) for q, s in started)
            dags = dict(conn.execute(select(DAG_T.c.is_paused, func.count()).where(DAG_T.c.is_active.is_(True))
                                     .group_by(DAG_T.c.is_paused)).all())
            errors = conn.execute(select(func.count()).select_from(ERR_T)).scalar() or 0
        return {"now": now, "runs": runs, "tis": tis, "schedulers": schedulers, "oldest_queued": oldest,
                "queued_delays": delays, "dags": dags, "import_errors": errors}

    # --- users -----------------------------------------------------------------------------

    def create_user(self, username: str, password_hash: str, role: str, email: str | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
        with self.write() as conn:
            if conn.execute(select(USER_T.c.id).where(USER_T.c.username == username)).first():
                raise ValueError(f"user {username!r} exists already")
            conn.execute(insert(USER_T).values(username=username, password_hash=password_hash, role=role,
                                               email=email, created_at=utcnow()))

    def get_user(self, username: str) -> UserRecord | None:
        with self.read() as conn:
            return to_record(UserRecord, conn.execute(_USER.where(USER_T.c.username == username)).first())

    def pool_usage(self) -> dict[str, dict[str, int]]:
        """Per pool, the slots its running, queued and scheduled task instances take."""
        states = [TaskInstanceState.RUNNING, TaskInstanceState.QUEUED, TaskInstanceState.SCHEDULED]
        usage: dict[str, dict[str, int]] = {}
        with self.read() as conn:
            for pool, state, slots in conn.execute(
                    select(TI_T.c.pool, TI_T.c.state, func.sum(TI_T.c.pool_slots))
                    .where(TI_T.c.state.in_([str(s) for s in states])).group_by(TI_T.c.pool, TI_T.c.state)):
                usage.setdefault(pool, {})[state] = int(slots or 0)
        return usage

    def users(self) -> list[UserRecord]:
        with self.read() as conn:
            return to_records(UserRecord, conn.execute(_USER.order_by(USER_T.c.username)))

    def delete_user(self, username: str) -> bool:
        with self.write() as conn:
            conn.execute(delete(SESSION_T).where(SESSION_T.c.username == username))
            return conn.execute(delete(USER_T).where(USER_T.c.username == username)).rowcount > 0

    def set_password(self, username: str, password_hash: str) -> bool:
        """A new password also ends every session of the user."""
        with self.write() as conn:
            conn.execute(delete(SESSION_T).where(SESSION_T.c.username == username))
            return conn.execute(update(USER_T).where(USER_T.c.username == username)
                                .values(password_hash=password_hash)).rowcount > 0

    # --- UI sessions (see WebSessionModel) ------------------------------------------------

    def start_session(self, session_id: str, username: str) -> None:
        with self.write() as conn:
            conn.execute(insert(SESSION_T).values(session_id=session_id, username=username, created_at=utcnow()))

    def session_user(self, session_id: str) -> UserRecord | None:
        """The user of a live session, or None if it ended (or never was)."""
        with self.read() as conn:
            return to_record(UserRecord, conn.execute(
                _USER.join(SESSION_T, SESSION_T.c.username == USER_T.c.username)
                .where(SESSION_T.c.session_id == session_id)).first())

    def end_session(self, session_id: str) -> None:
        with self.write() as conn:
            conn.execute(delete(SESSION_T).where(SESSION_T.c.session_id == session_id))

    def touch_login(self, username: str) -> None:
        with self.write() as conn:
            conn.execute(update(USER_T).where(USER_T.c.username == username).values(last_login=utcnow()))


SORTABLE = {
    "dag": ("dag_id", "fileloc", "owners", "is_paused", "next_dagrun", "last_parsed"),
    "dag_run": ("run_id", "logical_date", "state", "run_type", "start_date", "end_date", "queued_at"),
    "task_instance": ("task_id", "state", "try_number", "start_date", "end_date", "duration", "priority_weight",
                      "pool", "queue", "operator"),
}
ALIASES = {"dag_run_id": "run_id", "execution_date": "logical_date"}


def _contains(column: Any, text: str) -> Any:
    """`column` contains `text` (any case), with LIKE's wildcards in `text` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


_USER = select(*columns(UserRecord, USER_T))
_SORTED_IN_ONE_QUERY = 5_000  # matching task instances that `ti_browse` reads and sorts at once
_RUN_BATCH = 100  # runs per step when `ti_browse` walks them newest first


def _browse_filter(dag_id: Any, dag_id_search: str | None, state: Any, states: Sequence[str],
                   start: dt.datetime | None, end: dt.datetime | None) -> list[Any]:
    where: list[Any] = []
    if dag_id_search:
        where.append(_contains(dag_id, dag_id_search))
    if states:
        where.append(state_filter(state, [None if s == "none" else s for s in states]))
    if start is not None:
        where.append(RUN_T.c.logical_date >= start)
    if end is not None:
        where.append(RUN_T.c.logical_date < end)
    return where


def _order(table: Any, order_by: str) -> Any:
    """``name`` or ``-name`` of a sortable column of `table`; anything else is a ValueError."""
    desc = order_by.startswith("-")
    name = order_by.lstrip("-")
    name = ALIASES.get(name, name)
    if name not in SORTABLE.get(table.name, ()):
        raise ValueError(f"cannot order by {name!r}; use one of {', '.join(SORTABLE.get(table.name, ()))}")
    column = table.c[name]
    return column.desc() if desc else column.asc()
