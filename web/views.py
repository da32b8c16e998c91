"""The HTML pages: DAG list, DAG page (grid, graph, Gantt, runs, code), task instance
page, import errors and the audit log, plus the actions (trigger, pause, clear, mark).

Every page reads the metadata DB; every list is paginated; every action is a POST
that `write_required` guards (login, CSRF token, Op or Admin role). Jinja escapes
everything user-supplied (DAG ids, conf, logs, XCom) since autoescape is on.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import math
from collections import defaultdict
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from miniflow.web.auth import (
    LoginThrottled,
    check_credentials,
    end_session,
    login_required,
    start_session,
    write_required,
)
from miniflow.web.calendar import CELL, calendar_years
from miniflow.web.charts import GANTT_LEFT, GANTT_WIDTH, BarChart, bar_chart, gantt_chart
from miniflow.web.grid import BAR_HEIGHT, GridRow, grid_rows, run_bars, summarize
from miniflow.web.highlight import highlight_python
from miniflow.web.humanize import describe_schedule, format_duration
from miniflow.web.paging import int_arg, page_arg, pager_args, past_last_page
from miniflow.web.params_form import param_fields, read_fields
from miniflow.web.store import admin_store, web_store

from miniflow.setup_teardown import TaskGraph, clear_scope
from miniflow.state import DagRunState, TaskInstanceState
from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["bp"]

bp = Blueprint("ui", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static")
ACTIVE = {str(TaskInstanceState.QUEUED), str(TaskInstanceState.RUNNING), str(TaskInstanceState.SCHEDULED),
          str(TaskInstanceState.UP_FOR_RETRY), str(TaskInstanceState.UP_FOR_RESCHEDULE), str(DagRunState.QUEUED),
          None}



def _json_arg(name: str) -> dict[str, Any]:
    """A JSON object passed in the query string (a form sent back to be corrected)."""
    try:
        value = json.loads(request.args.get(name) or "{}")
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _serialized(dag_id: str) -> Any:
    row = web_store().serialized_dag(dag_id)
    if row is None or web_store().get_dag_row(dag_id) is None:
        abort(404, description=f"DAG {dag_id!r} not found")
    return row


@bp.app_template_filter("dt")
def _format_dt(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


@bp.app_template_filter("timespan")
def _timespan(row: Any) -> str:
    """When a try or a run started and ended, and how long it took or has been running."""
    start, end = row.start_date, row.end_date
    if start is None:
        return "not started"
    if end is None:
        now = dt.datetime.now(dt.timezone.utc if start.tzinfo else None)
        return f"{_format_dt(start)}, running for {format_duration(max(0.0, (now - start).total_seconds()))}"
    return f"{_format_dt(start)} / {_format_dt(end)} ({format_duration((end - start).total_seconds())})"


bp.add_app_template_filter(format_duration, "duration")


bp.add_app_template_filter(pager_args, "pager_args")


@bp.app_template_filter("markdown")
def markdown(text: str | None) -> Any:
    from miniflow.web.markdown import render_markdown

    return render_markdown(text)


# --- login -------------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        expected = session.get("csrf", "")
        if not expected or not hmac.compare_digest(request.form.get("csrf_token", ""), expected):
            abort(400, description="The login form expired; reload the page and try again.")
        try:
            user = check_credentials(request.form.get("username", ""), request.form.get("password", ""))
        except LoginThrottled as exc:
            page = render_template("login.html", error=f"Too many failed logins: try again in {exc.retry_after} s.")
            return page, 429, {"Retry-After": str(exc.retry_after)}
        if user is None:
            error = "Wrong username or password."
        else:
            start_session(user.username)
            admin_store().touch_login(user.username)
            admin_store().log_event("login", owner=user.username)
            target = request.args.get("next", "")
            return redirect(_same_site(target) or url_for("ui.dags"))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout() -> Any:
    expected = session.get("csrf", "")
    if not expected or not hmac.compare_digest(request.form.get("csrf_token", ""), expected):
        abort(400, description="The form expired (CSRF token missing or wrong). Reload the page and try again.")
    end_session()
    return redirect(url_for("ui.login"))


def _same_site(target: str) -> str | None:
    """`target` if it is a path on this site, else None. Browsers drop tabs and newlines
    from URLs and read a backslash as a slash, so those are refused too."""
    if not target.startswith("/") or target.startswith("//"):
        return None
    if any(c == "\\" or c.isspace() or ord(c) < 32 for c in target):
        return None
    return target


# --- DAG list ------------------------------------------------------------------------------


@bp.get("/")
@login_required
def dags() -> Any:
    size = current_app.config["PAGE_SIZE"]
    page = page_arg()
    search = request.args.get("q", "").strip() or None
    tag = request.args.get("tag") or None
    rows, total = web_store().dag_page(search=search, tag=tag, limit=size, offset=(page - 1) * size)
    if moved := past_last_page(page, total, size):
        return moved
    recent = web_store().recent_run_states([r.dag_id for r in rows], per_dag=12)
    counts = web_store().run_counts([r.dag_id for r in rows])
    errors, error_count = web_store().import_error_page(limit=1)
    return render_template(
        "dags.html", dags=rows, recent=recent, counts=counts, describe=describe_schedule, page=page,
        pages=max(1, math.ceil(total / size)), total=total, q=search or "", tag=tag or "",
        tags=web_store().all_tags(), import_error_count=error_count,
    )


@bp.post("/dags/<dag_id>/pause")
@write_required
def pause(dag_id: str) -> Any:
    _serialized(dag_id)
    paused = request.form.get("is_paused") == "true"
    web_store().set_paused(dag_id, paused)
    web_store().log_event("pause" if paused else "unpause", owner=g.user.username, dag_id=dag_id)
    return redirect(_same_site(request.form.get("next", "")) or url_for("ui.dag", dag_id=dag_id))


# --- DAG page -------------------------------------------------------------------------------


def _grid_page(dag_id: str, page: int, size: int) -> tuple[list[Any], int]:
    """The runs of one page of the grid, oldest first, and how many runs there are."""
    runs, total = web_store().run_page(dag_id, limit=size, offset=(page - 1) * size)
    return list(reversed(runs)), total


def _grid_rows(data: dict[str, Any], dag_id: str, runs: list[Any]) -> list[GridRow]:
    run_ids = [r.run_id for r in runs]
    return grid_rows(data["tasks"], data.get("task_groups") or [], run_ids, web_store().grid_tis(dag_id, run_ids))


@bp.get("/dags/<dag_id>")
@login_required
def dag(dag_id: str) -> Any:
    """A DAG's page: every tab has the page's runs (for the run picker and links);
    the task instances, charts and drawings are read only by the tab that shows them."""
    serialized = _serialized(dag_id)
    data = serialized.data
    tab = request.args.get("tab", "grid")
    size = current_app.config["PAGE_SIZE"]
    page = page_arg()
    runs, total = _grid_page(dag_id, page, size)
    if moved := past_last_page(page, total, size):
        return moved
    run_id = request.args.get("run_id") or (runs[-1].run_id if runs else None)
    run = web_store().get_run(dag_id, run_id) if run_id else None
    now = dt.datetime.now(dt.timezone.utc)
    shown: dict[str, Any] = {}
    if tab == "grid":
        shown.update(rows=_grid_rows(data, dag_id, runs), run_bars=run_bars(runs, now), bar_height=BAR_HEIGHT)
    elif tab == "durations":
        shown.update(charts=_duration_charts(runs, _grid_rows(data, dag_id, runs)))
    elif tab == "graph":
        shown.update(_graph(data, web_store().tis_for_runs(dag_id, [run.run_id]) if run else [], _folded(data)))
    elif tab == "gantt":
        shown.update(gantt=gantt_chart(web_store().tis_for_runs(dag_id, [run.run_id]) if run else [], now),
                     gantt_left=GANTT_LEFT, gantt_width=GANTT_WIDTH)
    elif tab == "details":
        shown.update(conf_json=json.dumps(run.conf or {}, indent=2) if run else "")
    elif tab == "calendar":
        years = int_arg("years", 3, 1, 100)
        dates = [(r.logical_date, r.state) for r in web_store().run_dates(dag_id, years)]
        shown.update(calendar=calendar_years(dates, years), cell=CELL)
    elif tab == "about":
        shown.update(next_runs=_next_runs(data, dag_id))
    elif tab == "code":
        shown.update(source=serialized.source_code, highlight=highlight_python)
    elif tab == "trigger":
        shown.update(param_fields=param_fields(data.get("params") or {}, _json_arg("values")))
    return render_template(
        "dag.html", dag=web_store().get_dag_row(dag_id), data=data, tab=tab, runs=runs, page=page,
        pages=max(1, math.ceil(total / size)), run=run, describe=describe_schedule, **shown)


def _folded(data: dict[str, Any]) -> set[str]:
    """The task groups the graph shows folded into one node (``?fold=a&fold=b``); names
    that are not the DAG's groups are ignored."""
    return set(request.args.getlist("fold")) & {g["group_id"] for g in data.get("task_groups") or []}


