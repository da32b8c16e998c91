"""A DAG's structure as plain JSON, stored so the webserver never runs DAG files."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from miniflow.mapping import MappedOperator, expand_input_to_json, is_mapped
from miniflow.operators.skip import SkipMixin
from miniflow.task_group import MappedTaskGroup
from miniflow.timetables import timetable_to_json, zone_to_json

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.dag import DAG

__all__ = ["ParsedDag", "parsed_dag", "serialize_dag", "dag_hash", "to_plain", "task_rows", "priority_weights",
           "operator_name"]


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


def operator_name(task: BaseOperator) -> str:
    """The operator class a task runs (for a mapped task, the class of its instances)."""
    return getattr(task, "operator_class", type(task)).__name__


def priority_weights(dag: DAG) -> dict[str, int]:
    """Each task's effective weight under its weight_rule (``downstream``: its own plus
    that of every task after it, each counted once; ``upstream``: before it). Kept until
    the DAG's graph changes, since every new run asks for it.

    The relatives of each task are a bitset (a Python int, bit i for the i-th task),
    built in one pass over the topological order; a weight is then, for each distinct
    priority_weight value, that value times how many relatives carry it -- so a
    5,000-task chain costs milliseconds, not the seconds and the memory of sets."""
    return dag.derived("priority_weights", lambda: _priority_weights(dag))


def _priority_weights(dag: DAG) -> dict[str, int]:
    order = [t.task_id for t in dag.topological_sort()]
    tasks = dag.task_dict
    bit = {tid: 1 << i for i, tid in enumerate(order)}
    below: dict[str, int] = {}
    for tid in reversed(order):
        mask = 0
        for d in tasks[tid].downstream_task_ids:
            mask |= bit[d] | below[d]
        below[tid] = mask
    above: dict[str, int] = {}
    for tid in order:
        mask = 0
        for u in tasks[tid].upstream_task_ids:
            mask |= bit[u] | above[u]
        above[tid] = mask
    by_weight: dict[int, int] = {}
    for tid, task in tasks.items():
        by_weight[task.priority_weight] = by_weight.get(task.priority_weight, 0) | bit[tid]
    weights = {}
    for tid, task in tasks.items():
        relatives = {"downstream": below[tid], "upstream": above[tid]}.get(task.weight_rule, 0)
        weights[tid] = task.priority_weight + sum(w * (relatives & m).bit_count() for w, m in by_weight.items())
    return weights


def in_window(start: dt.datetime | str | None, end: dt.datetime | str | None, logical_date: dt.datetime) -> bool:
    """Whether a run at `logical_date` gets an instance of a task with its own
    start_date/end_date: as in Airflow 2.10, only runs inside them (backfills aside)."""
    if isinstance(start, str):
        start = dt.datetime.fromisoformat(start)
    if isinstance(end, str):
        end = dt.datetime.fromisoformat(end)
    return (start is None or start <= logical_date) and (end is None or logical_date <= end)


def task_rows(dag: DAG, logical_date: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One task-instance row per task, as a new run needs them; given the run's
    `logical_date`, only for the tasks whose own window holds it (`in_window`)."""
    weights = priority_weights(dag)
    return [
        {"task_id": t.task_id, "max_tries": t.retries, "operator": operator_name(t), "pool": t.pool,
         "pool_slots": t.pool_slots, "queue": t.queue, "priority_weight": weights[t.task_id]}
        for t in dag.task_dict.values()
        if logical_date is None or in_window(t.start_date, t.end_date, logical_date)
    ]


def serialize_dag(dag: DAG) -> dict[str, Any]:
    rows = {r["task_id"]: r for r in task_rows(dag)}
    tasks = []
    for task in dag.topological_sort():
        tasks.append({
            "task_id": task.task_id,
            "operator": operator_name(task),
            "is_mapped": is_mapped(task),
            "task_group": task.task_group.group_id if task.task_group is not None else None,
            "is_setup": task.is_setup,
            "is_teardown": task.is_teardown,
            "on_failure_fail_dagrun": task.on_failure_fail_dagrun,
            "upstream": sorted(task.upstream_task_ids),
            "downstream": sorted(task.downstream_task_ids),
            "trigger_rule": str(task.trigger_rule),
            "retries": task.retries,
            "pool": task.pool,
            "pool_slots": task.pool_slots,
            "queue": task.queue,
            "priority_weight": task.priority_weight,
            "start_date": to_plain(task.start_date),
            "end_date": to_plain(task.end_date),
            "row": rows[task.task_id],
            "owner": task.owner,
            "ui_color": task.ui_color,
            "ui_fgcolor": task.ui_fgcolor,
            "doc_md": task.doc_md,
            "template_fields": {f: to_plain(getattr(task, f, None)) for f in task.template_fields},
            **({"recursion_depth": task.recursion_depth} if hasattr(task, "recursion_depth") else {}),
            **_scheduling(task),
        })
    return {
        "dag_id": dag.dag_id,
        "description": dag.description,
        "doc_md": dag.doc_md,
        "fileloc": dag.fileloc,
        "schedule": dag.timetable.summary,
        "timetable": timetable_to_json(dag.timetable),
        "timezone": _zone_name(dag.timezone),
        "start_date": to_plain(dag.start_date),
        "end_date": to_plain(dag.end_date),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "max_active_tasks": dag.max_active_tasks,
        "max_consecutive_failed_dag_runs": dag.max_consecutive_failed_dag_runs,
        "dagrun_timeout": _seconds(dag.dagrun_timeout),
        "lineno": dag.lineno,
        "callbacks": [name for name in ("on_success_callback", "on_failure_callback", "sla_miss_callback")
                      if getattr(dag, name) is not None],
        "tags": list(dag.tags),
        "owners": dag.owner,
        "params": to_plain(dag.params),
        "tasks": tasks,
        "task_groups": [
            {"group_id": g.group_id, "parent": g.parent.group_id if g.parent else None, "tooltip": g.tooltip,
             "is_mapped": isinstance(g, MappedTaskGroup), "ui_color": g.ui_color,
             **({"expand_input": expand_input_to_json(g.expand_input)} if isinstance(g, MappedTaskGroup) else {})}
            for g in dag.task_group_dict.values()
        ],
        "edge_labels": [
            {"from": up, "to": down, "label": info["label"]}
            for (up, down), info in sorted(dag.edge_info.items()) if info.get("label") is not None
        ],
    }


