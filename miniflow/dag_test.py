"""``miniflow dags test``: one whole DAG run in this process, no scheduler needed.

It is the scheduler's own decisions, scoped to one run, with the tries run here: decide
the run (`Scheduler.schedule_runs`), run each try it made ready with the task runner,
highest priority first, and repeat until the run is over. As in Airflow's ``dags
test``, there is no executor and no queueing step: what may run is decided straight to
queued, so pools and concurrency limits do not apply, and a pool that does not exist
here (a DAG written for another deployment) stops nothing. Retries wait for their
delay. Everything is recorded in the metadata DB like any run; an earlier run of the DAG
for the same logical date is replaced, as in Airflow.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from miniflow.executors.sequential import SequentialExecutor
from miniflow.params import resolve_params
from miniflow.runner import run_task_instance, succeed_without_running
from miniflow.scheduler import Scheduler
from miniflow.serialization import parsed_dag, priority_weights, task_rows
from miniflow.state import DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.task_log import capture_levels
from miniflow.taskinstance import DagRun

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import SchedulerStore
    from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["DagTestResult", "run_dag_test", "run_until_done"]

HELD_ELSEWHERE_POLL = 0.1  # seconds between looks at a try another process runs


@dataclass
class DagTestResult:
    run_id: str
    state: DagRunState
    task_instances: list[Any]  # rows of the task_instance table, in topological order


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def run_dag_test(
    dag: DAG,
    logical_date: dt.datetime | None = None,
    conf: dict[str, Any] | None = None,
    store: SchedulerStore | None = None,
    echo: bool = False,
) -> DagTestResult:
    """Run `dag` once for `logical_date` (now by default) and return every task
    instance's outcome; `echo` prints each try's log lines as they come, as Airflow's
    ``dags test`` does."""
    from miniflow.db.store import get_store

    store = store or get_store()
    resolve_params(dag.params, conf)  # a bad or missing param refuses the run before it exists, as in Airflow
    store.sync_dags([parsed_dag(dag)])
    logical_date = logical_date or _now()
    interval = dag.timetable.infer_manual_data_interval(logical_date)
    run_id = f"manual__{logical_date.isoformat()}"
    old = store.find_run(dag.dag_id, logical_date)
    if old is not None:
        store.delete_run(dag.dag_id, old.run_id)
    store.create_run(dag.dag_id, task_rows(dag, logical_date), run_id, logical_date, interval, "manual", conf=conf,
                     state=DagRunState.RUNNING, external_trigger=False, triggered_by="test")
    state = run_until_done(store, dag, run_id, echo)
    order = {t.task_id: i for i, t in enumerate(dag.topological_sort())}
    tis = sorted(store.tis_of_run(dag.dag_id, run_id), key=lambda r: (order.get(r.task_id, 0), r.map_index))
    return DagTestResult(run_id, state, tis)


def run_until_done(store: SchedulerStore, dag: DAG, run_id: str, echo: bool = False) -> DagRunState:
    """Drive one run to its end in this process, with the scheduler's own decisions and
    the task runner; returns the run's final state."""
    steps = Scheduler(store, SequentialExecutor())  # its decisions only: the tries run below
    steps.dags = {dag.dag_id: dag}
    store.set_run_state(dag.dag_id, run_id, DagRunState.RUNNING, expected=[DagRunState.QUEUED])
    row = store.get_run(dag.dag_id, run_id)
    assert row is not None, f"run {run_id!r} was deleted while it was tested"
    dag_run = DagRun.from_row(row)  # read once, not once per try
    weights = priority_weights(dag)
    with capture_levels():  # once for the run, not once per try
        while True:
            ended = steps.schedule_runs(include_backfill=True, ready_state=TIS.QUEUED,
                                        dag_id=dag.dag_id, run_ids=[run_id])
            if run_id in ended:
                return ended[run_id]
            for key in sorted(steps.ready, key=lambda k: (-weights.get(k.task_id, 1), k.task_id, k.map_index)):
                _run_here(store, dag, key, dag_run, echo)
            if not steps.ready:
                row = store.get_run(dag.dag_id, run_id)
                assert row is not None, f"run {run_id!r} was deleted while it was tested"
                if row.state != DagRunState.RUNNING:  # ended (or was reset) by someone else
                    return DagRunState(row.state)
                _wait_for_next_try(store.tis_of_run(dag.dag_id, run_id))


def _run_here(store: SchedulerStore, dag: DAG, key: TaskInstanceKey, dag_run: DagRun, echo: bool) -> None:
    """Run one queued try in this process, as the scheduler's executor would."""
    task = dag.task_dict.get(key.task_id)
    if task is not None and task.nothing_to_run:
        succeed_without_running(store, key)
        return
    run_task_instance(store, dag, key, dag_run=dag_run.for_a_try(), echo=echo)


def _wait_for_next_try(rows: list[Any]) -> None:
    """Sleep until the earliest retry or sensor reschedule is due, or a moment while a
    task instance of the run is held by another process (a scheduler runs manual runs
    too, and may hold scheduled rows locked while it queues them)."""
    due = [r.next_try_at for r in rows if r.state in (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE) and r.next_try_at]
    if due:
        time.sleep(max(0.0, (min(due) - _now()).total_seconds()))
    elif any(r.state in (TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING) for r in rows):
        time.sleep(HELD_ELSEWHERE_POLL)