def _graph(data: dict[str, Any], run_rows: list[Any], folded: set[str]) -> dict[str, Any]:
    """The graph's drawing with the selected run's states; folded groups are one node
    whose state sums up their tasks'."""
    from miniflow.web.graph import fold_groups, group_boxes, layout

    tasks, members = fold_groups(data["tasks"], data.get("task_groups") or [], folded)
    nodes, edges, width, height = layout(tasks, data.get("edge_labels"))
    by_task: dict[str, list[Any]] = defaultdict(list)
    for ti in run_rows:
        by_task[ti.task_id].append(ti)
    states = {n.task_id: summarize([ti for t in members.get(n.task_id, [n.task_id]) for ti in by_task[t]]).state
              for n in nodes}
    return dict(nodes=nodes, edges=edges, width=width, height=height, node_states=states, folded=sorted(folded),
                folded_ids=set(members),
                boxes=group_boxes(tasks, [g for g in data.get("task_groups") or [] if g["group_id"] not in members],
                                  nodes))


def _duration_charts(runs: list[Any], rows: list[GridRow]) -> tuple[BarChart, list[tuple[str, BarChart]]]:
    """Landing times (a run's end after its data interval's end) and each task's
    duration, over the grid's runs."""
    landing = bar_chart([(r.run_id, max(0.0, (r.end_date - r.data_interval_end).total_seconds())
                          if r.end_date and r.data_interval_end else None, r.state) for r in runs])
    per_task = [(row.row_id, bar_chart([(r.run_id, cell.seconds, cell.state) for r, cell in zip(runs, row.cells)]))
                for row in rows if row.kind != "group"]
    return landing, per_task


