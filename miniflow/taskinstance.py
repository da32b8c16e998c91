"""The objects task code sees while it runs: ``ti`` (a `TaskInstance`) and ``dag_run``.

They carry what a try knows about itself and reach the metadata DB through the store
for XCom and skips. In ``tasks test`` mode (no store to record into) XComs pushed by
the task stay in memory, and pulls read existing runs if a database is there.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from miniflow.state import TaskInstanceState
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.xcom import XCOM_RETURN_KEY, deserialize_value, serialize_value

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.db.interfaces import RunnerStore

__all__ = ["DagRun", "TaskInstance", "TaskInstanceKey"]


@dataclass
class DagRun:
    """What a task knows of its run (``{{ dag_run }}`` in templates)."""

    dag_id: str
    run_id: str
    logical_date: dt.datetime
    data_interval_start: dt.datetime | None
    data_interval_end: dt.datetime | None
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)
    external_trigger: bool = False
    start_date: dt.datetime | None = None
    state: str | None = None

    @property
    def execution_date(self) -> dt.datetime:
        return self.logical_date

    @classmethod
    def from_row(cls, row: Any) -> DagRun:
        return cls(
            dag_id=row.dag_id, run_id=row.run_id, logical_date=row.logical_date,
            data_interval_start=row.data_interval_start, data_interval_end=row.data_interval_end,
            run_type=row.run_type, conf=dict(row.conf or {}), external_trigger=row.external_trigger,
            start_date=row.start_date, state=row.state,
        )

    def for_a_try(self) -> DagRun:
        """A copy whose conf the try may change without the next try seeing it, as when
        each try runs in its own process."""
        return dataclasses.replace(self, conf=copy.deepcopy(self.conf))


class TaskInstance:
    """One try of one task in one run (``{{ ti }}``)."""

    def __init__(
        self,
        task: BaseOperator,
        dag_run: DagRun,
        try_number: int = 1,
        max_tries: int = 0,
        store: RunnerStore | None = None,
        hostname: str | None = None,
        start_date: dt.datetime | None = None,
        first_poke_at: dt.datetime | None = None,
        poke_count: int = 0,
        map_index: int = -1,
    ) -> None:
        self.task = task
        self.dag_run = dag_run
        self.try_number = try_number
        self.max_tries = max_tries
        self.hostname = hostname
        self.start_date = start_date
        self.end_date: dt.datetime | None = None
        self.state: TaskInstanceState | None = TaskInstanceState.RUNNING
        self.map_index = map_index
        self._store = store
        self._local_xcoms: dict[tuple[str, str], Any] = {}
        self._first_poke_at = first_poke_at
        self._poke_count = poke_count

    dag_id = property(lambda self: self.dag_run.dag_id)
    run_id = property(lambda self: self.dag_run.run_id)
    task_id = property(lambda self: self.task.task_id)
    logical_date = property(lambda self: self.dag_run.logical_date)
    execution_date = property(lambda self: self.dag_run.logical_date)
    operator = property(lambda self: type(self.task).__name__)

    @property
    def key(self) -> TaskInstanceKey:
        return TaskInstanceKey(self.dag_id, self.run_id, self.task_id, self.map_index)

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("miniflow.task")

    @property
    def test_mode(self) -> bool:
        return self._store is None

    @property
    def store(self) -> RunnerStore | None:
        """The metadata store this try records in (None in ``tasks test`` without a DB)."""
        return self._store

    def __repr__(self) -> str:
        index = f" map_index={self.map_index}" if self.map_index >= 0 else ""
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id}{index} [{self.state}]>"

    def get_dagrun(self) -> DagRun:
        return self.dag_run

    @property
    def log_url(self) -> str:
        """The UI page of this try, with its log (``webserver.base_url``, or host and port)."""
        from urllib.parse import quote, urlencode

        from miniflow.config import ui_url

        query = {"try": self.try_number, **({"map_index": self.map_index} if self.map_index >= 0 else {})}
        dag_id, run_id, task_id = (quote(part, safe="") for part in (self.dag_id, self.run_id, self.task_id))
        return f"{ui_url()}/dags/{dag_id}/runs/{run_id}/tasks/{task_id}?{urlencode(query)}"

    # --- XCom ----------------------------------------------------------------------------

    def xcom_push(self, key: str, value: Any, execution_date: dt.datetime | None = None) -> None:
        """Store `value` under `key` for downstream tasks of this run (JSON only)."""
        text = serialize_value(value, f"task {self.task_id!r}: ")
        if self._store is None:
            self._local_xcoms[self.task_id, key] = value
        else:
            self._store.xcom_push(self.key, key, text)

    def xcom_pull(
        self,
        task_ids: str | list[str] | None = None,
        dag_id: str | None = None,
        key: str = XCOM_RETURN_KEY,
        include_prior_dates: bool = False,
        map_indexes: Any = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """As Airflow: one task id (or None: any task) gives its value, or the list of
        every map index's value when that task is mapped; a list of ids gives a list.
        `map_indexes` picks instances of a mapped task. `include_prior_dates` also looks
        in the DAG's earlier runs: one task's value comes from the newest run that has
        one, and a list of ids gets the values of every run up to this one."""
        if map_indexes is None and isinstance(task_ids, str):
            map_indexes = self._same_item_index(task_ids)
        indexes = [map_indexes] if isinstance(map_indexes, int) else map_indexes
        runs = self._runs_up_to(dag_id, run_id) if include_prior_dates else [run_id]
        if isinstance(task_ids, str) or task_ids is None:
            values = next((found for each in runs
                           if (found := self._pull([task_ids] if task_ids else None, key, dag_id, each, indexes))),
                          [])
            if not values:
                return default
            if isinstance(map_indexes, int) or values[0][1] < 0:
                return values[0][2]
            return [v for _, _, v in sorted(values, key=lambda item: item[1])]
        found = [value for each in runs for value in self._pull(list(task_ids), key, dag_id, each, indexes)]
        order = {t: i for i, t in enumerate(task_ids)}
        return [v for _, _, v in sorted(found, key=lambda item: (order[item[0]], item[1]))]

    def _runs_up_to(self, dag_id: str | None, run_id: str | None) -> list[str | None]:
        """This run (or `run_id`) and the runs of `dag_id` (this DAG by default) whose
        logical date is before its, newest first: what ``include_prior_dates`` reads. This
        run comes first even when it is not recorded (``tasks test``)."""
        store = self._store if self._store is not None else _database_available()
        if store is None:
            return [run_id]
        dag_id = dag_id or self.dag_id
        current = run_id or self.run_id
        end = self.logical_date
        if current != self.run_id:
            named = store.get_run(dag_id, current)
            if named is None:
                return [current]
            end = named.logical_date
        earlier = [r.run_id for r in store.list_runs(dag_id, end=end) if r.run_id != current]
        return [current, *earlier]

    def _same_item_index(self, task_id: str) -> int | None:
        """Inside a mapped task group, another task of the group means its instance for
        this instance's item, as in Airflow; None (every instance) otherwise."""
        from miniflow.task_group import mapped_group_of

        task = getattr(self, "task", None)
        if self.map_index < 0 or task is None or not task.has_dag or task_id not in task.dag.task_dict:
            return None
        group = mapped_group_of(task.dag.task_dict.get(task.task_id, task))
        if group is None or mapped_group_of(task.dag.task_dict[task_id]) is not group:
            return None
        return self.map_index

    def _pull(self, task_ids: list[str] | None, key: str | None, dag_id: str | None,
              run_id: str | None, map_indexes: list[int] | None) -> list[tuple[str, int, Any]]:
        """(task_id, map_index, value) of the matching XComs, newest first."""
        dag_id = dag_id or self.dag_id
        run_id = run_id or self.run_id
        values: list[tuple[str, int, Any]] = []
        if dag_id == self.dag_id and run_id == self.run_id:
            values = [(t, self.map_index, v) for (t, k), v in self._local_xcoms.items()
                      if (task_ids is None or t in task_ids) and (key is None or k == key)]
        store = self._store if self._store is not None else _database_available()
        if store is not None:
            values += [(r.task_id, r.map_index, deserialize_value(r.value))
                       for r in store.xcom_pull(dag_id, run_id, task_ids, key, map_indexes)]
        return values

    def skip_tasks(self, task_ids: list[str]) -> None:
        """Mark tasks of this run skipped before they run (branching, short-circuit)."""
        self.log.info("Skipping tasks: %s", ", ".join(task_ids))
        if self._store is not None:
            self._store.set_ti_states(self.dag_id, self.run_id, task_ids, TaskInstanceState.SKIPPED,
                                      expected=[None, TaskInstanceState.SCHEDULED])

    # --- sensors -------------------------------------------------------------------------

    def sensor_started_at(self) -> dt.datetime:
        """When the sensor first poked in this try (reschedules included)."""
        return self._first_poke_at or self.start_date or dt.datetime.now(dt.timezone.utc)

    def sensor_poke_count(self) -> int:
        return self._poke_count


def _database_available() -> RunnerStore | None:
    """The configured store if its DB is migrated; ``tasks test`` works without one."""
    from miniflow.db.store import get_store

    try:
        return get_store()
    except Exception:  # noqa: BLE001 -- no (migrated) DB is fine in test mode
        return None
