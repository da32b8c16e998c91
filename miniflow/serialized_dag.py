"""A DAG rebuilt from its serialized form, which is what the scheduler schedules: it
never imports a DAG file (Airflow's scheduler likewise works from ``SerializedDAG``).

Parsing children import the files and send back `serialize_dag`'s JSON (see
`miniflow.parsing`), the form the metadata DB keeps. `deserialize_dag` makes of it a
`DAG` whose tasks carry what the scheduler decides by -- the graph and task groups,
trigger rules, retries, pools, priorities, limits, ``depends_on_past``, SLAs, what a
mapped task counts its items from, the timetable -- and nothing that runs. What needs
the DAG's own code runs in a child that imports its file (`SerializedDAG.in_file`): the
DAG's callbacks, its SLA check, and a timetable class of its own (Airflow would have
it registered as a plugin).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from miniflow.baseoperator import BaseOperator
from miniflow.dag import DAG
from miniflow.mapping import MappedOperator, expand_input_from_json
from miniflow.operators.skip import SkipMixin
from miniflow.task_group import MappedTaskGroup, TaskGroup
from miniflow.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable, timetable_from_json

__all__ = ["SerializedDAG", "SerializedOperator", "TimetableUnavailable", "deserialize_dag", "with_own_code"]

log = logging.getLogger(__name__)
T = TypeVar("T")


class SerializedOperator(BaseOperator):
    """A task rebuilt from JSON: the scheduler's view of it. It does not run."""

    def execute(self, context: dict[str, Any]) -> Any:
        raise RuntimeError(f"task {self.task_id!r} was rebuilt from its serialized form; its file's copy runs")


_classes: dict[tuple[str, bool, bool], type[SerializedOperator]] = {}


def _operator_class(name: str, nothing_to_run: bool, skips_others: bool) -> type[SerializedOperator]:
    """A subclass named as the task's operator, so rows and logs name it as its file does;
    a `SkipMixin` if the task's is (branching, short-circuiting)."""
    key = (name, nothing_to_run, skips_others)
    if key not in _classes:
        bases = (SerializedOperator, SkipMixin) if skips_others else (SerializedOperator,)
        _classes[key] = type(name, bases, {"inherits_from_empty_operator": nothing_to_run, "__module__": __name__})
    return _classes[key]


class SerializedDAG(DAG):
    """A DAG rebuilt by `deserialize_dag`; `callbacks` names the callbacks its file sets."""

    callbacks: frozenset[str] = frozenset()
    import_timeout: float  # seconds the child running the DAG's own code may take

    def in_file(self, action: Callable[[DAG, Any], T], wait: bool = True) -> T | None:
        """``action(dag, store)`` with this DAG as its file defines it, in a child that
        imports the file, within core.dagbag_import_timeout; without `wait`, the child
        is not waited for. Raises RuntimeError if the child failed."""
        from miniflow.dagbag import DagBag
        from miniflow.parsing import in_child

        def run() -> T:
            from miniflow.db.store import get_store, reset_store

            reset_store()  # the parent's connections stay the parent's
            bag = DagBag(self.fileloc, include_examples=False, isolate=False)
            return action(bag.get_dag(self.dag_id), get_store())

        return in_child(run, self.import_timeout, wait)


def with_own_code(dag: DAG, store: Any, action: Callable[[DAG, Any], T], wait: bool = True) -> T | None:
    """``action(dag, store)`` where the DAG's own code is: here for a DAG this process
    imported, in a child that imports its file for a `SerializedDAG`."""
    if isinstance(dag, SerializedDAG):
        return dag.in_file(action, wait)
    return action(dag, store)


class TimetableUnavailable(RuntimeError):
    """A timetable of the DAG file's own could not be asked: the caller leaves the
    DAG's schedule as it is and asks again later."""


class _InFileTimetable(Timetable):
    """A timetable class the DAG file defines (also as the time part of a
    ``DatasetOrTimeSchedule``): each question is asked in a child that imports the
    file, of the timetable the file gives the DAG."""

    def __init__(self, data: dict[str, Any], dag: SerializedDAG) -> None:
        self.summary = data.get("summary", "")
        self.periodic = bool(data.get("periodic", True))
        self.can_be_scheduled = bool(data.get("can_be_scheduled", True))
        self.dag = dag

    def next_dagrun_info(self, last: DataInterval | None, restriction: TimeRestriction,
                         now: dt.datetime) -> DagRunInfo | None:
        try:
            return self.dag.in_file(lambda dag, _: _own_timetable(dag).next_dagrun_info(last, restriction, now))
        except RuntimeError as exc:
            raise TimetableUnavailable(f"DAG {self.dag.dag_id}: its timetable could not say when the next run "
                                       f"is ({exc})") from None

    def infer_manual_data_interval(self, run_after: dt.datetime) -> DataInterval:
        found = self.dag.in_file(lambda dag, _: _own_timetable(dag).infer_manual_data_interval(run_after))
        assert found is not None
        return found

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _own_timetable(dag: DAG) -> Timetable:
    """The timetable class of the file's own: the DAG's, or the time part of its
    ``DatasetOrTimeSchedule``."""
    timetable = dag.timetable
    return getattr(timetable, "timetable", timetable)


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _delta(seconds: float | None) -> dt.timedelta | None:
    return None if seconds is None else dt.timedelta(seconds=seconds)


