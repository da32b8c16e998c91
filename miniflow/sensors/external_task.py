"""ExternalTaskSensor: wait for a task (tasks, a task group, or a whole run) of another
DAG at a matching logical date; ExternalTaskMarker: clearing it clears that task too."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from miniflow.baseoperator import BaseOperator
from miniflow.exceptions import AirflowException, DagDefinitionError, TaskSkipped
from miniflow.sensors.base import BaseSensorOperator

__all__ = ["ExternalTaskSensor", "ExternalTaskMarker"]


class ExternalTaskSensor(BaseSensorOperator):
    """Done when, in `external_dag_id`'s runs at this run's logical date (shifted back by
    `execution_delta`, or the dates `execution_date_fn` returns), every one of
    `external_task_ids` -- or every task of `external_task_group_id`, or the run itself
    when neither is given -- is in `allowed_states` (success by default). Any of them in
    `failed_states` fails the sensor, in `skipped_states` skips it (both empty by
    default, as in Airflow: without them the sensor waits until its timeout)."""

    template_fields = ("external_dag_id", "external_task_id", "external_task_ids", "external_task_group_id")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Iterable[str] | None = None,
        external_task_group_id: str | None = None,
        allowed_states: Iterable[str] | None = None,
        skipped_states: Iterable[str] | None = None,
        failed_states: Iterable[str] | None = None,
        execution_delta: dt.timedelta | None = None,
        execution_date_fn: Callable[..., Any] | None = None,
        check_existence: bool = False,
        poll_interval: float = 2.0,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        where = f"task {self.task_id!r}: "
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(f"{where}give external_task_id or external_task_ids, not both")
        if external_task_id is not None:
            external_task_ids = [external_task_id]
        if external_task_group_id is not None and external_task_ids is not None:
            raise DagDefinitionError(f"{where}give external_task_id(s) or external_task_group_id, not both")
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(f"{where}give execution_delta or execution_date_fn, not both")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids is not None else None
        self.external_task_group_id = external_task_group_id
        self.allowed_states = [str(s) for s in (allowed_states or ["success"])]
        self.skipped_states = [str(s) for s in (skipped_states or [])]
        self.failed_states = [str(s) for s in (failed_states or [])]
        overlap = set(self.allowed_states) & (set(self.failed_states) | set(self.skipped_states))
        if overlap:
            raise DagDefinitionError(f"{where}states {sorted(overlap)} are both allowed and failed or skipped")
        self.execution_delta = execution_delta
        self.execution_date_fn = execution_date_fn
        self.check_existence = check_existence
        self.deferrable = deferrable  # no triggerer: it pokes (or reschedules) like any sensor

    def _dates(self, context: dict[str, Any]) -> list[dt.datetime]:
        logical = context["logical_date"]
        if self.execution_delta is not None:
            return [logical - self.execution_delta]
        if self.execution_date_fn is not None:
            from miniflow.operators.python import callable_kwargs

            fn = self.execution_date_fn
            found = fn(logical, **callable_kwargs(fn, [logical], context))
            return list(found) if isinstance(found, (list, tuple)) else [found]
        return [logical]

    def _task_ids(self, store: Any) -> list[str] | None:
        """The tasks waited on: those given, or those of the task group in the external
        DAG as last parsed (none if it has no such group: then, as in Airflow, the sensor
        waits -- for its timeout, unless the group appears); None for the whole run."""
        if self.external_task_ids is not None:
            return self.external_task_ids
        if self.external_task_group_id is None:
            return None
        return _group_tasks(store, self.external_dag_id, self.external_task_group_id)

    def poke(self, context: dict[str, Any]) -> bool:
        store = context["ti"].store
        if store is None:
            raise AirflowException("ExternalTaskSensor needs the metadata DB (it is not run by 'tasks test')")
        dates = self._dates(context)
        if self.check_existence:
            self._check_existence(store)
        task_ids = self._task_ids(store)
        if task_ids == []:
            self.log.warning("DAG %r has no task group %r: waiting for it", self.external_dag_id,
                             self.external_task_group_id)
            return False
        what = (f"tasks {task_ids}" if task_ids is not None else "the run") + f" of DAG {self.external_dag_id!r}"
        self.log.info("Poking for %s on %s ...", what, ", ".join(d.isoformat() for d in dates))
        found = store.states_at(self.external_dag_id, dates, task_ids)
        states = {state for _, _, state in found}
        if self.failed_states and states & set(self.failed_states):
            failed = f"{what} failed (states {sorted(states & set(self.failed_states))})"
            if self.soft_fail:  # as Airflow's sensor: soft_fail covers the failed states too
                raise TaskSkipped(f"{failed}; skipping, as soft_fail is set")
            raise AirflowException(failed)
        if self.skipped_states and states & set(self.skipped_states):
            raise TaskSkipped(f"{what} skipped (states {sorted(states & set(self.skipped_states))})")
        # Done once each task (or the run) has an instance at every date, and every
        # instance found -- each map index of a mapped task -- is in an allowed state.
        awaited: list[str | None] = [*task_ids] if task_ids is not None else [None]  # None: the run
        wanted = {(task_id, date) for task_id in awaited for date in dates}
        return wanted <= {(task_id, date) for task_id, date, _ in found} and states <= set(self.allowed_states)

    def _check_existence(self, store: Any) -> None:
        serialized = store.serialized_dag(self.external_dag_id)
        if serialized is None:
            raise AirflowException(f"the external DAG {self.external_dag_id!r} does not exist")
        known = {t["task_id"] for t in serialized.data["tasks"]}
        missing = [t for t in self.external_task_ids or [] if t not in known]
        if missing:
            raise AirflowException(f"the external task(s) {missing} do not exist in DAG {self.external_dag_id!r}")
        if self.external_task_group_id is not None and not _group_tasks(store, self.external_dag_id,
                                                                         self.external_task_group_id):
            raise AirflowException(f"the external task group {self.external_task_group_id!r} does not exist "
                                   f"in DAG {self.external_dag_id!r}")


def _group_tasks(store: Any, dag_id: str, group_id: str) -> list[str]:
    """The ids of the tasks in task group `group_id` (nested groups included) of `dag_id`
    as last parsed; empty if it has no such group."""
    serialized = store.serialized_dag(dag_id)
    prefix = f"{group_id}."
    return [t["task_id"] for t in (serialized.data["tasks"] if serialized is not None else [])
            if (t.get("task_group") or "") == group_id or (t.get("task_group") or "").startswith(prefix)]


class ExternalTaskMarker(BaseOperator):
    """Does nothing when it runs; clearing it (with its downstream, as a clear of an
    upstream task does) also clears `external_task_id` of `external_dag_id` at
    `execution_date` and that task's downstream, recursively up to `recursion_depth`
    DAGs deep -- the other half of an ExternalTaskSensor."""

    template_fields = ("external_dag_id", "external_task_id", "execution_date")
    ui_color = "#4db7db"
    inherits_from_empty_operator = True

    def __init__(self, *, external_dag_id: str, external_task_id: str,
                 execution_date: str | dt.datetime | None = "{{ logical_date.isoformat() }}",
                 recursion_depth: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if recursion_depth <= 0:
            raise DagDefinitionError(f"task {self.task_id!r}: recursion_depth must be a positive integer")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.execution_date = execution_date
        self.recursion_depth = recursion_depth

    def execute(self, context: dict[str, Any]) -> None:
        return None
