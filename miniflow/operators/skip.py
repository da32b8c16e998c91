"""Skipping tasks of the running try's DAG run: what branching and short-circuiting
operators share, and what custom operators use through Airflow's ``SkipMixin``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from miniflow.exceptions import AirflowException

if TYPE_CHECKING:
    from miniflow.taskinstance import DagRun, TaskInstance

__all__ = ["SkipMixin", "XCOM_SKIPMIXIN_KEY", "XCOM_SKIPMIXIN_SKIPPED", "XCOM_SKIPMIXIN_FOLLOWED"]

# What a skipping try tells through XCom, as in Airflow: {"skipped": [...]} from `skip`,
# {"followed": [...]} from `skip_all_except`, under one key.
XCOM_SKIPMIXIN_KEY = "skipmixin_key"
XCOM_SKIPMIXIN_SKIPPED = "skipped"
XCOM_SKIPMIXIN_FOLLOWED = "followed"


class SkipMixin:
    """Marks tasks skipped before they run; their own trigger rules are not consulted."""

    def skip(self, dag_run: DagRun, execution_date: dt.datetime | None, tasks: Iterable[Any],
             map_index: int = -1) -> None:
        """Skip `tasks` (operators or task ids) in `dag_run`, which must be the running
        try's run: miniflow changes task instances only through the try that asks.
        Every instance of a mapped task is skipped, whatever `map_index`."""
        from miniflow.context import current_context  # with pendulum: not for loading DAG files

        ti = current_context()["ti"]
        if dag_run.run_id != ti.run_id:
            raise AirflowException(f"task {ti.task_id!r} can skip tasks of its own DAG run only, "
                                   f"not of {dag_run.run_id!r}")
        ids = list(dict.fromkeys(getattr(t, "task_id", t) for t in tasks))
        if ids:
            ti.skip_tasks(ids)
            ti.xcom_push(XCOM_SKIPMIXIN_KEY, {XCOM_SKIPMIXIN_SKIPPED: ids})

    def skip_all_except(self, ti: TaskInstance, branch_task_ids: str | Iterable[str] | None) -> None:
        """Skip the direct downstream tasks of `ti`'s task except the chosen branches.

        As in Airflow, a branch may name a task group, which stands for its first tasks,
        and a direct downstream task that is also downstream of a chosen branch (the join
        of an empty branch) is kept: it is left to its trigger rule.
        """
        task = ti.task
        dag = task.dag
        groups = dag.task_group_dict
        chosen: set[str] = set()
        for name in [branch_task_ids] if isinstance(branch_task_ids, str) else branch_task_ids or ():
            chosen |= {root.task_id for root in groups[name].get_roots()} if name in groups else {name}
        unknown = sorted(t for t in chosen if not dag.has_task(t))
        if unknown:
            raise AirflowException(
                f"branch task {task.task_id!r} returned unknown task id(s): {', '.join(unknown)}; "
                f"'branch_task_ids' must contain only valid task_ids"
            )
        keep = set(chosen)
        for tid in chosen:
            keep |= dag.get_flat_relative_ids(tid)
        downstream = sorted(task.downstream_task_ids)
        if downstream:
            skipped = [t for t in downstream if t not in keep]
            if skipped:
                ti.skip_tasks(skipped)
            ti.xcom_push(XCOM_SKIPMIXIN_KEY, {XCOM_SKIPMIXIN_FOLLOWED: [t for t in downstream if t in keep]})
