"""Admin: connections, variables and pools, as UI pages (``/admin/...``) and as REST
resources in Airflow's shapes (``/api/v1/connections``, ``/variables``, ``/pools``).

Both go through the same functions (`save_connection`, `save_variable`, `save_pool`,
`delete`), which check the input and write the audit log, so the UI and the API accept
and refuse the same things. A connection's password never leaves the server: lists and
forms show whether one is set, and saving a form with the password left empty keeps
it. Variable values and connection extras whose names look secret are masked.
Reading connections needs the Op or Admin role (they hold credentials); variables and
pools are visible to every user; every change needs Op or Admin (and, in the UI, the
CSRF token).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from miniflow.web.api import ApiError, authenticated
from miniflow.web.api import bp as api
from miniflow.web.auth import can_write, login_required, write_required
from miniflow.web.store import admin_store

from miniflow.connections import Connection
from miniflow.db.records import PoolRecord
from miniflow.secrets import is_sensitive

__all__ = ["bp", "AdminInputError", "save_connection", "save_variable", "save_pool", "delete"]

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")
MASK = "***"
DEFAULT_POOL = "default_pool"


class AdminInputError(ValueError):
    """Input a form or an API call sent that cannot be saved; the message says why."""


class AlreadyExists(AdminInputError):
    """A new connection whose id is taken."""


# --- the changes, shared by the pages and the API ------------------------------------------


def _identifier(kind: str, value: Any) -> str:
    """An id as dag_ids are (`validate_key`), so the CLI and the pages agree."""
    from miniflow.dag import validate_key
    from miniflow.exceptions import InvalidIdError

    try:
        return validate_key(kind, value.strip() if isinstance(value, str) else value)
    except InvalidIdError as exc:
        raise AdminInputError(str(exc)) from None


def _optional_text(name: str, value: Any, limit: int = 5000) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise AdminInputError(f"{name} must be text of at most {limit} characters")
    return value


def _integer(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise AdminInputError(f"{name} must be an integer, got {str(value)[:60]!r}") from None
    if isinstance(value, float) or not low <= number <= high:
        raise AdminInputError(f"{name} must be an integer from {low} to {high}, got {value!r}")
    return number


def save_connection(fields: dict[str, Any], user: str, conn_id: str | None = None) -> Connection:
    """Create (`conn_id` None) or update a connection from `fields` (Airflow's names:
    ``connection_id``, ``conn_type``, ``host``, ``schema``, ``login``, ``password``,
    ``port``, ``extra`` -- a JSON object, or its text -- and ``description``).
    Updating keeps what `fields` leaves out, and an empty password keeps the stored one."""
    store = admin_store()
    old = store.get_connection(conn_id) if conn_id is not None else None
    if conn_id is not None and old is None:
        raise LookupError(f"connection {conn_id!r} not found")
    new_id = conn_id if conn_id is not None else _identifier("connection_id", fields.get("connection_id"))
    if conn_id is None and store.get_connection(new_id) is not None:
        raise AlreadyExists(f"connection {new_id!r} already exists")

    def value(name: str) -> Any:
        return fields[name] if name in fields else getattr(old, name, None)

    conn_type = _identifier("conn_type", value("conn_type"))
    port = value("port")
    given = value("extra")
    extra = _optional_text("extra", json.dumps(given) if isinstance(given, dict) else given, 100_000)
    if extra is not None:
        try:
            if not isinstance(json.loads(extra), dict):
                raise ValueError
        except ValueError:
            raise AdminInputError("extra must be a JSON object, such as {\"sslmode\": \"require\"}") from None
    password = fields.get("password") or getattr(old, "password", None)
    connection = Connection(
        conn_id=new_id, conn_type=conn_type, description=_optional_text("description", value("description")),
        host=_optional_text("host", value("host"), 500), schema=_optional_text("schema", value("schema"), 500),
        login=_optional_text("login", value("login"), 500), password=_optional_text("password", password),
        port=None if port in (None, "") else _integer("port", port, 0, 65535), extra=extra)
    store.set_connection(connection, overwrite=True)
    store.log_event("connection.edit" if old else "connection.add", owner=user, extra=new_id)
    return connection


def save_variable(fields: dict[str, Any], user: str, key: str | None = None) -> Any:
    """Create or update a Variable (``key``, ``value``, ``description``)."""
    store = admin_store()
    if key is not None and store.get_variable(key) is None:
        raise LookupError(f"variable {key!r} not found")
    name = key if key is not None else _identifier("key", fields.get("key"))
    text = fields.get("value")
    if not isinstance(text, str) or len(text) > 1_000_000:
        raise AdminInputError("value must be text of at most 1,000,000 characters")
    store.set_variable(name, text, _optional_text("description", fields.get("description")))
    store.log_event("variable.set", owner=user, extra=name)
    return name


def save_pool(fields: dict[str, Any], user: str, name: str | None = None) -> str:
    """Create or update a pool (``name``, ``slots``, ``description``)."""
    store = admin_store()
    pools = store.pools()
    if name is not None and name not in pools and name != DEFAULT_POOL:
        raise LookupError(f"pool {name!r} not found")
    pool = name if name is not None else _identifier("name", fields.get("name"))
    old = pools.get(pool)
    slots = fields["slots"] if "slots" in fields else getattr(old, "slots", None)
    description = fields["description"] if "description" in fields else getattr(old, "description", None)
    store.set_pool(pool, _integer("slots", slots, 0, 1_000_000), _optional_text("description", description))
    store.log_event("pool.set", owner=user, extra=pool)
    return pool


def delete(kind: str, name: str, user: str) -> None:
    """Delete a connection, variable or pool; LookupError if there is none by that name."""
    store = admin_store()
    if kind == "pool" and name == DEFAULT_POOL:
        raise AdminInputError("default_pool cannot be deleted")
    removed = {"connection": store.delete_connection, "variable": store.delete_variable,
               "pool": store.delete_pool}[kind](name)
    if not removed:
        raise LookupError(f"{kind} {name!r} not found")
    store.log_event(f"{kind}.delete", owner=user, extra=name)


def masked_extra(extra: str | None) -> str | None:
    """A connection's extra with the values of secret-looking keys masked."""
    if not extra:
        return extra
    try:
        data = json.loads(extra)
    except ValueError:
        return MASK
    if not isinstance(data, dict):
        return MASK
    return json.dumps({k: MASK if is_sensitive(str(k)) else v for k, v in data.items()})


