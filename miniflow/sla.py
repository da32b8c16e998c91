"""SLA misses, with Airflow 2's semantics (SLAs were removed in Airflow 3).

A task's ``sla`` is how long after its run is due it should have succeeded. For each
task with one, the check starts from the run of the task's latest success (or skip)
and walks the DAG's timetable forward, with no start/end/catchup bounds: every later
logical date ``d`` with ``d + sla`` already past is a miss of that task, recorded once
under ``execution_date = d``. As in Airflow, the first date checked is the one *after*
the run following that success: ``d`` is the end of the late run's data interval, so a
daily run for 2024-01-01 (due 2024-01-02 00:00) with ``sla=1h`` is reported at
2024-01-02 01:00 under 2024-01-02.

Misses not yet reported go, all at once per DAG, to the DAG's ``sla_miss_callback(dag,
task_list, blocking_task_list, slas, blocking_tis)`` and, when the tasks have ``email``,
in one e-mail; a miss counts as reported once either was sent. Only DAGs on a periodic
schedule are checked, and only while unpaused.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from miniflow.timetables import DataInterval, TimeRestriction

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.db.interfaces import SlaStore

__all__ = ["check_slas", "has_slas"]

log = logging.getLogger(__name__)
_UNBOUNDED = TimeRestriction(earliest=None, latest=None, catchup=True)


def has_slas(dag: DAG) -> bool:
    return dag.timetable.periodic and any(isinstance(t.sla, dt.timedelta) for t in dag.task_dict.values())


def check_slas(store: SlaStore, dag: DAG, now: dt.datetime) -> int:
    """Record the SLA misses of `dag` up to `now` and report those not yet reported;
    returns how many misses were new."""
    if not has_slas(dag):
        return 0
    new = _record_misses(store, dag, now)
    _report(store, dag)
    return new


def _record_misses(store: SlaStore, dag: DAG, now: dt.datetime) -> int:
    slas = {t.task_id: t.sla for t in dag.task_dict.values() if isinstance(t.sla, dt.timedelta)}
    recorded = store.sla_miss_keys(dag.dag_id)
    found = []
    for task_id, done in store.latest_done_runs(dag.dag_id, list(slas)).items():
        interval = DataInterval(done.data_interval_start or done.logical_date,
                                done.data_interval_end or done.logical_date)
        following = dag.timetable.next_dagrun_info(interval, _UNBOUNDED, now)
        while following is not None and following.logical_date < now:
            following = dag.timetable.next_dagrun_info(following.data_interval, _UNBOUNDED, now)
            if following is None:
                break
            when = following.logical_date
            if (task_id, when) not in recorded and when + slas[task_id] < now:
                found.append((task_id, when))
    store.add_sla_misses(dag.dag_id, found, now)
    for task_id, when in found:
        log.warning("SLA missed: %s.%s for %s", dag.dag_id, task_id, when.isoformat())
    return len(found)


def _report(store: SlaStore, dag: DAG) -> None:
    misses = store.unreported_sla_misses(dag.dag_id)
    if not misses:
        return
    blocking = store.unfinished_tis_at(dag.dag_id, sorted({m.execution_date for m in misses}))
    task_list = "\n".join(f"{m.task_id} on {m.execution_date.isoformat()}" for m in misses)
    blocking_list = "\n".join(f"{b.task_id} on {b.logical_date.isoformat()}" for b in blocking)
    notified = False
    for callback in _callbacks(dag.sla_miss_callback):
        try:
            callback(dag, task_list, blocking_list, misses, blocking)
            notified = True
        except Exception:
            log.exception("sla_miss_callback %s of DAG %s failed", getattr(callback, "__name__", callback),
                          dag.dag_id)
    emailed = _email(dag, misses, task_list, blocking_list)
    if notified or emailed:
        store.mark_sla_misses_reported(dag.dag_id, [(m.task_id, m.execution_date) for m in misses], emailed)


def _callbacks(value: Any) -> list[Callable[..., Any]]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _email(dag: DAG, misses: Sequence[Any], task_list: str, blocking_list: str) -> bool:
    from html import escape

    from miniflow.config import ui_url
    from miniflow.email import email_addresses, send_email

    recipients: list[str] = []
    for task_id in dict.fromkeys(m.task_id for m in misses):
        task = dag.task_dict.get(task_id)
        if task is not None:
            recipients += [a for a in email_addresses(task.email) if a not in recipients]
    if not recipients:
        return False
    body = (f"<p>Tasks that missed their SLAs:</p><pre>{escape(task_list)}</pre>"
            f"<p>Blocking tasks:</p><pre>{escape(blocking_list)}</pre>"
            f"<p>SLA misses: {escape(ui_url())}/sla-misses</p>")
    try:
        send_email(recipients, f"[miniflow] SLA miss on DAG={dag.dag_id}", body)
    except Exception:
        log.exception("could not send the SLA miss e-mail of DAG %s", dag.dag_id)
        return False
    return True
