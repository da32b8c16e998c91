"""The REST API under ``/api/v1``, shaped like Airflow's stable REST API.

Authentication is HTTP basic (users of the metadata DB); writes need the Op or Admin
role. Errors are JSON problem documents (RFC 7807). Lists take ``limit``, ``offset``
and ``order_by`` and return ``total_entries``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, g, jsonify, request
from miniflow.web.auth import WRITE_ROLES, LoginThrottled, check_credentials
from miniflow.web.store import web_store
from werkzeug.exceptions import HTTPException

if TYPE_CHECKING:
    from miniflow.db.records import DagRecord, DatasetEventRecord, RunRecord, TIRecord

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


class ApiError(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail


def problem(status: int, title: str, detail: str) -> Response:
    body = {"type": f"https://miniflow.dev/errors/{title.lower().replace(' ', '-')}", "title": title,
            "status": status, "detail": detail}
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="miniflow"'
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return problem(exc.status, exc.title, exc.detail)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return problem(exc.code or 500, exc.name, exc.description or "")



def authenticated(write: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            auth = request.authorization
            try:
                user = check_credentials(auth.username or "", auth.password or "") \
                    if auth and auth.type == "basic" else None
            except LoginThrottled as exc:
                response = problem(429, "Too Many Requests", str(exc))
                response.headers["Retry-After"] = str(exc.retry_after)
                return response
            if user is None:
                raise ApiError(401, "Unauthenticated", "Send valid credentials with HTTP basic auth.")
            g.api_user = user
            if write and user.role not in WRITE_ROLES:
                raise ApiError(403, "Permission denied", f"Role {user.role} may not change anything.")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _paging(default_order: str) -> tuple[int, int, str]:
    try:
        limit = int(request.args.get("limit", 100))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise ApiError(400, "Bad Request", "limit and offset must be integers") from None
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "Bad Request", f"limit must be 1..{MAX_LIMIT} and offset >= 0")
    return limit, offset, request.args.get("order_by", default_order)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _schedule(summary: str | None) -> dict[str, str] | None:
    if not summary or summary == "None":
        return None
    if "Dataset" in summary or "dataset" in summary:
        return {"__type": "DatasetTriggered", "value": summary}
    if summary.startswith("@") or len(summary.split()) in (5, 6):
        return {"__type": "CronExpression", "value": summary}
    return {"__type": "TimeDelta", "value": summary}


def dag_json(row: DagRecord) -> dict[str, Any]:
    return {
        "dag_id": row.dag_id,
        "description": row.description,
        "fileloc": row.fileloc,
        "is_active": row.is_active,
        "is_paused": row.is_paused,
        "owners": [o.strip() for o in (row.owners or "").split(",") if o.strip()],
        "schedule_interval": _schedule(row.schedule),
        "timetable_description": row.schedule,
        "tags": [{"name": t} for t in row.tags or []],
        "max_active_runs": row.max_active_runs,
        "max_active_tasks": row.max_active_tasks,
        "next_dagrun": _iso(row.next_dagrun),
        "next_dagrun_data_interval_start": _iso(row.next_dagrun_data_interval_start),
        "next_dagrun_data_interval_end": _iso(row.next_dagrun_data_interval_end),
        "next_dagrun_create_after": _iso(row.next_dagrun_create_after),
        "last_parsed_time": _iso(row.last_parsed),
    }


def run_json(row: RunRecord) -> dict[str, Any]:
    return {
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "logical_date": _iso(row.logical_date),
        "execution_date": _iso(row.logical_date),
        "data_interval_start": _iso(row.data_interval_start),
        "data_interval_end": _iso(row.data_interval_end),
        "start_date": _iso(row.start_date),
        "end_date": _iso(row.end_date),
        "state": row.state,
        "run_type": row.run_type,
        "external_trigger": row.external_trigger,
        "conf": row.conf or {},
    }


def ti_json(row: TIRecord) -> dict[str, Any]:
    return {
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "task_id": row.task_id,
        "state": row.state,
        "try_number": row.try_number,
        "max_tries": row.max_tries,
        "start_date": _iso(row.start_date),
        "end_date": _iso(row.end_date),
        "duration": row.duration,
        "hostname": row.hostname or "",
        "pid": row.pid,
        "pool": row.pool,
        "pool_slots": row.pool_slots,
        "queue": row.queue,
        "priority_weight": row.priority_weight,
        "operator": row.operator,
        "queued_when": _iso(row.queued_at),
        "map_index": row.map_index,
        "rendered_map_index": row.rendered_map_index,
    }


def _dag_row(dag_id: str) -> Any:
    row = web_store().get_dag_row(dag_id)
    if row is None:
        raise ApiError(404, "Not Found", f"DAG {dag_id!r} not found")
    return row


def _run_row(dag_id: str, run_id: str) -> Any:
    _dag_row(dag_id)
    row = web_store().get_run(dag_id, run_id)
    if row is None:
        raise ApiError(404, "Not Found", f"DAG run {run_id!r} of DAG {dag_id!r} not found")
    return row


def _ti_row(dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> Any:
    from miniflow.taskinstancekey import TaskInstanceKey

    _run_row(dag_id, run_id)
    if map_index is None:
        map_index = _map_index_arg()
    row = web_store().get_ti(TaskInstanceKey(dag_id, run_id, task_id, map_index))
    if row is None:
        index = f"[{map_index}]" if map_index >= 0 else ""
        raise ApiError(404, "Not Found", f"task instance {task_id + index!r} of run {run_id!r} not found")
    return row


def _map_index_arg() -> int:
    """The ``map_index`` query parameter (-1, a task that is not mapped, by default)."""
    value = request.args.get("map_index", "-1")
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, "Bad Request", f"map_index must be an integer, got {value!r}") from None


def _ordered(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except ValueError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from None


# --- endpoints ---------------------------------------------------------------------------


@bp.get("/health")
def health() -> Response:
    """Unauthenticated, as in Airflow: the metadata DB and the scheduler's heartbeat."""
    from miniflow.config import get_config

    body: dict[str, Any] = {}
    try:
        beat = web_store().latest_heartbeat()
        body["metadatabase"] = {"status": "healthy"}
    except Exception:  # noqa: BLE001 -- any DB failure is "unhealthy"
        beat = None
        body["metadatabase"] = {"status": "unhealthy"}
    threshold = float(get_config().get("scheduler", "zombie_threshold"))
    fresh = beat is not None and (dt.datetime.now(dt.timezone.utc) - beat).total_seconds() < threshold
    body["scheduler"] = {"status": "healthy" if fresh else "unhealthy", "latest_scheduler_heartbeat": _iso(beat)}
    return jsonify(body)