def variable_value(key: str, value: str | None) -> str | None:
    return MASK if is_sensitive(key) else value


def pool_slots_in_use() -> dict[str, dict[str, int]]:
    """Per pool, the slots of its running, queued and scheduled task instances."""
    return admin_store().pool_usage()


# --- UI pages ------------------------------------------------------------------------------


def _ops_only() -> None:
    if not can_write():
        abort(403, description="Connections hold credentials: only the Op and Admin roles see them.")


@bp.get("/connections")
@login_required
def connections() -> Any:
    _ops_only()
    return render_template("admin_connections.html", connections=admin_store().connections(), masked=masked_extra)


@bp.route("/connections/new", methods=["GET", "POST"])
@bp.route("/connections/<conn_id>/edit", methods=["GET", "POST"])
@login_required
def connection_form(conn_id: str | None = None) -> Any:
    _ops_only()
    current = admin_store().get_connection(conn_id) if conn_id is not None else None
    if conn_id is not None and current is None:
        abort(404, description=f"no connection {conn_id!r}")
    if request.method == "GET":
        return render_template("admin_connection_form.html", conn=current, form={}, error=None)
    return _save_connection_form(conn_id, current)


@write_required
def _save_connection_form(conn_id: str | None, current: Connection | None) -> Any:
    fields = {k: request.form.get(k, "") for k in ("connection_id", "conn_type", "description", "host", "schema",
                                                    "login", "password", "port", "extra")}
    try:
        saved = save_connection(fields, g.user.username, conn_id)
    except AdminInputError as exc:
        fields.pop("password")
        return render_template("admin_connection_form.html", conn=current, form=fields, error=str(exc)), 400
    flash(f"Saved connection {saved.conn_id}", "info")
    return redirect(url_for("admin.connections"))


@bp.post("/connections/<conn_id>/test")
@write_required
def connection_test(conn_id: str) -> Any:
    from miniflow.connections import test_connection

    ok, message = test_connection(conn_id)
    flash(f"Connection {conn_id}: {'success' if ok else 'failed'}. {message}", "info" if ok else "error")
    return redirect(url_for("admin.connections"))


@bp.get("/variables")
@login_required
def variables() -> Any:
    rows = admin_store().variables()
    editing = request.args.get("key")
    current = next((r for r in rows if r.key == editing), None)
    return render_template("admin_variables.html", variables=rows, shown=variable_value, current=current,
                           error=None, form={})


@bp.post("/variables")
@write_required
def variable_save() -> Any:
    fields = {k: request.form.get(k, "") for k in ("key", "value", "description")}
    try:
        key = save_variable(fields, g.user.username)
    except AdminInputError as exc:
        return render_template("admin_variables.html", variables=admin_store().variables(), shown=variable_value,
                               current=None, error=str(exc), form=fields), 400
    flash(f"Saved variable {key}", "info")
    return redirect(url_for("admin.variables"))


def _pool_rows() -> dict[str, PoolRecord | None]:
    """The stored pools, and the default pool whether stored or not (None: its size is a setting)."""
    rows: dict[str, PoolRecord | None] = dict(admin_store().pools())
    rows.setdefault(DEFAULT_POOL, None)
    return rows