def _next_runs(data: dict[str, Any], dag_id: str, count: int = 5) -> list[Any]:
    """The next runs the DAG's timetable gives after its latest scheduled one, from the
    DAG's stored form (the webserver imports no DAG file), as ``dags next-execution``."""
    from miniflow.timetables import TimeRestriction, timetable_from_json, upcoming_runs

    def when(text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None

    starts = [d for d in [when(data.get("start_date")), *(when(t.get("start_date")) for t in data["tasks"])] if d]
    restriction = TimeRestriction(min(starts) if starts else None, when(data.get("end_date")),
                                  bool(data.get("catchup", True)))
    return upcoming_runs(timetable_from_json(data.get("timetable") or {}), restriction,
                         dt.datetime.now(dt.timezone.utc), count, last=web_store().last_automated_interval(dag_id))


@bp.get("/dags/<dag_id>/grid.json")
@login_required
def grid_json(dag_id: str) -> Any:
    """The grid's runs and cells, polled by the page while anything is unfinished:
    runs as [run id, state], and per row its cells as [state, seconds, instances,
    states] (see `Cell`)."""
    data = _serialized(dag_id).data
    runs, _ = _grid_page(dag_id, page_arg(), current_app.config["PAGE_SIZE"])
    return jsonify({
        "runs": [[r.run_id, r.state] for r in runs],
        "rows": {row.row_id: [[c.state, c.seconds, c.instances, c.states] for c in row.cells]
                 for row in _grid_rows(data, dag_id, runs)},
    })


@bp.post("/dags/<dag_id>/trigger")
@write_required
def trigger(dag_id: str) -> Any:
    from miniflow.triggering import TriggerError, trigger_dag_run

    params = _serialized(dag_id).data.get("params") or {}
    text = request.form.get("conf", "").strip() or "{}"
    fields: dict[str, Any] = {}
    try:
        fields = read_fields(request.form, params)
        typed = json.loads(text)
        conf = {**fields, **typed} if isinstance(typed, dict) else typed  # not an object: trigger says so
        run = trigger_dag_run(web_store(), dag_id, conf=conf, run_id=request.form.get("run_id") or None,
                              logical_date=request.form.get("logical_date") or None, user=g.user.username)
    except (ValueError, TriggerError) as exc:  # JSONDecodeError is a ValueError
        message = f"Invalid JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        flash(message, "error")
        return redirect(url_for("ui.dag", dag_id=dag_id, tab="trigger", conf=text, values=json.dumps(fields)))
    flash(f"Triggered {run.run_id}", "info")
    return redirect(url_for("ui.dag", dag_id=dag_id, run_id=run.run_id))


@bp.post("/dags/<dag_id>/clear")
@write_required
def clear(dag_id: str) -> Any:
    """Clear a task instance (and on request its up/downstream), or a whole run
    (``whole_run``); confirm first."""
    data = _serialized(dag_id).data
    run_id = request.form.get("run_id", "")
    task_id = request.form.get("task_id", "")
    whole_run = bool(request.form.get("whole_run"))
    run = web_store().get_run(dag_id, run_id)
    tasks = {t["task_id"]: t for t in data["tasks"]}
    if run is None or (task_id not in tasks and not whole_run):
        abort(404, description="no such run or task")
    chosen = set(tasks) if whole_run else clear_scope(
        TaskGraph.of_serialized(data["tasks"]), [task_id], upstream=bool(request.form.get("upstream")),
        downstream=bool(request.form.get("downstream")))
    tis = [t for t in web_store().tis_for_runs(dag_id, [run_id]) if t.task_id in chosen]
    if request.form.get("only_failed"):
        tis = [t for t in tis if t.state in (TaskInstanceState.FAILED, TaskInstanceState.UPSTREAM_FAILED)]
    if not request.form.get("confirmed"):
        return render_template("confirm_clear.html", dag_id=dag_id, run_id=run_id, task_id=task_id, tis=tis,
                               form=request.form)
    from miniflow.clearing import clear_in_run

    count = clear_in_run(web_store(), dag_id, run_id, {t.task_id for t in tis})
    web_store().log_event("clear", owner=g.user.username, dag_id=dag_id, run_id=run_id, task_id=task_id,
                       extra=f"{count} task instances")
    flash(f"Cleared {count} task instance(s)", "info")
    return redirect(url_for("ui.dag", dag_id=dag_id, run_id=run_id))


@bp.post("/dags/<dag_id>/delete")
@write_required
def delete_dag(dag_id: str) -> Any:
    """Delete a DAG's metadata, after a confirmation page."""
    _serialized(dag_id)
    if not request.form.get("confirmed"):
        runs = sum(web_store().run_counts([dag_id])[dag_id].values())
        return render_template("confirm_delete.html", dag_id=dag_id, runs=runs)
    runs = web_store().delete_dag(dag_id)
    web_store().log_event("delete_dag", owner=g.user.username, dag_id=dag_id, extra=f"{runs} runs")
    flash(f"Deleted {dag_id} and its {runs} run(s); it comes back, without history, while its file is in the "
          "DAG folder", "info")
    return redirect(url_for("ui.dags"))


@bp.post("/dags/<dag_id>/runs/<run_id>/mark")
@write_required
def mark(dag_id: str, run_id: str) -> Any:
    _serialized(dag_id)
    state = request.form.get("state")
    if state not in ("success", "failed") or web_store().get_run(dag_id, run_id) is None:
        abort(400, description="state must be success or failed, for an existing run")
    task_id = request.form.get("task_id")
    if task_id:
        web_store().mark_tis(dag_id, run_id, [task_id], TaskInstanceState(state))
    else:
        web_store().mark_run(dag_id, run_id, DagRunState(state))
    web_store().log_event(f"mark_{state}", owner=g.user.username, dag_id=dag_id, run_id=run_id, task_id=task_id)
    return redirect(url_for("ui.dag", dag_id=dag_id, run_id=run_id))


# --- task instance --------------------------------------------------------------------------


@bp.get("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>")
@login_required
def task_instance(dag_id: str, run_id: str, task_id: str) -> Any:
    from miniflow.web.logs import read_log

    _serialized(dag_id)
    key = TaskInstanceKey(dag_id, run_id, task_id, _map_index())
    ti = web_store().get_ti(key)
    if ti is None and key.map_index < 0:
        instances = web_store().mapped_tis(dag_id, run_id, task_id)
        if instances:  # a mapped task: the list of its instances
            return render_template("mapped_instances.html", dag_id=dag_id, run_id=run_id, task_id=task_id,
                                   instances=instances, cell=summarize(instances))
    if ti is None:
        abort(404, description="no such task instance")
    history = web_store().ti_history(key)
    tries = sorted({h.try_number for h in history} | ({ti.try_number} if ti.try_number else set()))
    try:
        chosen = int(request.args.get("try", tries[-1] if tries else 0))
    except ValueError:
        chosen = tries[-1] if tries else 0
    log = read_log(key, chosen) if chosen in tries else None
    xcoms = web_store().xcom_entries(dag_id, run_id, task_id, map_index=key.map_index)
    doc_md = next((t.get("doc_md") for t in _serialized(dag_id).data["tasks"] if t["task_id"] == task_id), None)
    return render_template("task_instance.html", ti=ti, history=history, tries=tries, chosen=chosen, log=log,
                           xcoms=xcoms, rendered=ti.rendered_fields or {}, active=ti.state in ACTIVE, doc_md=doc_md)


@bp.get("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log.json")
@login_required
def log_json(dag_id: str, run_id: str, task_id: str) -> Any:
    from miniflow.web.logs import read_log

    key = TaskInstanceKey(dag_id, run_id, task_id, _map_index())
    ti = web_store().get_ti(key)
    if ti is None:
        abort(404)
    try:
        number = int(request.args.get("try", ti.try_number))
    except ValueError:
        abort(400)
    return jsonify({"state": ti.state, "content": read_log(key, number) or ""})


def _map_index() -> int:
    """Which instance of a mapped task the page is about (``?map_index=``; -1: not mapped)."""
    try:
        return int(request.args.get("map_index", -1))
    except ValueError:
        abort(400, description="map_index must be an integer")


# --- import errors and audit log ------------------------------------------------------------


@bp.get("/import-errors")
@login_required
def import_errors() -> Any:
    rows, total = web_store().import_error_page(limit=200)
    return render_template("import_errors.html", errors=rows, total=total)


@bp.get("/datasets")
@login_required
def datasets() -> Any:
    """Every dataset with the DAGs that produce and consume it, the DAGs' dependency
    graph through datasets, and the latest events."""
    rows = web_store().datasets(limit=1000)
    tasks: dict[str, dict[str, Any]] = {}

    def node(name: str, kind: str) -> dict[str, Any]:
        return tasks.setdefault(name, {"task_id": name, "operator": kind, "upstream": [], "downstream": []})

    for d in rows:
        uri = node(d["uri"], "dataset")
        for dag_id in d["producers"]:
            node(dag_id, "DAG")["downstream"].append(d["uri"])
            uri["upstream"].append(dag_id)
        for dag_id in d["consumers"]:
            node(dag_id, "DAG")["upstream"].append(d["uri"])
            uri["downstream"].append(dag_id)
    from miniflow.web.graph import layout, topological

    nodes, edges, width, height = layout(topological(list(tasks.values())))
    events = list(reversed(web_store().dataset_events(limit=10_000)[-50:]))
    return render_template("datasets.html", datasets=rows, events=events, nodes=nodes, edges=edges,
                           width=width, height=height)


@bp.get("/audit")
@login_required
def audit() -> Any:
    size = 50
    page = page_arg()
    rows, total = web_store().event_page(dag_id=request.args.get("dag_id") or None, limit=size, offset=(page - 1) * size)
    if moved := past_last_page(page, total, size):
        return moved
    return render_template("audit.html", events=rows, page=page, pages=max(1, math.ceil(total / size)))


@bp.get("/sla-misses")
@login_required
def sla_misses() -> Any:
    """Tasks that missed their SLA (see `miniflow.sla`), newest first."""
    dag_id = request.args.get("dag_id") or None
    return render_template("sla_misses.html", misses=web_store().sla_misses(limit=500, dag_id=dag_id), dag_id=dag_id)


@bp.app_errorhandler(400)
@bp.app_errorhandler(403)
@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def error_page(exc: Any) -> Any:
    if request.path.startswith("/api/"):
        from miniflow.web.api import problem

        return problem(exc.code, exc.name, exc.description)
    return render_template("error.html", error=exc), exc.code