def _zone_name(zone: dt.tzinfo) -> str:
    """The DAG's timezone as the UI shows it."""
    return zone_to_json(zone) or str(zone)


def _seconds(value: Any) -> float | None:
    """A timedelta setting as seconds (a bare number is seconds already)."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return None if value is None else float(value)


def _scheduling(task: BaseOperator) -> dict[str, Any]:
    """What the scheduler decides a task's instances by, beyond the graph (see
    `miniflow.serialized_dag`, which rebuilds the task from it)."""
    return {
        "retry_delay": _seconds(task.retry_delay),
        "retry_exponential_backoff": task.retry_exponential_backoff,
        "max_retry_delay": _seconds(task.max_retry_delay),
        "depends_on_past": task.depends_on_past,
        "wait_for_downstream": task.wait_for_downstream,
        "max_active_tis_per_dag": task.max_active_tis_per_dag,
        "max_active_tis_per_dagrun": task.max_active_tis_per_dagrun,
        "weight_rule": str(task.weight_rule),
        "sla": _seconds(task.sla) if isinstance(task.sla, dt.timedelta) else None,  # else it is no SLA
        "nothing_to_run": task.nothing_to_run,
        "skips_others": isinstance(task, SkipMixin),  # its skipmixin_key XCom counts (miniflow.dagrun)
        "expand_input": expand_input_to_json(task.expand_input) if isinstance(task, MappedOperator) else None,
    }


@dataclass(frozen=True)
class ParsedDag:
    """What the metadata DB keeps of a loaded DAG: its row, its serialized form, the
    datasets it waits for and updates, and its file's source. The store takes these,
    never DAG objects, so it needs nothing of the authoring layer."""

    dag_id: str
    fileloc: str
    owners: str
    owner_links: dict[str, str] | None
    description: str | None
    schedule: str
    timezone: str
    tags: list[str]
    max_active_runs: int
    max_active_tasks: int
    is_paused_upon_creation: bool | None
    dataset_uris: tuple[str, ...]  # the datasets its schedule waits for
    dataset_aliases: tuple[str, ...]
    outlet_uris: tuple[str, ...]  # the datasets its tasks update
    data: dict[str, Any]  # serialize_dag's form
    dag_hash: str
    source_code: str | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ParsedDag:
        """A `ParsedDag` sent as JSON (by a parsing child)."""
        tuples = ("dataset_uris", "dataset_aliases", "outlet_uris")
        return cls(**{**data, **{name: tuple(data[name]) for name in tuples}})


def parsed_dag(dag: DAG) -> ParsedDag:
    """`dag` as the store records it."""
    condition = getattr(dag.timetable, "dataset_condition", None)
    data = serialize_dag(dag)
    return ParsedDag(
        dag_id=dag.dag_id, fileloc=dag.fileloc, owners=dag.owner, owner_links=dict(dag.owner_links) or None,
        description=dag.description, schedule=dag.timetable.summary, timezone=_zone_name(dag.timezone),
        tags=list(dag.tags), max_active_runs=dag.max_active_runs, max_active_tasks=dag.max_active_tasks,
        is_paused_upon_creation=dag.is_paused_upon_creation,
        dataset_uris=tuple(condition.iter_uris()) if condition else (),
        dataset_aliases=tuple(condition.iter_aliases()) if condition else (),
        outlet_uris=tuple(o.uri for t in dag.task_dict.values() for o in t.outlets if hasattr(o, "uri")),
        data=data, dag_hash=dag_hash(data), source_code=_read_source(dag.fileloc))


def _read_source(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def dag_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