@bp.get("/pools")
@login_required
def pools() -> Any:
    return render_template("admin_pools.html", pools=_pool_rows(), usage=pool_slots_in_use(), error=None, form={},
                           default_slots=current_app.config["DEFAULT_POOL_SLOTS"])


@bp.post("/pools")
@write_required
def pool_save() -> Any:
    fields = {k: request.form.get(k, "") for k in ("name", "slots", "description")}
    try:
        name = save_pool(fields, g.user.username)
    except AdminInputError as exc:
        return render_template("admin_pools.html", pools=_pool_rows(), usage=pool_slots_in_use(), error=str(exc),
                               form=fields, default_slots=current_app.config["DEFAULT_POOL_SLOTS"]), 400
    flash(f"Saved pool {name}", "info")
    return redirect(url_for("admin.pools"))


def _admins_only() -> None:
    if getattr(g, "user", None) is None or g.user.role != "Admin":
        abort(403, description="Only the Admin role manages users.")


@bp.get("/users")
@login_required
def users() -> Any:
    _admins_only()
    return render_template("admin_users.html", users=admin_store().users(), form={}, error=None)


@bp.post("/users")
@write_required
def user_create() -> Any:
    from miniflow.web.auth import hash_password, new_user_problem

    from miniflow.db.web_queries import ROLES

    _admins_only()
    form = request.form
    username, password, role = form.get("username", "").strip(), form.get("password", ""), form.get("role", "")
    problem = new_user_problem(username, password)
    error = f"{problem[0]}: {problem[1]}" if problem else (None if role in ROLES else f"role: use one of {ROLES}")
    if error is None:
        try:
            admin_store().create_user(username, hash_password(password), role, form.get("email") or None)
        except ValueError as exc:
            error = str(exc)
    if error is not None:
        return render_template("admin_users.html", users=admin_store().users(), form=form, error=error), 400
    admin_store().log_event("user.create", owner=g.user.username, extra=f"{username} ({role})")
    flash(f"Created user {username} ({role})", "info")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>/delete")
@write_required
def user_delete(username: str) -> Any:
    _admins_only()
    if username == g.user.username:
        flash("You cannot delete yourself", "error")
    elif admin_store().delete_user(username):
        admin_store().log_event("user.delete", owner=g.user.username, extra=username)
        flash(f"Deleted user {username}", "info")
    else:
        flash(f"No user {username!r}", "error")
    return redirect(url_for("admin.users"))


@bp.post("/<kind>/<name>/delete")
@write_required
def delete_page(kind: str, name: str) -> Any:
    singular = {"connections": "connection", "variables": "variable", "pools": "pool"}.get(kind)
    if singular is None:
        abort(404)
    try:
        delete(singular, name, g.user.username)
    except (AdminInputError, LookupError) as exc:
        flash(str(exc), "error")
    else:
        flash(f"Deleted {singular} {name}", "info")
    return redirect(url_for(f"admin.{kind}"))


# --- REST API (Airflow's shapes) -------------------------------------------------------------


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request", "the body must be a JSON object")
    return body


