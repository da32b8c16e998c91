"""Skipping downstream tasks: what branching and short-circuiting share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException

__all__ = ["skip_all_except", "skip_tasks"]


def skip_tasks(context: dict[str, Any], task_ids: Iterable[str]) -> None:
    """Mark these tasks of the current run skipped, without running them."""
    ids = sorted(set(task_ids))
    if ids:
        context["ti"].skip_tasks(ids)


def skip_all_except(task: BaseOperator, context: dict[str, Any], branch: str | Iterable[str] | None) -> None:
    """Skip the direct downstream tasks of `task` except the chosen branches.

    As in Airflow, a branch may name a task group, which stands for its first tasks, and
    a direct downstream task that is also downstream of a chosen branch (the join of an
    empty branch) is kept: it is left to its trigger rule.
    """
    dag = task.dag
    groups = dag.task_group_dict
    chosen: set[str] = set()
    for name in [branch] if isinstance(branch, str) else branch or ():
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
    skip_tasks(context, (t for t in task.downstream_task_ids if t not in keep))