@bp.get("/dags")
@authenticated()
def list_dags() -> Response:
    limit, offset, order_by = _paging("dag_id")
    paused = request.args.get("paused")
    rows, total = _ordered(web_store().dag_page, search=request.args.get("dag_id_pattern"),
                           tag=request.args.get("tags"),
                           paused=None if paused is None else paused.lower() == "true",
                           limit=limit, offset=offset, order_by=order_by)
    return jsonify({"dags": [dag_json(r) for r in rows], "total_entries": total})


@bp.get("/dags/<dag_id>")
@authenticated()
def get_dag(dag_id: str) -> Response:
    return jsonify(dag_json(_dag_row(dag_id)))


@bp.patch("/dags/<dag_id>")
@authenticated(write=True)
def patch_dag(dag_id: str) -> Response:
    _dag_row(dag_id)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("is_paused"), bool):
        raise ApiError(400, "Bad Request", 'send a JSON object like {"is_paused": true}')
    mask = request.args.get("update_mask")
    if mask is not None and mask != "is_paused":
        raise ApiError(400, "Bad Request", "only is_paused can be updated")
    web_store().set_paused(dag_id, body["is_paused"])
    web_store().log_event("pause" if body["is_paused"] else "unpause", owner=g.api_user.username, dag_id=dag_id)
    return jsonify(dag_json(_dag_row(dag_id)))


@bp.get("/dags/<dag_id>/dagRuns")
@authenticated()
def list_runs(dag_id: str) -> Response:
    _dag_row(dag_id)
    limit, offset, order_by = _paging("-logical_date")
    rows, total = _ordered(web_store().run_page, dag_id, limit=limit, offset=offset, order_by=order_by,
                           state=request.args.get("state"))
    return jsonify({"dag_runs": [run_json(r) for r in rows], "total_entries": total})