def _masked_fields(body: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """`body` narrowed to ``update_mask`` (comma-separated) when given."""
    mask = request.args.get("update_mask")
    if mask is None:
        return body
    names = {m.strip() for m in mask.split(",") if m.strip()}
    unknown = names - allowed
    if unknown:
        raise ApiError(400, "Bad Request", f"update_mask names unknown fields: {', '.join(sorted(unknown))}")
    return {k: v for k, v in body.items() if k in names}


def _apply(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except AlreadyExists as exc:
        raise ApiError(409, "Conflict", str(exc)) from None
    except AdminInputError as exc:
        raise ApiError(400, "Bad Request", str(exc)) from None
    except LookupError as exc:
        raise ApiError(404, "Not Found", str(exc)) from None


def _page(items: list[Any]) -> tuple[list[Any], int]:
    from miniflow.web.api import MAX_LIMIT, MAX_OFFSET

    try:
        limit, offset = int(request.args.get("limit", 100)), int(request.args.get("offset", 0))
    except ValueError:
        raise ApiError(400, "Bad Request", "limit and offset must be integers") from None
    if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "Bad Request", f"limit must be 1..{MAX_LIMIT} and offset >= 0")
    return items[offset:offset + limit], len(items)


def connection_json(conn: Connection, full: bool = True) -> dict[str, Any]:
    body = {"connection_id": conn.conn_id, "conn_type": conn.conn_type, "description": conn.description,
            "host": conn.host, "login": conn.login, "schema": conn.schema, "port": conn.port}
    return {**body, "extra": masked_extra(conn.extra)} if full else body


def _api_ops_only() -> None:
    if g.api_user.role not in ("Admin", "Op"):
        raise ApiError(403, "Forbidden", "connections hold credentials: only the Op and Admin roles read them")


@api.get("/connections")
@authenticated()
def api_connections() -> Response:
    _api_ops_only()
    page, total = _page(admin_store().connections())
    return jsonify({"connections": [connection_json(c, full=False) for c in page], "total_entries": total})


@api.get("/connections/<connection_id>")
@authenticated()
def api_connection(connection_id: str) -> Response:
    _api_ops_only()
    conn = admin_store().get_connection(connection_id)
    if conn is None:
        raise ApiError(404, "Not Found", f"connection {connection_id!r} not found")
    return jsonify(connection_json(conn))


@api.post("/connections")
@authenticated(write=True)
def api_connection_add() -> Response:
    return jsonify(connection_json(_apply(save_connection, _body(), g.api_user.username)))


@api.patch("/connections/<connection_id>")
@authenticated(write=True)
def api_connection_patch(connection_id: str) -> Response:
    fields = _masked_fields(_body(), {"conn_type", "description", "host", "schema", "login", "password", "port",
                                      "extra"})
    fields.pop("connection_id", None)
    return jsonify(connection_json(_apply(save_connection, fields, g.api_user.username, connection_id)))


def _variable_json(key: str) -> dict[str, Any]:
    row = next((r for r in admin_store().variables() if r.key == key), None)
    if row is None:
        raise ApiError(404, "Not Found", f"variable {key!r} not found")
    return {"key": row.key, "value": variable_value(row.key, row.val), "description": row.description}


@api.get("/variables")
@authenticated()
def api_variables() -> Response:
    page, total = _page(admin_store().variables())
    return jsonify({"variables": [{"key": r.key, "value": variable_value(r.key, r.val),
                                   "description": r.description} for r in page], "total_entries": total})


@api.get("/variables/<variable_key>")
@authenticated()
def api_variable(variable_key: str) -> Response:
    return jsonify(_variable_json(variable_key))


@api.post("/variables")
@authenticated(write=True)
def api_variable_add() -> Response:
    return jsonify(_variable_json(_apply(save_variable, _body(), g.api_user.username)))


@api.patch("/variables/<variable_key>")
@authenticated(write=True)
def api_variable_patch(variable_key: str) -> Response:
    fields = _masked_fields(_body(), {"value", "description"})
    if "value" not in fields:
        fields["value"] = admin_store().get_variable(variable_key)
    return jsonify(_variable_json(_apply(save_variable, fields, g.api_user.username, variable_key)))


def _pool_json(name: str) -> dict[str, Any]:
    row = admin_store().pools().get(name)
    if row is None and name != DEFAULT_POOL:
        raise ApiError(404, "Not Found", f"pool {name!r} not found")
    slots = row.slots if row is not None else int(current_app.config["DEFAULT_POOL_SLOTS"])
    usage = pool_slots_in_use().get(name, {})
    occupied = usage.get("running", 0) + usage.get("queued", 0)
    return {"name": name, "slots": slots, "description": row.description if row is not None else None,
            "occupied_slots": occupied, "running_slots": usage.get("running", 0),
            "queued_slots": usage.get("queued", 0), "scheduled_slots": usage.get("scheduled", 0),
            "open_slots": max(0, slots - occupied)}


@api.get("/pools")
@authenticated()
def api_pools() -> Response:
    names = sorted({DEFAULT_POOL, *admin_store().pools()})
    page, total = _page(names)
    return jsonify({"pools": [_pool_json(n) for n in page], "total_entries": total})


@api.get("/pools/<pool_name>")
@authenticated()
def api_pool(pool_name: str) -> Response:
    return jsonify(_pool_json(pool_name))


@api.post("/pools")
@authenticated(write=True)
def api_pool_add() -> Response:
    return jsonify(_pool_json(_apply(save_pool, _body(), g.api_user.username)))


@api.patch("/pools/<pool_name>")
@authenticated(write=True)
def api_pool_patch(pool_name: str) -> Response:
    fields = _masked_fields(_body(), {"slots", "description"})
    fields.pop("name", None)
    return jsonify(_pool_json(_apply(save_pool, fields, g.api_user.username, pool_name)))


@api.delete("/connections/<connection_id>")
@authenticated(write=True)
def api_connection_delete(connection_id: str) -> Response:
    _apply(delete, "connection", connection_id, g.api_user.username)
    return Response(status=204)


@api.delete("/variables/<variable_key>")
@authenticated(write=True)
def api_variable_delete(variable_key: str) -> Response:
    _apply(delete, "variable", variable_key, g.api_user.username)
    return Response(status=204)


@api.delete("/pools/<pool_name>")
@authenticated(write=True)
def api_pool_delete(pool_name: str) -> Response:
    _apply(delete, "pool", pool_name, g.api_user.username)
    return Response(status=204)
