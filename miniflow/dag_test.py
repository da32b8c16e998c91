"""``miniflow dags test``: one whole DAG run in this process, no scheduler needed.

It is the scheduler's algorithm in miniature, run with the sequential executor:
evaluate the run (`miniflow.dagrun.evaluate_run`), queue what may run, run each try
here with the task runner, and repeat until the run is over. Retries wait for their
delay. Everything is recorded in the metadata DB like any run; an earlier run of the
DAG for the same logical date is replaced, as in Airflow.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from miniflow.callbacks import run_dag_callback
from miniflow.dagrun import evaluate_run
from miniflow.runner import run_task_instance
from miniflow.serialization import task_rows
from miniflow.state import DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.taskinstance import DagRun

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.store import Store

__all__ = ["DagTestResult", "run_dag_test", "run_until_done"]

log = logging.getLogger(__name__)


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
    store: Store | None = None,
) -> DagTestResult:
    from miniflow.db.store import get_store

    store = store or get_store()
    store.sync_dags([dag], paused_by_default=True)
    logical_date = logical_date or _now()
    interval = dag.timetable.infer_manual_data_interval(logical_date)
    run_id = f"manual__{logical_date.isoformat()}"
    old = store.find_run(dag.dag_id, logical_date)
    if old is not None:
        store.delete_run(dag.dag_id, old.run_id)
    store.create_run(dag.dag_id, task_rows(dag), run_id, logical_date, interval, "manual", conf=conf,
                     state=DagRunState.RUNNING, external_trigger=True, triggered_by="test")
    state = run_until_done(store, dag, run_id)
    order = {t.task_id: i for i, t in enumerate(dag.topological_sort())}
    tis = sorted(store.tis_of_run(dag.dag_id, run_id), key=lambda r: order.get(r.task_id, 0))
    return DagTestResult(run_id, state, tis)


def run_until_done(store: Store, dag: DAG, run_id: str) -> DagRunState:
    """Drive one run to its end in this process; returns its final state."""
    dag_run = DagRun.from_row(store.get_run(dag.dag_id, run_id))
    while True:
        rows = store.ti_states(dag.dag_id, run_id)
        states, next_try_at, weights = {}, {}, {}
        for task_id, state, next_try, weight in rows:
            states[task_id], next_try_at[task_id], weights[task_id] = state, next_try, weight
        decisions = evaluate_run(dag, states, _now(), next_try_at)
        store.record_decisions(dag.dag_id, run_id, decisions, ready_state=TIS.QUEUED)
        if decisions.outcome is not None:
            store.set_run_state(dag.dag_id, run_id, decisions.outcome)
            run_dag_callback(dag, store, run_id, decisions.outcome)
            return decisions.outcome
        ready = decisions.retry_due + decisions.runnable
        if not ready:
            _wait_for_next_try(rows)
            continue
        for task_id in sorted(ready, key=lambda t: -weights[t]):
            run_task_instance(store, dag, run_id, task_id, dag_run)


def _wait_for_next_try(rows: list[Any]) -> None:
    """Sleep until the earliest retry or sensor reschedule is due."""
    due = [r.next_try_at for r in rows if r.state in (TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE) and r.next_try_at]
    if due:
        time.sleep(max(0.0, (min(due) - _now()).total_seconds()))
