"""The scheduler: turns schedules into runs and runs into tries handed to an executor.

Its loop (`Scheduler.run`) is the whole algorithm; each step is a method below it.
Housekeeping that need not happen on every pass -- the job heartbeat, the zombie check
and the DAG folder rescan -- runs on APScheduler timers in the background.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from miniflow.callbacks import run_dag_callback
from miniflow.dag_processing import DagProcessor
from miniflow.dagrun import RunView, evaluate_run, skipping_parents
from miniflow.datasets import DatasetTriggeredTimetable
from miniflow.executors.base import TaskKey
from miniflow.mapping import MappedOperator, expand_input_of, expansion_length, is_mapped
from miniflow.operators.skip import XCOM_SKIPMIXIN_KEY
from miniflow.runner import fail_lost_row, fail_lost_try, succeed_without_running
from miniflow.serialization import task_rows
from miniflow.serialized_dag import SerializedDAG, TimetableUnavailable, deserialize_dag, with_own_code
from miniflow.sla import check_slas, has_slas
from miniflow.state import FINISHED, DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.timetables import DataInterval
from miniflow.xcom import deserialize_value

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import SchedulerStore
    from miniflow.db.records import RunRecord, TIRecord, TIStateRecord
    from miniflow.executors.base import BaseExecutor, TaskEvent

__all__ = ["Scheduler", "SchedulerAlreadyRunning"]

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _alive(job: Any) -> bool:
    """Whether a scheduler job's process lives; one on another host is taken at its word."""
    if job.hostname != socket.gethostname():
        return True
    try:
        os.kill(job.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _transient(exc: BaseException) -> bool:
    """Errors of the database or broker connection, which a later pass gets past."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, (DBAPIError, ConnectionError, TimeoutError)):
        return True
    return type(exc).__module__.split(".")[0] in ("redis", "kombu", "amqp")


def _one_line(exc: BaseException) -> str:
    """`exc` as one log line (a database error's text also holds the SQL and a link)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _quietly(job: Callable[[], object]) -> Callable[[], None]:
    """A housekeeping job whose database or broker errors are one warning line each,
    rather than a traceback every few seconds while the database is away; any other
    error still reaches APScheduler's log with its traceback."""

    @functools.wraps(job)
    def run() -> None:
        try:
            job()
        except Exception as exc:
            if not _transient(exc):
                raise
            log.warning("%s failed (%s); trying again at its next tick", job.__name__, _one_line(exc))

    return run


class SchedulerAlreadyRunning(RuntimeError):
    """SQLite serves one scheduler; a second one is refused."""


class Scheduler:
    def __init__(
        self,
        store: SchedulerStore,
        executor: BaseExecutor,
        dag_folder: str | None = None,
        include_examples: bool | None = None,
        num_runs: int = -1,
    ) -> None:
        from miniflow.config import get_config

        config = get_config()
        self.store = store
        self.executor = executor
        self.dag_folder = dag_folder
        self.include_examples = include_examples
        self.num_runs = num_runs
        self.loop_interval = float(config.get("scheduler", "loop_interval"))
        self.rescan_interval = float(config.get("scheduler", "dag_dir_list_interval"))
        self.zombie_threshold = float(config.get("scheduler", "zombie_threshold"))
        self.grace = float(config.get("scheduler", "shutdown_grace_period"))
        self.default_pool_slots = int(config.get("core", "default_pool_slots"))
        self.retry_cap = float(config.get("core", "max_task_retry_delay"))
        self.sla_interval = float(config.get("scheduler", "sla_check_interval")) \
            if config.get("scheduler", "check_slas") else None
        self.dags = {}
        self.job_id: int | None = None
        self.stopping = threading.Event()
        self._housekeeping: Any = None
        self.loop_seconds: float | None = None  # the last pass's work, reported with the heartbeat
        self.import_timeout = float(config.get("core", "dagbag_import_timeout"))
        self.isolated = bool(config.get("core", "isolate_dag_parsing"))
        self.first_parse_wait = float(config.get("scheduler", "first_parse_wait"))
        self.processor: DagProcessor | None = None  # the DAG folder, once loaded
        self._hashes: dict[str, str] = {}  # the serialized form each DAG was rebuilt from
        self._views: dict[tuple[str, str], RunView] = {}  # the running runs' states, kept current
        self._changed_until: dt.datetime | None = None  # the latest task-instance change read
        self.ready: list[TaskInstanceKey] = []  # what the last `schedule_runs` made ready to run

    @property
    def dags(self) -> dict[str, DAG]:
        """The DAGs this scheduler schedules, by id."""
        return self._dags

    @dags.setter
    def dags(self, dags: dict[str, DAG]) -> None:
        self._dags = dags
        self._limits = _Limits.of(dags)

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> None:
        """Schedule until stopped (SIGTERM/SIGINT) or until `num_runs` passes are done.

        Each pass:
          1. take up the DAGs that a rescan of the DAG folder found new or changed
          2. create the runs whose data interval has ended, and those of DAGs whose
             datasets were updated
          3. start queued runs, within each DAG's max_active_runs
          4. decide every task instance of the running runs: trigger rules, retries
             that are due, and the run's own end
          5. queue what may run, highest priority first, within parallelism, pools and
             max_active_tasks, and hand it to the executor
          6. wait until a try ends (or the loop interval passes), then handle tries
             that ended without recording their outcome

        A pass that fails on the database or the broker (a restart, a deadlock with
        another scheduler) is logged and tried again; every step is safe to repeat.
        """
        self.start()
        passes = 0
        try:
            while not self.stopping.is_set() and passes != self.num_runs:
                try:
                    began = time.perf_counter()
                    self.refresh_dags()
                    created = self.create_due_runs() + self.create_dataset_triggered_runs()
                    self.start_queued_runs()
                    self.schedule_runs()
                    queued = self.queue_task_instances()
                    wait = 0.0 if (created or queued) else self.loop_interval
                    worked = time.perf_counter() - began
                    events = self.executor.events(timeout=wait)
                    began = time.perf_counter()
                    self.handle_events(events)
                    self.loop_seconds = worked + time.perf_counter() - began
                except Exception as exc:
                    if not _transient(exc):
                        raise
                    log.warning("scheduler pass failed (%s); trying again", _one_line(exc))
                    self.stopping.wait(1.0)
                passes += 1
        finally:
            self.shutdown()

    # --- start and stop ----------------------------------------------------------------

    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        self._refuse_second_on_sqlite()
        self.job_id = self.store.register_job("scheduler", socket.gethostname(), os.getpid())
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.load_all_dags()  # meanwhile a local executor's fork server imports what its workers need
        self.executor.start()
        self.adopt_or_reset_orphans()
        self._housekeeping = BackgroundScheduler(daemon=True)
        jobs: list[tuple[Callable[[], object], float]] = [
            (self.heartbeat, max(1.0, self.zombie_threshold / 6)),
            (self.fail_zombies, max(1.0, self.zombie_threshold / 4)),
            (self.rescan_dags, self.rescan_interval),
            (self.adopt_or_reset_orphans, max(5.0, self.zombie_threshold)),
        ]
        if self.sla_interval:
            jobs.append((self.check_slas, self.sla_interval))
        for job, seconds in jobs:
            self._housekeeping.add_job(_quietly(job), "interval", seconds=seconds)
        self._housekeeping.start()
        log.info("scheduler %s started with %d DAGs, executor %s", self.job_id, len(self.dags),
                 type(self.executor).__name__)

    def shutdown(self) -> None:
        """Stop queueing; give running tries the grace period; record what was killed."""
        if self._housekeeping is not None:
            self._housekeeping.shutdown(wait=False)
        killed = self.executor.end(self.grace)
        for key in killed:
            self._fail_try(key, "killed at scheduler shutdown")
        if self.job_id is not None:
            self.store.end_job(self.job_id)
        log.info("scheduler %s stopped", self.job_id)

    def _refuse_second_on_sqlite(self) -> None:
        if not self.store.one_scheduler_only:
            return
        self.store.end_dead_jobs("scheduler", self.zombie_threshold)
        others = [job for job in self.store.live_jobs("scheduler", self.zombie_threshold) if _alive(job)]
        if others:
            other = others[0]
            raise SchedulerAlreadyRunning(
                f"another scheduler (pid {other.pid} on {other.hostname}) is running on this SQLite "
                "database; SQLite serves one scheduler -- use PostgreSQL to run several"
            )

    def heartbeat(self) -> None:
        if self.job_id is not None:
            self.store.heartbeat_job(self.job_id, self.loop_seconds)

    def check_slas(self, now: dt.datetime | None = None) -> int:
        """Record and report the SLA misses of the unpaused DAGs (see `miniflow.sla`)."""
        with_slas = [dag for dag in self.dags.values() if has_slas(dag)]
        active = self.store.unpaused(d.dag_id for d in with_slas) if with_slas else set()
        now = now or _now()
        found = 0
        for dag in with_slas:
            if dag.dag_id in active:
                try:
                    found += with_own_code(dag, self.store, lambda d, store: check_slas(store, d, now)) or 0
                except RuntimeError as exc:
                    log.error("DAG %s: SLA check failed (%s)", dag.dag_id, exc)
        return found

    def adopt_or_reset_orphans(self) -> None:
        """What dead schedulers left queued goes back to scheduled (at start, then now and
        then); running tries are left to the zombie check, since a worker may still be
        finishing them."""
        self.store.end_dead_jobs("scheduler", self.zombie_threshold)
        live = [j.id for j in self.store.live_jobs("scheduler", self.zombie_threshold) if _alive(j)]
        reset = self.store.reset_orphans(live)
        if reset:
            log.info("reset %d task instance(s) queued by a scheduler that is gone", reset)

    # --- 1. DAG files ----------------------------------------------------------------------

    def load_all_dags(self) -> None:
        """Parse the DAG folder in child processes (see `miniflow.dag_processing`), and
        schedule the DAGs they send back, rebuilt from their serialized form (see
        `miniflow.serialized_dag`): the scheduler imports no DAG file. The start waits
        up to ``scheduler.first_parse_wait`` seconds for the whole folder; past that, the
        loop starts with the DAGs the metadata DB holds from the last parse until their
        files are parsed again (as Airflow's scheduler starts beside its DAG processor),
        so a file that hangs at import holds up no DAG but its own."""
        self.processor = DagProcessor(self.store, self.dag_folder, self.include_examples, self.isolated)
        if not self.processor.start(self.first_parse_wait):
            log.warning("the DAG folder is still being parsed after %g s; scheduling the DAGs stored by the "
                        "last parse until their files are parsed again", self.first_parse_wait)
            self.dags = self._rebuilt({d.dag_id: (d.data, d.dag_hash) for d in self.store.stored_dags()})
        self.refresh_dags()

    def rescan_dags(self) -> None:
        """Look for new, changed and deleted DAG files (a housekeeping job; see
        `DagProcessor.rescan`)."""
        if self.processor is not None:
            self.processor.rescan()

    def refresh_dags(self) -> None:
        """Take up what parsing reported since the last pass: record it, and schedule
        the DAGs of the files reported from now on."""
        report = self.processor.take() if self.processor is not None else None
        if report is None:
            return
        self.store.sync_dags(report.changed, report.errors, processed_files=report.files)
        ids = {p.dag_id for p in report.changed}
        kept = {d: dag for d, dag in self.dags.items() if d not in ids and dag.fileloc not in report.files
                and (report.folder is None or dag.fileloc in report.folder)}
        self.dags = dags = {**kept, **self._rebuilt({p.dag_id: (p.data, p.dag_hash) for p in report.changed})}
        now = _now()
        for parsed in report.changed:
            if parsed.dag_id in dags:
                self._update_next_dagrun(dags[parsed.dag_id], now)

    def _rebuilt(self, serialized: dict[str, tuple[dict[str, Any], str]]) -> dict[str, DAG]:
        """The DAGs to schedule, from their serialized forms (and hashes); a DAG whose
        form did not change keeps the object it had."""
        dags: dict[str, DAG] = {}
        for dag_id, (data, dag_hash) in serialized.items():
            current = self.dags.get(dag_id)
            if current is not None and self._hashes.get(dag_id) == dag_hash:
                dags[dag_id] = current
                continue
            try:
                dags[dag_id] = deserialize_dag(data, self.import_timeout)
            except Exception:
                log.exception("DAG %s could not be rebuilt from its serialized form", dag_id)
                continue
            self._hashes[dag_id] = dag_hash
        return dags

    def _update_next_dagrun(self, dag: DAG, now: dt.datetime, conn: Any = None) -> None:
        last = self.store.last_automated_interval(dag.dag_id, conn)
        try:
            info = dag.timetable.next_dagrun_info(last, dag.time_restriction, now)
        except TimetableUnavailable as exc:  # the next run stays as recorded
            log.error("%s", exc)
            return
        self.store.set_next_dagrun(dag.dag_id, info, conn)

    # --- 2. and 3. runs ------------------------------------------------------------------

    def create_due_runs(self) -> int:
        """Create the runs whose data interval has ended (catchup, end_date and
        max_active_runs respected); at most one per DAG per pass, so one DAG with a
        long catchup does not hold up the others. A logical date that already has a
        run (a manual one, or ``dags test``) is skipped, as in Airflow."""
        now = _now()
        created = 0
        due = self.store.dags_due(now)
        active = self.store.active_run_counts() if due else None
        for row in due:
            dag = self.dags.get(row.dag_id)
            if dag is None or active is None or active[row.dag_id] >= dag.max_active_runs:
                continue
            try:
                created += self._create_due_run(dag, now)
            except TimetableUnavailable as exc:  # nothing written: asked again next pass
                log.error("%s", exc)
        return created

    def _create_due_run(self, dag: DAG, now: dt.datetime) -> int:
        """Create `dag`'s next due run, skipping logical dates that have one; 1 if created."""
        with self.store.lock_dag(dag.dag_id) as conn:
            if conn is None:
                return 0  # another scheduler is on it
            last = self.store.last_automated_interval(dag.dag_id, conn)
            info = dag.timetable.next_dagrun_info(last, dag.time_restriction, now)
            created = 0
            while info is not None and info.run_after <= now:
                run = self.store.create_run(
                    dag.dag_id, task_rows(dag, info.logical_date), f"scheduled__{info.logical_date.isoformat()}",
                    info.logical_date, info.data_interval, "scheduled", conn=conn)
                following = dag.timetable.next_dagrun_info(info.data_interval, dag.time_restriction, now)
                if following is not None and following.data_interval == info.data_interval:
                    following = None  # a timetable with nothing after this run (@once)
                info = following
                if run is not None:
                    created = 1
                    break
            self.store.set_next_dagrun(dag.dag_id, info, conn)
            return created

    def create_dataset_triggered_runs(self) -> int:
        """Create a run of each DAG whose dataset condition holds on its queued updates
        (see `miniflow.datasets`), within max_active_runs; the events since its previous
        dataset-triggered run go with it, and its queue is emptied."""
        queue = self.store.dataset_queue()
        aliases = self.store.alias_uris() if queue else {}
        active = self.store.active_run_counts() if queue else None
        created = 0
        for dag_id, updated in queue.items():
            dag = self.dags.get(dag_id)
            timetable = dag.timetable if dag is not None else None
            if not isinstance(timetable, DatasetTriggeredTimetable) or active is None:
                continue
            condition = timetable.dataset_condition
            if dag is None or active[dag_id] >= dag.max_active_runs:
                continue
            if not condition.evaluate(dict.fromkeys(updated, True), aliases):
                continue
            when = max(updated.values())
            uris = {*condition.iter_uris(), *(u for a in condition.iter_aliases() for u in aliases.get(a, ()))}
            with self.store.lock_dag(dag_id) as conn:
                if conn is None:
                    continue  # another scheduler is on it
                since = self.store.last_dataset_triggered_date(conn, dag_id, when)
                events = self.store.events_between(conn, uris, since, when)
                sources = {i: DataInterval(*span) for i, span in self.store.source_intervals(conn, events).items()}
                interval = timetable.data_interval_for_events(when, events, sources)
                run_id = f"dataset_triggered__{when.isoformat()}"
                if self.store.create_run(dag_id, task_rows(dag, when), run_id, when, interval, "dataset_triggered",
                                         conn=conn) is not None:
                    created += 1
                self.store.consume_dataset_queue(conn, dag_id, run_id, [e.id for e in events])
        return created

    def start_queued_runs(self) -> None:
        self.store.start_queued_runs(self._limits.runs)

    # --- 4. deciding task instances ---------------------------------------------------------

    def schedule_runs(self, include_backfill: bool = False, ready_state: TIS = TIS.SCHEDULED,
                      **scope: Any) -> dict[str, DagRunState]:
        """Apply the trigger rules to the running runs; finish runs that are over.
        Returns the runs that ended in this pass; `ready` holds the task instances it
        moved to `ready_state` (``dags test``, which queues nothing, has them queued).

        Only what changed is looked at: the scheduler keeps each running run's states
        (`RunView`), reads the task instances changed since its last read, and decides
        the tasks downstream of those changes. A run is read whole when first seen, when
        its DAG was reloaded, now and then as a backstop, and before it is ended."""
        now = _now()
        found = self.store.runs_to_examine(self._needs_all, self._changed_until,
                                           include_backfill=include_backfill, **scope)
        self._changed_until = found.changed_until
        for row in found.changed:
            view = self._views.get((row.dag_id, row.run_id))
            if view is not None:
                view.note(row)
        if not scope:  # forget runs that are no longer running
            running = {(r.dag_id, r.run_id) for r in found.runs}
            self._views = {key: view for key, view in self._views.items() if key in running}
        examined = []
        ended: dict[str, DagRunState] = {}
        for run in found.runs:
            dag = self.dags.get(run.dag_id)
            if dag is None:
                continue
            if _timed_out(dag, run, now):
                if self.time_out_run(dag, run):
                    ended[run.run_id] = DagRunState.FAILED
                continue
            key = (run.dag_id, run.run_id)
            whole = key in found.all_rows
            if whole:
                self._load_view(dag, run, found.all_rows[key])
            view = self._views[key]
            past_allows, skip_orders = self._past_check(dag, run), self._skip_orders(dag, run)
            decisions = evaluate_run(dag, view.states, now, past_allows=past_allows,
                                     candidates=view.take_candidates(), skip_orders=skip_orders)
            if decisions.outcome is not None and not whole:  # confirm on a whole read before ending the run
                view = self._load_view(dag, run, self.store.ti_states(run.dag_id, run.run_id))
                decisions = evaluate_run(dag, view.states, now, past_allows=past_allows,
                                         candidates=view.take_candidates(), skip_orders=skip_orders)
            view.held = set(decisions.held_by_past)
            examined.append((dag, run, decisions))
        ready = self.store.record_all_decisions([(r.dag_id, r.run_id, d) for _, r, d in examined], ready_state)
        undecided = set()  # runs whose new instances each await their own decision
        for dag, run, decisions in examined:
            for task_id in decisions.expand:
                self._views.pop((run.dag_id, run.run_id), None)  # its instances change keys
                expanded = self.expand_mapped_task(dag, run.run_id, task_id, ready_state)
                if expanded is None:
                    undecided.add(run.run_id)
                else:
                    ready += expanded
        for dag, run, decisions in examined:
            if decisions.outcome is not None and self.store.set_run_state(
                    run.dag_id, run.run_id, decisions.outcome, expected=[DagRunState.RUNNING]):
                ended[run.run_id] = decisions.outcome
                self._run_finished(dag, run, decisions.outcome)
        if undecided:
            ended.update(self.schedule_runs(include_backfill, ready_state, **{**scope, "run_ids": sorted(undecided)}))
            ready += self.ready
        self.ready = ready
        return ended

    def _load_view(self, dag: DAG, run: RunRecord, rows: list[TIStateRecord]) -> RunView:
        states = {(r.task_id, r.map_index): r.state for r in rows}
        if {r.task_id for r in rows} != dag.task_dict.keys():
            states = self._verify_integrity(dag, run, states)
        view = self._views[(run.dag_id, run.run_id)] = RunView.load(
            dag, states, {(r.task_id, r.map_index): r.next_try_at for r in rows})
        return view

    def _needs_all(self, key: tuple[str, str]) -> bool:
        """Whether a run's task instances are read whole this pass (see `schedule_runs`)."""
        view = self._views.get(key)
        return view is None or view.dag is not self.dags.get(key[0]) or view.stale()

    def _verify_integrity(self, dag: DAG, run: RunRecord,
                          states: dict[tuple[str, int], Any]) -> dict[tuple[str, int], Any]:
        """The DAG file changed while the run was on: add new tasks, retire removed ones."""
        present = {t for t, _ in states}
        window = None if run.run_type == "backfill" else run.logical_date
        new = [row for row in task_rows(dag, window) if row["task_id"] not in present]
        removed = [t for t in present if t not in dag.task_dict
                   and any(s not in FINISHED for (tid, _), s in states.items() if tid == t)]
        if new or removed:
            self.store.verify_integrity(dag.dag_id, run.run_id, new, removed)
        states = {**states, **{(row["task_id"], -1): None for row in new}}
        return {(t, i): (TIS.REMOVED if t in removed and s not in FINISHED else s) for (t, i), s in states.items()}

    def time_out_run(self, dag: DAG, run: RunRecord) -> bool:
        """A run past its DAG's dagrun_timeout fails; its unfinished task instances are
        skipped, and running tries stop (their heartbeat sees it), as in Airflow."""
        if not self.store.set_run_state(run.dag_id, run.run_id, DagRunState.FAILED, [DagRunState.RUNNING]):
            return False
        self.store.stop_run(run.dag_id, run.run_id, running_to=TIS.SKIPPED)
        log.info("Run %s of %s has timed-out", run.run_id, run.dag_id)
        self._dag_callback(dag, run.run_id, DagRunState.FAILED, reason="timed_out")
        self._after_failure(dag)
        return True

    def expand_mapped_task(self, dag: DAG, run_id: str, task_id: str,
                           ready_state: TIS = TIS.SCHEDULED) -> list[TaskInstanceKey] | None:
        """Count a mapped task's items and give it one instance per item (see
        `miniflow.mapping`); no items skip it, a missing upstream value fails it upstream.
        The instances of a plain mapped task move to `ready_state` at once, and are
        returned; those of a task in a mapped task group each wait for their own trigger
        rule (None is returned)."""
        task = dag.task_dict[task_id]
        length = expansion_length(expand_input_of(task), lambda arg: self.store.xcom_length(
            dag.dag_id, run_id, arg.operator.task_id, arg.key, is_mapped(arg.operator)))
        if length is None:
            log.error("cannot expand %s in %s: an upstream value it maps over is missing", task_id, run_id)
            self.store.set_ti_states(dag.dag_id, run_id, [task_id], TIS.UPSTREAM_FAILED, [None])
            return []
        row = next(r for r in task_rows(dag) if r["task_id"] == task_id)
        in_group = not isinstance(task, MappedOperator)
        ready = self.store.expand_ti(dag.dag_id, run_id, task_id, length,
                                     {k: v for k, v in row.items() if k != "task_id"},
                                     ready_state=None if in_group else ready_state)
        return None if in_group and length > 0 else ready

    def _past_check(self, dag: DAG, run: RunRecord) -> Any:
        """depends_on_past / wait_for_downstream, asked only for tasks that use them."""
        if not dag.derived("uses_depends_on_past", lambda: any(t.depends_on_past for t in dag.task_dict.values())):
            return None
        cache: dict[str, Any] = {}

        def allows(task_id: str, map_index: int) -> bool:
            task = dag.task_dict[task_id]
            if not task.depends_on_past:
                return True
            if "prev" not in cache:
                cache["prev"] = self.store.previous_ti_states(dag.dag_id, run.logical_date, list(dag.task_dict))
            prev = cache["prev"]
            if prev is None:  # the first run: ignore_first_depends_on_past
                return True
            done = (TIS.SUCCESS, TIS.SKIPPED)
            if prev.get((task_id, map_index)) not in done:
                return False
            if task.wait_for_downstream:
                return all(s in done for (t, _), s in prev.items() if t in task.downstream_task_ids)
            return True

        return allows

    def _skip_orders(self, dag: DAG, run: RunRecord) -> Callable[[str], Any] | None:
        """What the run's branching and short-circuiting tasks said to skip (their
        ``skipmixin_key`` XCom), read when a task below one of them would run."""
        if not skipping_parents(dag):
            return None
        said: dict[str, Any] = {}

        def orders(task_id: str) -> Any:
            if task_id not in said:
                rows = self.store.xcom_pull(dag.dag_id, run.run_id, [task_id], XCOM_SKIPMIXIN_KEY, [-1])
                said[task_id] = deserialize_value(rows[0].value) if rows else None
            return said[task_id]

        return orders

    def _run_finished(self, dag: DAG, run: RunRecord, outcome: DagRunState) -> None:
        log.info("run %s of %s ended: %s", run.run_id, dag.dag_id, outcome)
        self._dag_callback(dag, run.run_id, outcome)
        if outcome == DagRunState.FAILED:
            self._after_failure(dag)
        if run.run_type == "scheduled":  # a slot under max_active_runs freed up
            self._update_next_dagrun(dag, _now())

    def _dag_callback(self, dag: DAG, run_id: str, outcome: DagRunState, reason: str | None = None) -> None:
        """The DAG's callback for a run that ended. For a DAG rebuilt from its serialized
        form it runs in a child that imports the file, not waited for, as Airflow's DAG
        processor runs it: a slow callback does not hold up the loop."""
        name = "on_success_callback" if outcome == DagRunState.SUCCESS else "on_failure_callback"
        if isinstance(dag, SerializedDAG) and name not in dag.callbacks:
            return
        try:
            with_own_code(dag, self.store, lambda d, store: run_dag_callback(d, store, run_id, outcome, reason),
                          wait=False)
        except OSError as exc:
            log.error("DAG %s: %s of %s not run (%s)", dag.dag_id, name, run_id, exc)

    def _after_failure(self, dag: DAG) -> None:
        """max_consecutive_failed_dag_runs: pause a DAG whose last N runs all failed."""
        limit = dag.max_consecutive_failed_dag_runs
        if limit <= 0:
            return
        last = self.store.list_runs(dag.dag_id, limit=limit)
        if len(last) == limit and all(r.state == DagRunState.FAILED for r in last):
            self.store.set_paused(dag.dag_id, True)
            reason = f"Paused because its last {limit} DAG runs failed (max_consecutive_failed_dag_runs)"
            self.store.log_event("pause", owner="scheduler", dag_id=dag.dag_id, extra=reason)
            log.warning("Pausing DAG %s: its last %s runs failed", dag.dag_id, limit)

    # --- 5. queueing -------------------------------------------------------------------------

    def queue_task_instances(self, include_backfill: bool = False, run_filter: Any = None) -> int:
        """Hand what may run to the executor, within pools and limits; a task with
        nothing to run (an EmptyOperator with no callback or outlet to honour) just
        succeeds."""
        rows = self.store.queue_within_limits(
            self.executor.open_slots, self._limits.tasks_per_dag, self._limits.per_task, self.job_id,
            run_task_limits=self._limits.per_task_in_run,
            include_backfill=include_backfill, run_filter=run_filter, surely_some=bool(self.ready),
            default_pool_slots=self.default_pool_slots)
        self.ready = []
        for ti in rows:
            dag = self.dags[ti.dag_id]
            task = dag.task_dict.get(ti.task_id)
            key = TaskInstanceKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
            if task is not None and task.nothing_to_run:
                succeed_without_running(self.store, key)
                continue
            next_try = ti.try_number + (0 if ti.poke_count else 1)  # a reschedule continues its try
            self.executor.queue(TaskKey(ti.dag_id, ti.run_id, ti.task_id, next_try, dag.fileloc, ti.queue, ti.map_index))
        return len(rows)

    # --- 6. tries that ended badly -------------------------------------------------------------

    def handle_events(self, events: list[TaskEvent]) -> None:
        for event in events:
            if not event.ok:
                self._fail_try(event.key, event.detail)

    def _fail_try(self, key: TaskKey, reason: str) -> None:
        """The try's process ended without recording an outcome: fail it, or retry."""
        dag = self.dags.get(key.dag_id)
        fail_lost_try(self.store, key, dag.task_dict.get(key.task_id) if dag else None, reason, self.retry_cap)

    def _fail_row(self, row: TIRecord, reason: str) -> None:
        dag = self.dags.get(row.dag_id)
        fail_lost_row(self.store, row, dag.task_dict.get(row.task_id) if dag else None, reason, self.retry_cap)

    def fail_zombies(self, dag_id: str | None = None) -> None:
        """Running tries whose heartbeat stopped (of one DAG, or all): their process is gone."""
        for row in self.store.zombies(self.zombie_threshold):
            if dag_id is None or row.dag_id == dag_id:
                self._fail_row(row, f"no heartbeat for {self.zombie_threshold:g} s (zombie)")


@dataclass(frozen=True)
class _Limits:
    """The DAGs' limits, gathered when the DAGs change rather than on every pass."""

    runs: dict[str, int]  # max_active_runs, by DAG
    tasks_per_dag: dict[str, int]  # max_active_tasks, by DAG
    per_task: dict[tuple[str, str], int]  # max_active_tis_per_dag, by (DAG, task)
    per_task_in_run: dict[tuple[str, str], int]  # max_active_tis_per_dagrun, by (DAG, task)

    @classmethod
    def of(cls, dags: dict[str, DAG]) -> _Limits:
        return cls({d: dag.max_active_runs for d, dag in dags.items()},
                   {d: dag.max_active_tasks for d, dag in dags.items()},
                   {(d, t.task_id): t.max_active_tis_per_dag for d, dag in dags.items()
                    for t in dag.task_dict.values() if t.max_active_tis_per_dag},
                   {(d, t.task_id): t.max_active_tis_per_dagrun for d, dag in dags.items()
                    for t in dag.task_dict.values() if t.max_active_tis_per_dagrun})


def _timed_out(dag: DAG, run: RunRecord, now: dt.datetime) -> bool:
    timeout = dag.dagrun_timeout
    if timeout is None or run.start_date is None:
        return False
    if not isinstance(timeout, dt.timedelta):
        timeout = dt.timedelta(seconds=float(timeout))
    return bool(run.start_date < now - timeout)