@bp.post("/dags/<dag_id>/dagRuns")
@authenticated(write=True)
def trigger_run(dag_id: str) -> Response:
    from miniflow.triggering import TriggerError, trigger_dag_run

    _dag_row(dag_id)
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        raise ApiError(400, "Bad Request", "the body is nested too deeply") from None
    if body is None:
        if request.get_data():
            raise ApiError(400, "Bad Request", "the body is not valid JSON (or is nested too deeply)")
        body = {}
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    try:
        run = trigger_dag_run(web_store(), dag_id, conf=body.get("conf"), run_id=body.get("dag_run_id"),
                              logical_date=body.get("logical_date") or body.get("execution_date"),
                              user=g.api_user.username)
    except TriggerError as exc:
        raise ApiError(exc.status, "Conflict" if exc.status == 409 else "Bad Request", str(exc)) from None
    return jsonify(run_json(run))


@bp.get("/dags/<dag_id>/dagRuns/<run_id>")
@authenticated()
def get_run(dag_id: str, run_id: str) -> Response:
    return jsonify(run_json(_run_row(dag_id, run_id)))


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances")
@authenticated()
def list_tis(dag_id: str, run_id: str) -> Response:
    _run_row(dag_id, run_id)
    limit, offset, order_by = _paging("task_id")
    rows, total = _ordered(web_store().ti_page, dag_id, run_id, limit=limit, offset=offset, order_by=order_by)
    return jsonify({"task_instances": [ti_json(r) for r in rows], "total_entries": total})


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>")
@authenticated()
def get_ti(dag_id: str, run_id: str, task_id: str) -> Response:
    return jsonify(ti_json(_ti_row(dag_id, run_id, task_id, -1)))


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>/<int:map_index>")
@authenticated()
def get_mapped_ti(dag_id: str, run_id: str, task_id: str, map_index: int) -> Response:
    return jsonify(ti_json(_ti_row(dag_id, run_id, task_id, map_index)))


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>/listMapped")
@authenticated()
def list_mapped_tis(dag_id: str, run_id: str, task_id: str) -> Response:
    _run_row(dag_id, run_id)
    limit, offset, _ = _paging("map_index")
    rows = [r for r in web_store().mapped_tis(dag_id, run_id, task_id) if r.map_index >= 0]
    if not rows:
        raise ApiError(404, "Not Found", f"task {task_id!r} of run {run_id!r} has no mapped instances")
    return jsonify({"task_instances": [ti_json(r) for r in rows[offset:offset + limit]], "total_entries": len(rows)})


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>/logs/<int:try_number>")
@authenticated()
def get_log(dag_id: str, run_id: str, task_id: str, try_number: int) -> Response:
    from miniflow.web.logs import read_log

    from miniflow.taskinstancekey import TaskInstanceKey

    ti = _ti_row(dag_id, run_id, task_id)
    if not 1 <= try_number <= max(ti.try_number, 1):
        raise ApiError(404, "Not Found", f"task instance has no try {try_number}")
    content = read_log(TaskInstanceKey(ti.dag_id, ti.run_id, ti.task_id, ti.map_index), try_number)
    if content is None:
        raise ApiError(404, "Not Found", f"no log for try {try_number}")
    if request.accept_mimetypes.best == "text/plain":
        return Response(content, mimetype="text/plain")
    return jsonify({"content": content, "continuation_token": None})


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>/xcomEntries")
@authenticated()
def list_xcom(dag_id: str, run_id: str, task_id: str) -> Response:
    ti = _ti_row(dag_id, run_id, task_id)
    rows = web_store().xcom_entries(ti.dag_id, ti.run_id, ti.task_id, map_index=ti.map_index)
    entries = [{"key": r.key, "timestamp": _iso(r.timestamp), "dag_id": r.dag_id, "task_id": r.task_id,
                "dag_run_id": r.run_id, "map_index": r.map_index} for r in rows]
    return jsonify({"xcom_entries": entries, "total_entries": len(entries)})


