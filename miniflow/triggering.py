"""Triggering a run by hand: the one path the CLI, the UI and the REST API share.

It works from the DAG's serialized copy in the metadata DB, so the webserver needs no
DAG files: the run config is checked against the DAG's params, the run id against the
allowed characters, and the data interval comes from the DAG's timetable (the last
complete period before the logical date, as in Airflow).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from miniflow.exceptions import DagNotFoundError, DagRunAlreadyExists, MiniflowError

if TYPE_CHECKING:
    from miniflow.db.interfaces import TriggeringStore
    from miniflow.taskinstance import DagRun

__all__ = ["TriggerError", "trigger_dag_run", "trigger_dag", "RUN_ID_PATTERN"]

RUN_ID_PATTERN = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.~:+-]{1,250}$")
MAX_CONF_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply `value` nests lists and dicts (without recursing, so any depth is safe)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_CONF_DEPTH:
                return level
            todo += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    return deepest


class TriggerError(MiniflowError, ValueError):
    """A trigger was refused; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def trigger_dag_run(
    store: TriggeringStore,
    dag_id: str,
    conf: Any = None,
    run_id: str | None = None,
    logical_date: str | dt.datetime | None = None,
    user: str | None = None,
) -> Any:
    """Create a queued manual run and return its row; refusals raise `TriggerError`."""
    from miniflow.params import ParamValidationError, param_from_json, resolve_params
    from miniflow.serialization import in_window
    from miniflow.state import DagRunState
    from miniflow.timetables import timetable_from_json

    if conf is None:
        conf = {}
    if not isinstance(conf, dict):
        raise TriggerError("conf must be a JSON object")
    if _depth(conf) > MAX_CONF_DEPTH:
        raise TriggerError(f"conf is nested deeper than {MAX_CONF_DEPTH} levels")
    if isinstance(logical_date, str):
        try:
            logical_date = dt.datetime.fromisoformat(logical_date.replace("Z", "+00:00"))
        except ValueError:
            raise TriggerError(f"logical_date {logical_date!r} is not an ISO 8601 datetime") from None
    if logical_date is not None and not isinstance(logical_date, dt.datetime):
        raise TriggerError(f"logical_date {logical_date!r} is not an ISO 8601 datetime")
    when = logical_date or dt.datetime.now(dt.timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    run_id = run_id or f"manual__{when.isoformat()}"
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise TriggerError(f"run id {run_id!r} may hold only letters, digits and _ . ~ : + -")
    serialized = store.serialized_dag(dag_id)
    if serialized is None:
        raise TriggerError(f"DAG {dag_id!r} not found", status=404)
    try:
        resolve_params({name: param_from_json(raw) for name, raw in (serialized.data.get("params") or {}).items()},
                       conf)
    except ParamValidationError as exc:
        raise TriggerError(str(exc)) from None
    timetable = timetable_from_json(serialized.data.get("timetable") or {})
    rows = [t["row"] for t in serialized.data.get("tasks", [])
            if in_window(t.get("start_date"), t.get("end_date"), when)]
    try:
        when = when.astimezone(dt.timezone.utc)
        interval = timetable.infer_manual_data_interval(when)
    except (OverflowError, ValueError):
        raise TriggerError(f"logical_date {when.isoformat()} is out of the range of dates miniflow handles") \
            from None
    run = store.create_run(dag_id, rows, run_id, when, interval, "manual",
                           conf=conf, state=DagRunState.QUEUED, external_trigger=True, triggered_by=user)
    if run is None:
        raise TriggerError(f"DAG {dag_id!r} already has the run {run_id!r} or a run at {when.isoformat()}",
                           status=409)
    store.log_event("trigger", owner=user, dag_id=dag_id, run_id=run_id)
    return run


def trigger_dag(dag_id: str, run_id: str | None = None, conf: dict[str, Any] | str | None = None,
                execution_date: dt.datetime | None = None, replace_microseconds: bool = True,
                triggered_by: Any = None) -> DagRun:
    """Airflow's ``airflow.api.common.trigger_dag.trigger_dag``, for task code: a queued
    manual run of `dag_id` at `execution_date` (now by default, to the second unless
    `replace_microseconds` is false), with `conf` (a dict, or a JSON object as a string).
    Raises `DagNotFound` for a DAG the metadata DB does not know, `DagRunAlreadyExists`
    when it has that run id or a run at that date, `TriggerError` for any other refusal."""
    import json

    from miniflow.db.store import get_store
    from miniflow.taskinstance import DagRun

    if execution_date is not None and execution_date.tzinfo is None:
        raise ValueError("The execution_date should be localized")
    when = execution_date or dt.datetime.now(dt.timezone.utc)
    if replace_microseconds:
        when = when.replace(microsecond=0)
    if isinstance(conf, str):
        conf = json.loads(conf)
    try:
        row = trigger_dag_run(get_store(), dag_id, conf=conf or {}, run_id=run_id, logical_date=when,
                              user=str(triggered_by) if triggered_by is not None else None)
    except TriggerError as exc:
        if exc.status == 404:
            raise DagNotFoundError(f"Dag id {dag_id} not found in DagModel") from None
        if exc.status == 409:
            raise DagRunAlreadyExists(str(exc)) from None
        raise
    return DagRun.from_row(row)
