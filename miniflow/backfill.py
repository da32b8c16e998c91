"""Backfill: run a DAG over a range of past dates, without the scheduler.

It creates one run per schedule interval whose logical date lies in [start, end] and
drives them with the scheduler's own steps (decide, queue, hand to an executor),
restricted to those runs, at most ``max_active_runs`` at a time. It works on paused
DAGs, and it is safe beside a running scheduler: a logical date never gets two runs (an
existing run is reused), and every task transition is conditional, so a task instance
is run by one of them only. The scheduler leaves backfill runs alone.

Interrupted (Ctrl-C), it stops queueing, ends running tries and resets them, so running
the same command again continues where it stopped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miniflow.exceptions import MiniflowError, UnknownPoolError
from miniflow.serialization import parsed_dag, task_rows
from miniflow.state import DagRunState, Override
from miniflow.state import TaskInstanceState as TIS
from miniflow.timetables import DagRunInfo, TimeRestriction

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import SchedulerStore
    from miniflow.db.records import RunProgress
    from miniflow.executors.base import BaseExecutor

__all__ = ["backfill_infos", "Backfill", "BackfillProgress"]

FINISHED_RUN = (DagRunState.SUCCESS, DagRunState.FAILED)


MAX_BACKFILL_RUNS = 20_000


def backfill_infos(dag: DAG, start: dt.datetime, end: dt.datetime) -> list[DagRunInfo]:
    """The scheduled runs with a logical date in [start, end], oldest first; more than
    `MAX_BACKFILL_RUNS` is an error (a range typed wrong), not hours of work."""
    restriction = TimeRestriction(start, end, catchup=True)
    infos: list[DagRunInfo] = []
    last = None
    while True:
        try:
            info = dag.timetable.next_dagrun_info(last, restriction, start)
        except (OverflowError, ValueError):  # past the last representable date
            return infos
        if info is None or (last is not None and info.data_interval == last):
            return infos
        if len(infos) >= MAX_BACKFILL_RUNS:
            raise BackfillTooLarge(
                f"{start.date()} to {end.date()} holds more than {MAX_BACKFILL_RUNS:,} runs of {dag.dag_id}; "
                "backfill a narrower range")
        infos.append(info)
        last = info.data_interval


class BackfillTooLarge(MiniflowError, ValueError):
    """A backfill range with too many runs."""


@dataclass
class BackfillProgress:
    runs_total: int = 0
    runs_done: int = 0
    tasks_total: int = 0
    tasks_done: int = 0
    states: dict[str, str] = field(default_factory=dict)  # run_id -> run state


class Backfill:
    def __init__(
        self,
        store: SchedulerStore,
        executor: BaseExecutor,
        dag: DAG,
        start: dt.datetime,
        end: dt.datetime,
        reset_dagruns: bool = False,
        rerun_failed_tasks: bool = False,
        max_active_runs: int | None = None,
    ) -> None:
        from miniflow.scheduler import Scheduler

        self.store, self.executor, self.dag = store, executor, dag
        self.infos = backfill_infos(dag, start, end)
        self.reset_dagruns = reset_dagruns
        self.rerun_failed_tasks = rerun_failed_tasks
        self.max_active_runs = max_active_runs or dag.max_active_runs
        # The scheduler's steps, pointed at this DAG only.
        self.steps = Scheduler(store, executor)
        self.steps.dags = {dag.dag_id: dag}
        self.run_ids: list[str] = []
        self.ended: dict[str, str] = {}  # run_id -> final state, of the runs seen finished

    def prepare_runs(self) -> None:
        """Create the missing runs; reuse (or, with reset_dagruns, recreate) existing ones."""
        dag = self.dag
        for info in self.infos:
            existing = self.store.find_run(dag.dag_id, info.logical_date)
            if existing is not None and self.reset_dagruns:
                self.store.delete_run(dag.dag_id, existing.run_id)
                existing = None
            if existing is None:
                run_id = f"backfill__{info.logical_date.isoformat()}"
                run = self.store.create_run(dag.dag_id, task_rows(dag), run_id, info.logical_date,
                                            info.data_interval, "backfill", state=DagRunState.QUEUED)
                if run is None:  # the scheduler created it a moment ago
                    run = self.store.find_run(dag.dag_id, info.logical_date)
                assert run is not None
                self.run_ids.append(run.run_id)
                continue
            self.run_ids.append(existing.run_id)
            self._reset_stale(existing.run_id)
            if self.rerun_failed_tasks and existing.state == DagRunState.FAILED:
                failed = [(dag.dag_id, existing.run_id, r.task_id, dag.task_dict[r.task_id].retries)
                          for r in self.store.tis_of_run(dag.dag_id, existing.run_id)
                          if r.state in (TIS.FAILED, TIS.UPSTREAM_FAILED) and r.task_id in dag.task_dict]
                self.store.clear_tis(failed)

    def check_pools(self) -> None:
        """Refuse, before any run is made, a DAG whose tasks name pools that do not exist:
        their tries would wait forever (Airflow's backfill stops on them too)."""
        known = set(self.store.pools()) | {"default_pool"}
        unknown = sorted({t.pool for t in self.dag.task_dict.values()} - known)
        if unknown:
            users = sorted(t.task_id for t in self.dag.task_dict.values() if t.pool in unknown)
            raise UnknownPoolError(
                f"DAG {self.dag.dag_id!r}: unknown pool(s) {', '.join(map(repr, unknown))}, used by "
                f"{', '.join(users[:5])}{' ...' if len(users) > 5 else ''}; "
                "create them with 'miniflow pools set NAME SLOTS'")

    def run(self, on_progress: Callable[[BackfillProgress], None] | None = None) -> BackfillProgress:
        self.check_pools()
        self.store.sync_dags([parsed_dag(self.dag)])
        self.prepare_runs()
        self.executor.start()
        interrupted = False
        zombie_check = time.monotonic()
        try:
            runs, progress = self._progress()
            while progress.runs_done < progress.runs_total:
                if time.monotonic() >= zombie_check:  # tries a killed backfill left running
                    self.steps.fail_zombies(self.dag.dag_id)
                    zombie_check = time.monotonic() + max(1.0, self.steps.zombie_threshold / 4)
                self._start_runs(runs)
                ended = self.steps.schedule_runs(include_backfill=True, dag_id=self.dag.dag_id, run_ids=self.run_ids)
                queued = self.steps.queue_task_instances(run_filter=(self.dag.dag_id, self.run_ids))
                self.steps.handle_events(self.executor.events(timeout=0.0 if queued or ended else 0.2))
                runs, progress = self._progress()
                if on_progress:
                    on_progress(progress)
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            killed = self.executor.end(grace=0.0 if interrupted else 30.0)
            if interrupted:
                self._reset_unfinished(killed)
        return progress

    def _start_runs(self, runs: list[RunProgress]) -> None:
        """queued -> running for this backfill's runs (oldest first), within max_active_runs."""
        mine = sorted(runs, key=lambda r: r.logical_date)
        running = sum(1 for r in mine if r.state == DagRunState.RUNNING)
        for r in mine:
            if running >= self.max_active_runs:
                break
            if r.state == DagRunState.QUEUED and self.store.set_run_state(
                    self.dag.dag_id, r.run_id, DagRunState.RUNNING, expected=[DagRunState.QUEUED]):
                running += 1

    def _progress(self) -> tuple[list[RunProgress], BackfillProgress]:
        """This backfill's unfinished runs, and how far it has come. A run seen finished
        is not read again, so a pass costs what is still to do."""
        tasks, total = len(self.dag.task_dict), len(set(self.run_ids))
        runs = self.store.runs_progress(self.dag.dag_id, [r for r in self.run_ids if r not in self.ended])
        self.ended.update((r.run_id, r.state) for r in runs if r.state in FINISHED_RUN)
        going = [r for r in runs if r.run_id not in self.ended]
        progress = BackfillProgress(total, len(self.ended), tasks * total,
                                    len(self.ended) * tasks + sum(r.finished_tis for r in going),
                                    {**{r.run_id: r.state for r in going}, **self.ended})
        return going, progress

    def _reset_stale(self, run_id: str) -> None:
        """Tries an earlier, killed backfill left queued (queued by no scheduler) run again."""
        stale = [r.task_id for r in self.store.tis_of_run(self.dag.dag_id, run_id)
                 if r.state == TIS.QUEUED and r.queued_by is None]
        self.store.set_ti_states(self.dag.dag_id, run_id, stale, None, [TIS.QUEUED], override=Override.RESET)

    def _reset_unfinished(self, killed: list[Any]) -> None:
        """After Ctrl-C: tries that were cut off, and queued ones, will run again."""
        for key in killed:
            self.store.set_ti_states(key.dag_id, key.run_id, [key.task_id], None,
                                     [TIS.RUNNING, TIS.UP_FOR_RETRY, TIS.FAILED, TIS.QUEUED], override=Override.RESET)
        for run_id in self.run_ids:
            queued = [r.task_id for r in self.store.ti_states(self.dag.dag_id, run_id)
                      if r.state in (TIS.QUEUED, TIS.SCHEDULED)]
            self.store.set_ti_states(self.dag.dag_id, run_id, queued, None, [TIS.QUEUED, TIS.SCHEDULED],
                                     override=Override.RESET)
