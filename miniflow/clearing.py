"""What a clear reaches beyond its own DAG: an `ExternalTaskMarker` in the cleared
tasks also clears its external task (and that task's downstream) in the external DAG's
run at the marker's date, recursively, as Airflow's clear does. It works from the
serialized DAGs, so the webserver needs no DAG files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from miniflow.exceptions import AirflowException

if TYPE_CHECKING:
    from miniflow.db.interfaces import ClearingStore

__all__ = ["clear_in_run", "external_clears"]

ClearItem = tuple[str, str, str, int]  # (dag_id, run_id, task_id, retries), as clear_tis takes


def _marker_date(template: Any, run: Any) -> dt.datetime | None:
    """The marker's ``execution_date`` (a template) rendered for `run`."""
    if template is None:
        return run.logical_date
    from jinja2.sandbox import SandboxedEnvironment

    logical = run.logical_date
    text = SandboxedEnvironment().from_string(str(template)).render(
        logical_date=logical, execution_date=logical, ds=logical.strftime("%Y-%m-%d"), ts=logical.isoformat(),
        data_interval_start=run.data_interval_start or logical, data_interval_end=run.data_interval_end or logical)
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def external_clears(store: ClearingStore, dag_id: str, run_id: str, task_ids: Iterable[str],
                    depth: int | None = None) -> list[ClearItem]:
    """The task instances of other DAGs that clearing `task_ids` of `dag_id`'s run
    `run_id` also clears, through the ExternalTaskMarkers among them."""
    from miniflow.setup_teardown import TaskGraph, clear_scope

    serialized = store.serialized_dag(dag_id)
    run = store.get_run(dag_id, run_id)
    if serialized is None or run is None:
        return []
    tasks = {t["task_id"]: t for t in serialized.data["tasks"]}
    found: list[ClearItem] = []
    for task_id in task_ids:
        task = tasks.get(task_id)
        if task is None or task.get("operator") != "ExternalTaskMarker":
            continue
        fields = task.get("template_fields") or {}
        limit = fields.get("recursion_depth") or task.get("recursion_depth") or 10
        left = limit if depth is None else depth
        if left <= 0:
            raise AirflowException(f"maximum recursion depth {limit} reached for ExternalTaskMarker {task_id!r} "
                                   f"of DAG {dag_id!r}; raise recursion_depth if the chain is longer")
        other, other_task = str(fields.get("external_dag_id")), str(fields.get("external_task_id"))
        when = _marker_date(fields.get("execution_date"), run)
        target = store.find_run(other, when) if when else None
        other_serialized = store.serialized_dag(other) if target is not None else None
        if target is None or other_serialized is None:
            continue
        graph = TaskGraph.of_serialized(other_serialized.data["tasks"])
        if other_task not in graph.upstream:
            continue
        retries = {t["task_id"]: t.get("retries", 0) for t in other_serialized.data["tasks"]}
        chosen = clear_scope(graph, [other_task], downstream=True)
        found += [(other, target.run_id, t, retries[t]) for t in sorted(chosen)]
        found += external_clears(store, other, target.run_id, chosen, left - 1)
    return found


def clear_in_run(store: ClearingStore, dag_id: str, run_id: str, task_ids: Collection[str],
                 map_index: int | None = None) -> int:
    """Clear `task_ids` of one run (only their instance `map_index`, if given) as a
    person's clear does: each with its retries anew, from the stored DAG, and what their
    ExternalTaskMarkers point at. Returns how many task instances were cleared."""
    serialized = store.serialized_dag(dag_id)
    retries = {t["task_id"]: t.get("retries", 0) for t in serialized.data["tasks"]} if serialized else {}
    own = [(dag_id, run_id, task_id, retries.get(task_id, 0)) for task_id in sorted(set(task_ids))]
    external = [i for i in dict.fromkeys(external_clears(store, dag_id, run_id, task_ids)) if i not in own]
    return (store.clear_tis(own, map_index) if own else 0) + (store.clear_tis(external) if external else 0)
