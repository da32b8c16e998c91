"""Browse: the runs and the task instances of every DAG, each on one page, filtered,
with bulk actions (Airflow 2's Browse > DAG Runs and Browse > Task Instances).

Filters are query parameters, so a filtered page is a link. An action is a POST to the
same address that `write_required` guards; it changes states only through the store's
overrides (mark, clear), which pass `miniflow.db.gate`, writes one audit event per run
it touched, and returns to the same filtered page.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request
from miniflow.web.auth import login_required, write_required
from miniflow.web.paging import page_arg, past_last_page
from miniflow.web.store import web_store

from miniflow.exceptions import AirflowException
from miniflow.state import DagRunState, TaskInstanceState

__all__ = ["bp"]

bp = Blueprint("browse", __name__, url_prefix="/browse")

RUN_STATES = tuple(str(s) for s in DagRunState)
TI_STATES = (*(str(s) for s in TaskInstanceState), "none")  # "none": not scheduled yet
RUN_TYPES = ("scheduled", "manual", "backfill", "dataset_triggered")



def _filters(states: tuple[str, ...]) -> dict[str, Any]:
    """The filter form's DAG id, states and date range, as the store's browse queries
    take them; a 400 saying what is wrong for a value the form cannot send."""
    chosen = [s for s in request.args.getlist("state") if s]
    if unknown := [s for s in chosen if s not in states]:
        abort(400, description=f"Unknown state {unknown[0][:40]!r}: use one of {', '.join(states)}.")
    return {"dag_id_search": request.args.get("dag_id", "").strip() or None, "states": chosen,
            "start": _midnight("start"), "end": _midnight("end", next_day=True)}


def _midnight(name: str, next_day: bool = False) -> dt.datetime | None:
    """Midnight UTC at the start of the ISO date ``?name=``, or of the day after it (so
    that a range "to" a day includes that day)."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text) + dt.timedelta(days=next_day)
    except (ValueError, OverflowError):
        abort(400, description=f"The logical date {name} must be a date such as 2024-01-31, not {text[:40]!r}.")
    return dt.datetime.combine(day, dt.time(), dt.timezone.utc)


def _listing(template: str, browse: Callable[..., tuple[list[Any], int]], filters: dict[str, Any],
             **context: Any) -> Any:
    """A page of the rows `browse` finds with `filters`, shown by `template`; past the
    last page, a redirect to the last."""
    size = current_app.config["PAGE_SIZE"]
    page = page_arg()
    rows, total = browse(**filters, limit=size, offset=(page - 1) * size)
    if moved := past_last_page(page, total, size):
        return moved
    return render_template(template, rows=rows, total=total, page=page, pages=max(1, math.ceil(total / size)),
                           **context)


def _back() -> Any:
    """Back to the page the form was on, with its filters and page number."""
    query = request.query_string.decode()
    return redirect(f"{request.path}?{query}" if query else request.path)


def _ticked(parts: int) -> list[list[str]]:
    """The ticked rows' keys: each checkbox holds its row's ids joined by "|", which DAG
    and task ids cannot contain; the run id, which can, comes last."""
    keys = [value.split("|", parts - 1) for value in dict.fromkeys(request.form.getlist("key"))]
    if any(len(key) != parts for key in keys):
        abort(400, description="A ticked row's key is malformed; reload the page and try again.")
    return keys


def _clear(dag_id: str, run_id: str, task_ids: Collection[str] | None, map_index: int | None = None) -> int:
    """Clear tasks of one run (None: all the DAG's tasks in it) as the DAG page does.
    Returns how many task instances were cleared."""
    from miniflow.clearing import clear_in_run

    if task_ids is None:
        serialized = web_store().serialized_dag(dag_id)
        known = {t["task_id"] for t in serialized.data["tasks"]} if serialized else set()
        task_ids = {t.task_id for t in web_store().tis_for_runs(dag_id, [run_id])} & known
    return clear_in_run(web_store(), dag_id, run_id, task_ids, map_index)


# --- DAG runs ---------------------------------------------------------------------------------


