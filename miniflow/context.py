"""The template context of a try: the names templates and callables can use.

The keys are Airflow 2.10's (``ds``, ``ts``, ``logical_date``, ``data_interval_start``,
``params``, ``ti``, ``dag_run``, ``macros``, ``var``...). Dates are in UTC. ``params``
are the DAG's and task's params with the run's conf laid over them (Airflow's
``dag_run_conf_overrides_params``); ``conf`` is the configuration, as in Airflow --
the run's conf is ``dag_run.conf``.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pendulum
from lazy_object_proxy import Proxy

from miniflow import macros
from miniflow.connections import ConnectionAccessor
from miniflow.datasets import DatasetEvent, InletEventsAccessor, OutletEventAccessors
from miniflow.params import resolve_params
from miniflow.state import DagRunState

if TYPE_CHECKING:
    from miniflow.taskinstance import TaskInstance

__all__ = ["Context", "build_context", "current_context", "bind_context", "context_to_airflow_vars"]

Context = dict[str, Any]


class _VariableAccessor:
    """``{{ var.value.name }}`` and ``{{ var.json.name }}``."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        from miniflow.variables import Variable

        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = None) -> Any:
        from miniflow.variables import Variable

        return Variable.get(key, default_var=default, deserialize_json=self._json)


_DAY = dt.timedelta(days=1)


def _ds(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d")


def _as_event(row: Any) -> DatasetEvent:
    return DatasetEvent(row.id, row.uri, dict(row.extra or {}), row.timestamp, row.source_dag_id,
                        row.source_task_id, row.source_run_id, row.source_map_index)


def _events(ti: TaskInstance, uri: str | None, alias: str | None) -> list[DatasetEvent]:
    """``inlet_events``: a dataset's recorded events (none without a metadata DB)."""
    store = ti.store
    if store is None:
        return []
    return [_as_event(r) for r in store.dataset_events(uri=uri, alias=alias, limit=10_000)]


def _triggering_events(ti: TaskInstance) -> dict[str, list[DatasetEvent]]:
    """The dataset events that made this run, by URI (empty unless dataset-triggered)."""
    store = ti.store
    if store is None or ti.dag_run.run_type != "dataset_triggered":
        return {}
    found: dict[str, list[DatasetEvent]] = {}
    for row in store.triggering_dataset_events(ti.dag_id, ti.run_id):
        found.setdefault(row.uri, []).append(_as_event(row))
    return found


def _previous_success(ti: TaskInstance) -> dict[str, Any]:
    """``prev_*_success``: of the DAG's latest successful run before this one (None
    without one). Read from the database only when a template or callable first uses
    one of them, as in Airflow: most tries never do."""

    @functools.cache
    def run() -> Any:
        store = ti.store
        if store is None:
            return None
        earlier = store.list_runs(ti.dag_id, states=[DagRunState.SUCCESS], end=ti.logical_date, limit=2)
        return next((r for r in earlier if r.logical_date < ti.logical_date), None)

    def field(name: str) -> Proxy:
        def value() -> Any:
            when = getattr(run(), name) if run() is not None else None
            return pendulum.instance(when) if when is not None else None

        return Proxy(value)

    return {"prev_data_interval_start_success": field("data_interval_start"),
            "prev_data_interval_end_success": field("data_interval_end"),
            "prev_execution_date_success": field("logical_date"),
            "prev_start_date_success": field("start_date"),
            "prev_end_date_success": field("end_date")}


def build_context(ti: TaskInstance) -> Context:
    task, run = ti.task, ti.dag_run
    # The arithmetic and the strings on plain datetimes, several times cheaper; the dates
    # handed out as pendulum DateTimes, as in Airflow: templates call .in_timezone()...
    at = run.logical_date
    interval_start, interval_end = run.data_interval_start or at, run.data_interval_end or at
    previous, tomorrow, yesterday = at - (interval_end - interval_start), at + _DAY, at - _DAY
    logical, start, end, prev_date = (pendulum.instance(d) for d in (at, interval_start, interval_end, previous))
    ts = at.isoformat()
    from miniflow.config import get_config

    context: Context = {
        "conf": get_config(),
        "conn": ConnectionAccessor(),
        "dag": task.dag,
        "dag_run": run,
        "data_interval_start": start,
        "data_interval_end": end,
        "ds": _ds(at),
        "ds_nodash": at.strftime("%Y%m%d"),
        "execution_date": logical,
        "expanded_ti_count": None,
        "inlets": task.inlets,
        "logical_date": logical,
        "macros": macros,
        "map_index_template": None,
        "next_ds": _ds(interval_end),
        "next_ds_nodash": interval_end.strftime("%Y%m%d"),
        "next_execution_date": end,
        "outlets": task.outlets,
        "params": resolve_params(task.params, run.conf),
        "prev_ds": _ds(previous),
        "prev_ds_nodash": previous.strftime("%Y%m%d"),
        "prev_execution_date": prev_date,
        **_previous_success(ti),
        "run_id": run.run_id,
        "task": task,
        "task_instance": ti,
        "task_instance_key_str": f"{run.dag_id}__{task.task_id}__{at.strftime('%Y%m%d')}",
        "test_mode": ti.test_mode,
        "ti": ti,
        "tomorrow_ds": _ds(tomorrow),
        "tomorrow_ds_nodash": tomorrow.strftime("%Y%m%d"),
        "inlet_events": InletEventsAccessor(lambda uri, alias: _events(ti, uri, alias)),
        "outlet_events": OutletEventAccessors(),
        "triggering_dataset_events": _triggering_events(ti),
        "ts": ts,
        "ts_nodash": at.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "var": {"value": _VariableAccessor(False), "json": _VariableAccessor(True)},
        "yesterday_ds": _ds(yesterday),
        "yesterday_ds_nodash": yesterday.strftime("%Y%m%d"),
    }
    context.update(task.dag.user_defined_macros)
    return context


# The try's identity for other programs: (source, attribute, name). Airflow exports these
# to the environment of every try and of every BashOperator command.
_IDENTITY = (("task", "email", "dag_email"), ("task", "owner", "dag_owner"), ("ti", "dag_id", "dag_id"),
             ("ti", "task_id", "task_id"), ("ti", "logical_date", "execution_date"),
             ("ti", "try_number", "try_number"), ("dag_run", "run_id", "dag_run_id"))


def context_to_airflow_vars(context: Context, in_env_var_format: bool = False) -> dict[str, str]:
    """The try's DAG, task, run, try number, owner and email as strings, named
    ``airflow.ctx.dag_id``..., or ``AIRFLOW_CTX_DAG_ID``... with `in_env_var_format`."""
    found = {}
    for source, attribute, name in _IDENTITY:
        value = getattr(context.get(source), attribute, None)
        if not value:
            continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, list):
            value = ",".join(value)
        found[f"AIRFLOW_CTX_{name.upper()}" if in_env_var_format else f"airflow.ctx.{name}"] = str(value)
    return found


_current: list[Context] = []


@contextmanager
def bind_context(context: Context) -> Iterator[None]:
    """Make `context` what `get_current_context()` returns while the task runs."""
    _current.append(context)
    try:
        yield
    finally:
        _current.pop()


def current_context() -> Context:
    if not _current:
        from miniflow.exceptions import AirflowException

        raise AirflowException("get_current_context() called outside a running task")
    return _current[-1]