@bp.get("/dags/<dag_id>/dagRuns/<run_id>/taskInstances/<task_id>/xcomEntries/<key>")
@authenticated()
def get_xcom(dag_id: str, run_id: str, task_id: str, key: str) -> Response:
    ti = _ti_row(dag_id, run_id, task_id)
    rows = web_store().xcom_entries(ti.dag_id, ti.run_id, ti.task_id, key, map_index=ti.map_index)
    if not rows:
        raise ApiError(404, "Not Found", f"no XCom {key!r}")
    r = rows[0]
    return jsonify({"key": r.key, "timestamp": _iso(r.timestamp), "dag_id": r.dag_id, "task_id": r.task_id,
                    "dag_run_id": r.run_id, "map_index": r.map_index, "value": json.loads(r.value) if r.value else None})


@bp.get("/importErrors")
@authenticated()
def list_import_errors() -> Response:
    limit, offset, _ = _paging("filename")
    rows, total = web_store().import_error_page(limit=limit, offset=offset)
    return jsonify({"import_errors": [
        {"import_error_id": r.id, "filename": r.filename, "stack_trace": r.message,
         "timestamp": _iso(r.timestamp), "lineno": r.lineno} for r in rows], "total_entries": total})


def dataset_event_json(row: DatasetEventRecord) -> dict[str, Any]:
    return {"id": row.id, "dataset_uri": row.uri, "extra": row.extra or {}, "timestamp": _iso(row.timestamp),
            "source_dag_id": row.source_dag_id, "source_task_id": row.source_task_id,
            "source_run_id": row.source_run_id, "source_map_index": row.source_map_index}


@bp.get("/datasets")
@authenticated()
def list_datasets() -> Response:
    limit, offset, _ = _paging("uri")
    rows = web_store().datasets(limit=limit, offset=offset)
    return jsonify({"datasets": [
        {"uri": d["uri"], "extra": d["extra"], "created_at": _iso(d["created_at"]),
         "consuming_dags": [{"dag_id": c} for c in d["consumers"]],
         "producing_dags": [{"dag_id": p} for p in d["producers"]], "last_update": _iso(d["last_update"])}
        for d in rows], "total_entries": offset + len(rows)})


@bp.get("/datasets/events")
@authenticated()
def list_dataset_events() -> Response:
    limit, offset, _ = _paging("id")
    rows = web_store().dataset_events(uri=request.args.get("dataset_uri"), limit=limit, offset=offset)
    return jsonify({"dataset_events": [dataset_event_json(r) for r in rows], "total_entries": offset + len(rows)})


@bp.post("/datasets/events")
@authenticated(write=True)
def create_dataset_event() -> Response:
    from miniflow.datasets import Dataset
    from miniflow.exceptions import DagDefinitionError

    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("dataset_uri"), str):
        raise ApiError(400, "Bad Request", 'send a JSON object like {"dataset_uri": "s3://bucket/key", "extra": {}}')
    extra = body.get("extra") or {}
    if not isinstance(extra, dict):
        raise ApiError(400, "Bad Request", "extra must be a JSON object")
    try:
        uri = Dataset(body["dataset_uri"]).uri
    except DagDefinitionError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from None
    if len(uri) > 3000:
        raise ApiError(400, "Bad Request", "dataset_uri is longer than 3000 characters")
    event_id = web_store().record_external_dataset_event(uri, extra)
    web_store().log_event("dataset_event", owner=g.api_user.username, extra=uri)
    [row] = [r for r in web_store().dataset_events(uri=uri, limit=10_000) if r.id == event_id]
    return jsonify(dataset_event_json(row))


@bp.get("/dags/<dag_id>/datasets")
@authenticated()
def dag_datasets(dag_id: str) -> Response:
    """A DAG's dataset dependencies: what it is scheduled on, what it updates, and the
    updates queued for its next dataset-triggered run."""
    _dag_row(dag_id)
    refs = web_store().dag_dataset_references(dag_id)
    queued = web_store().dataset_queue().get(dag_id, {})
    return jsonify({"dag_id": dag_id, "consumes": refs["uri"], "consumes_aliases": refs["alias"],
                    "produces": refs["outlet"],
                    "queued_events": [{"uri": uri, "dag_id": dag_id, "created_at": _iso(when)}
                                      for uri, when in sorted(queued.items())]})


@bp.get("/openapi.json")
def openapi() -> Response:
    from miniflow.web.openapi import SPEC

    return jsonify(SPEC)