@bp.get("/runs")
@login_required
def runs() -> Any:
    filters = _filters(RUN_STATES)
    run_type = request.args.get("run_type", "")
    if run_type and run_type not in RUN_TYPES:
        abort(400, description=f"Unknown run type {run_type[:40]!r}: use one of {', '.join(RUN_TYPES)}.")
    return _listing("browse_runs.html", web_store().run_browse, {**filters, "run_type": run_type or None},
                    states=RUN_STATES, run_types=RUN_TYPES)


@bp.post("/runs")
@write_required
def run_action() -> Any:
    """Mark the ticked runs success or failed, clear all their task instances, or
    delete them."""
    action = request.form.get("action", "")
    if action not in ("success", "failed", "clear", "delete"):
        abort(400, description="The action must be success, failed, clear or delete.")
    chosen = [run for dag_id, run_id in _ticked(2) if (run := web_store().get_run(dag_id, run_id))]
    if not chosen:
        flash("Tick at least one run first.", "error")
        return _back()
    done, cleared = 0, 0
    try:
        for run in chosen:
            extra = None
            if action == "delete":
                web_store().delete_run(run.dag_id, run.run_id)
            elif action == "clear":
                count = _clear(run.dag_id, run.run_id, None)
                if not count:
                    continue
                cleared, extra = cleared + count, f"{count} task instances"
            elif not web_store().mark_run(run.dag_id, run.run_id, DagRunState(action)):
                continue
            done += 1
            web_store().log_event(_EVENTS[action], owner=g.user.username, dag_id=run.dag_id, run_id=run.run_id,
                               extra=extra)
    except AirflowException as exc:  # an ExternalTaskMarker chain deeper than its recursion_depth
        flash(str(exc), "error")
    flash({"delete": f"Deleted {done} run(s)", "clear": f"Cleared {cleared} task instance(s) of {done} run(s)"}
          .get(action, f"Marked {done} run(s) {action}"), "info")
    return _back()


_EVENTS = {"success": "mark_success", "failed": "mark_failed", "clear": "clear", "delete": "delete_run"}


# --- task instances ----------------------------------------------------------------------------


@bp.get("/task-instances")
@login_required
def task_instances() -> Any:
    task_id = request.args.get("task_id", "").strip() or None
    return _listing("browse_task_instances.html", web_store().ti_browse,
                    {**_filters(TI_STATES), "task_id_search": task_id}, states=TI_STATES)


@bp.post("/task-instances")
@write_required
def ti_action() -> Any:
    """Clear the ticked task instances, or mark them success or failed."""
    action = request.form.get("action", "")
    if action not in ("success", "failed", "clear"):
        abort(400, description="The action must be success, failed or clear.")
    by_run: dict[tuple[str, str], dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
    for dag_id, task_id, map_index, run_id in _ticked(4):
        if not re.fullmatch(r"-1|[0-9]{1,9}", map_index):
            abort(400, description="A ticked row's map index is not a number; reload the page and try again.")
        by_run[dag_id, run_id][int(map_index)].add(task_id)
    if not by_run:
        flash("Tick at least one task instance first.", "error")
        return _back()
    total = 0
    try:
        for (dag_id, run_id), tasks in by_run.items():
            count = 0
            for index, task_ids in tasks.items():
                if action == "clear":
                    count += _clear(dag_id, run_id, task_ids, index)
                else:
                    count += web_store().mark_tis(dag_id, run_id, sorted(task_ids), TaskInstanceState(action), index)
            if count:
                labels = sorted(t if i < 0 else f"{t}[{i}]" for i, ids in tasks.items() for t in ids)
                web_store().log_event(_EVENTS[action], owner=g.user.username, dag_id=dag_id, run_id=run_id,
                                   extra=f"{count} task instances: {', '.join(labels)}")
            total += count
    except AirflowException as exc:
        flash(str(exc), "error")
    flash(f"Cleared {total} task instance(s)" if action == "clear" else f"Marked {total} task instance(s) {action}",
          "info")
    return _back()