def deserialize_dag(data: dict[str, Any], import_timeout: float) -> SerializedDAG:
    """The DAG `serialize_dag` described, as the scheduler needs it; its own code runs
    in a child killed after `import_timeout` seconds (see `SerializedDAG.in_file`)."""
    dag = SerializedDAG(
        data["dag_id"], description=data.get("description"), schedule=None,
        start_date=_when(data["start_date"]), end_date=_when(data["end_date"]), catchup=data["catchup"],
        max_active_runs=data["max_active_runs"], max_active_tasks=data["max_active_tasks"],
        max_consecutive_failed_dag_runs=data["max_consecutive_failed_dag_runs"],
        dagrun_timeout=_delta(data["dagrun_timeout"]), tags=data["tags"], auto_register=False)
    dag.fileloc, dag.lineno = data["fileloc"], data["lineno"]
    dag.callbacks = frozenset(data["callbacks"])
    dag.import_timeout = import_timeout
    dag.timetable = timetable_from_json(data["timetable"], lambda other: _InFileTimetable(other, dag))
    groups: dict[str, TaskGroup] = {}
    for g in data["task_groups"]:
        common = {"group_id": g["group_id"], "dag": dag, "tooltip": g["tooltip"], "ui_color": g["ui_color"]}
        group = MappedTaskGroup(expand_input=None, **common) if g["is_mapped"] else TaskGroup(**common)
        groups[g["group_id"]] = group
        group.parent = groups[g["parent"]] if g["parent"] else None
    for t in data["tasks"]:
        dag.add_task(_task(t, groups, dag))
    for t in data["tasks"]:
        task = dag.task_dict[t["task_id"]]
        task.upstream_task_ids, task.downstream_task_ids = set(t["upstream"]), set(t["downstream"])
    for g in data["task_groups"]:
        if g["is_mapped"]:
            groups[g["group_id"]].expand_input = expand_input_from_json(g["expand_input"], dag.task_dict)  # type: ignore[attr-defined]
    dag.graph_changed()
    return dag


def _task(t: dict[str, Any], groups: dict[str, TaskGroup], dag: DAG) -> BaseOperator:
    kwargs: dict[str, Any] = dict(
        task_id=t["task_id"], owner=t["owner"], trigger_rule=t["trigger_rule"], retries=t["retries"],
        retry_exponential_backoff=t["retry_exponential_backoff"], max_retry_delay=_delta(t["max_retry_delay"]),
        start_date=_when(t["start_date"]), end_date=_when(t["end_date"]), depends_on_past=t["depends_on_past"],
        wait_for_downstream=t["wait_for_downstream"], max_active_tis_per_dag=t["max_active_tis_per_dag"],
        max_active_tis_per_dagrun=t.get("max_active_tis_per_dagrun"),  # absent from forms stored before 2026-12-05
        priority_weight=t["priority_weight"], weight_rule=t["weight_rule"], pool=t["pool"],
        pool_slots=t["pool_slots"], queue=t["queue"], sla=_delta(t["sla"]))
    if t["retry_delay"] is not None:
        kwargs["retry_delay"] = _delta(t["retry_delay"])
    skips_others = t.get("skips_others", False)  # absent from forms stored before 2026-12-05
    kind = _operator_class(t["operator"], t["nothing_to_run"], skips_others)
    if t["expand_input"] is not None:
        task: BaseOperator = MappedOperator(
            operator_class=kind, partial_kwargs={}, expand_input=expand_input_from_json(t["expand_input"], dag.task_dict),
            **kwargs)
    else:
        task = kind(**kwargs)
    task.is_setup, task.is_teardown = t["is_setup"], t["is_teardown"]
    task._on_failure_fail_dagrun = t["on_failure_fail_dagrun"]
    if t["task_group"] is not None:
        task.task_group = groups[t["task_group"]]
        task.task_group.add(task)
    return task
