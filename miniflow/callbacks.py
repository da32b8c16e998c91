"""Calling user callbacks: a callback that raises is logged and changes nothing.

Task callbacks get the try's context (with ``exception`` on failure); DAG callbacks
get the context of the run's last task, with ``reason`` ("success" or
"task_failure"), as in Airflow 2.10.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from miniflow.state import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import SchedulerStore

__all__ = ["call_callbacks", "run_dag_callback"]

Callbacks = Callable[..., Any] | list[Callable[..., Any]] | None


def call_callbacks(callbacks: Callbacks, context: dict[str, Any], name: str,
                   logger: logging.Logger | None = None) -> None:
    if callbacks is None:
        return
    logger = logger or logging.getLogger("miniflow.task")
    for callback in callbacks if isinstance(callbacks, list) else [callbacks]:
        try:
            callback(context)
        except Exception:
            logger.exception("%s raised; the state stays as it is", name)


def run_dag_callback(dag: DAG, store: SchedulerStore, run_id: str, outcome: DagRunState, reason: str | None = None) -> None:
    """on_success_callback / on_failure_callback of a run that just ended; `reason` is
    the context's ``reason`` (Airflow's "timed_out" for a dagrun_timeout)."""
    success = outcome == DagRunState.SUCCESS
    callbacks = dag.on_success_callback if success else dag.on_failure_callback
    if callbacks is None or not dag.task_dict:
        return
    from miniflow.context import build_context
    from miniflow.taskinstance import DagRun, TaskInstance

    run = DagRun.from_row(store.get_run(dag.dag_id, run_id))
    last = dag.topological_sort()[-1]
    rows = store.mapped_tis(dag.dag_id, run_id, last.task_id)
    row = rows[-1] if rows else None
    ti = TaskInstance(copy.copy(last), run, row.try_number if row else 1, row.max_tries if row else 0, store,
                      map_index=row.map_index if row else -1)
    ti.state = TaskInstanceState(row.state) if row and row.state else None
    context = build_context(ti)
    context["reason"] = reason or ("success" if success else "task_failure")
    name = "on_success_callback" if success else "on_failure_callback"
    call_callbacks(callbacks, context, f"DAG {dag.dag_id} {name}", logging.getLogger("miniflow.dag"))
