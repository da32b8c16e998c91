"""A DAG's structure as plain JSON, stored so the webserver never runs DAG files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from miniflow.dag import DAG

__all__ = ["serialize_dag", "dag_hash", "to_plain"]


def to_plain(value: Any) -> Any:
    """A JSON-safe rendition: anything exotic becomes its repr."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if hasattr(value, "dump"):  # Param
        return to_plain(value.dump())
    if callable(value):
        return getattr(value, "__qualname__", repr(value))
    return repr(value)


def serialize_dag(dag: DAG) -> dict[str, Any]:
    tasks = []
    for task in dag.topological_sort():
        tasks.append({
            "task_id": task.task_id,
            "operator": type(task).__name__,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "trigger_rule": str(task.trigger_rule),
            "retries": task.retries,
            "pool": task.pool,
            "queue": task.queue,
            "priority_weight": task.priority_weight,
            "owner": task.owner,
            "ui_color": task.ui_color,
            "ui_fgcolor": task.ui_fgcolor,
            "doc_md": task.doc_md,
            "template_fields": {f: to_plain(getattr(task, f, None)) for f in task.template_fields},
        })
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "fileloc": dag.fileloc,
        "schedule": dag.timetable.summary,
        "timezone": str(dag.timezone),
        "start_date": to_plain(dag.start_date),
        "end_date": to_plain(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "tags": list(dag.tags),
        "owners": dag.owner,
        "params": to_plain(dag.params),
        "tasks": tasks,
    }


def dag_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
