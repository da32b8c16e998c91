"""The OpenAPI 3 document of the REST API, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

from miniflow.db.web_queries import ALIASES, SORTABLE

__all__ = ["SPEC"]

_DT = {"type": "string", "format": "date-time", "nullable": True}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_INT = {"type": "integer"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_PROBLEM = {"description": "Error", "content": {"application/problem+json": {"schema": _ref("Error")}}}
_ERRORS = {"400": _PROBLEM, "401": _PROBLEM, "403": _PROBLEM, "404": _PROBLEM, "413": _PROBLEM}  # 413: a body over 1 MiB
_PAGE = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}},
]
_MAP_INDEX = {"name": "map_index", "in": "query", "schema": {"type": "integer", "minimum": -1, "maximum": 2**31 - 1}}


def _sorted_page(table: str) -> list[dict[str, Any]]:
    """Paging plus ``order_by`` over the columns the API can sort by (``-`` for descending)."""
    names = [*SORTABLE[table], *(a for a, target in ALIASES.items() if target in SORTABLE[table])]
    order = {"type": "string", "enum": [*names, *(f"-{n}" for n in names)]}
    return [*_PAGE, {"name": "order_by", "in": "query", "schema": order}]


def _path(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "in": "path", "required": True, "schema": _STR} for n in names]


def _collection(key: str, item: str) -> dict[str, Any]:
    return {"type": "object", "required": [key, "total_entries"],
            "properties": {key: {"type": "array", "items": _ref(item)}, "total_entries": _INT}}


def _admin(resource: str, key: str, item: str, given: str, listed: str, fields: list[str]) -> dict[str, Any]:
    """The list/create and get/patch/delete paths of one Admin resource (see web/admin.py);
    ``update_mask`` is a comma-separated list of `fields`."""
    body = {"required": True, "content": {"application/json": {"schema": _ref(given)}}}
    one = "(" + "|".join(fields) + ")"
    mask = {"name": "update_mask", "in": "query", "schema": {"type": "string", "pattern": f"^{one}(,{one})*$"}}
    return {
        f"/{resource}": {
            "get": {"operationId": f"get_{resource}", "parameters": _PAGE,
                    "responses": {"200": _json(_collection(resource, listed)), **_ERRORS}},
            "post": {"operationId": f"post_{resource}", "requestBody": body,
                     "responses": {"200": _json(_ref(item)), **_ERRORS, "409": _PROBLEM}},
        },
        f"/{resource}/{{{key}}}": {
            "parameters": _path(key),
            "get": {"operationId": f"get_{resource}_item", "responses": {"200": _json(_ref(item)), **_ERRORS}},
            "patch": {"operationId": f"patch_{resource}_item", "parameters": [mask], "requestBody": body,
                      "responses": {"200": _json(_ref(item)), **_ERRORS}},
            "delete": {"operationId": f"delete_{resource}_item",
                       "responses": {"204": {"description": "Deleted"}, **_ERRORS}},
        },
    }


_CONNECTION_FIELDS = {"connection_id": _STR, "conn_type": _STR, "description": _NSTR, "host": _NSTR,
                      "login": _NSTR, "schema": _NSTR, "port": {"type": "integer", "nullable": True}}
_ID = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,250}$"}


def _text(limit: int) -> dict[str, Any]:
    return {"type": "string", "nullable": True, "maxLength": limit}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "miniflow REST API", "version": "1.0.0",
             "description": "Shaped like Apache Airflow's stable REST API. HTTP basic auth."},
    "servers": [{"url": "/api/v1"}],
    "security": [{"basic": []}],
    "paths": {
        "/health": {"get": {"operationId": "get_health", "security": [], "responses": {"200": _json(_ref("Health"))}}},
        "/dags": {"get": {"operationId": "get_dags", "parameters": [
            *_sorted_page("dag"), {"name": "dag_id_pattern", "in": "query", "schema": _STR},
            {"name": "tags", "in": "query", "schema": _STR},
            {"name": "paused", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
        ], "responses": {"200": _json(_collection("dags", "DAG")), **_ERRORS}}},
        "/dags/{dag_id}": {
            "parameters": _path("dag_id"),
            "get": {"operationId": "get_dag", "responses": {"200": _json(_ref("DAG")), **_ERRORS}},
            "patch": {"operationId": "patch_dag",
                      "parameters": [{"name": "update_mask", "in": "query", "schema": _STR}],
                      "requestBody": {"required": True, "content": {"application/json": {"schema": {
                          "type": "object", "required": ["is_paused"],
                          "properties": {"is_paused": {"type": "boolean"}}}}}},
                      "responses": {"200": _json(_ref("DAG")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns": {
            "parameters": _path("dag_id"),
            "get": {"operationId": "get_dag_runs",
                    "parameters": [*_sorted_page("dag_run"), {"name": "state", "in": "query", "schema": _STR}],
                    "responses": {"200": _json(_collection("dag_runs", "DAGRun")), **_ERRORS}},
            "post": {"operationId": "post_dag_run",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "properties": {
                             "dag_run_id": {"type": "string", "pattern": "^[A-Za-z0-9_.~:+-]{1,250}$"},
                             "logical_date": {"type": "string", "format": "date-time"},
                             "conf": {"type": "object"}}}}}},
                     "responses": {"200": _json(_ref("DAGRun")), "409": _PROBLEM, **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}": {
            "parameters": _path("dag_id", "dag_run_id"),
            "get": {"operationId": "get_dag_run", "responses": {"200": _json(_ref("DAGRun")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances": {
            "parameters": _path("dag_id", "dag_run_id"),
            "get": {"operationId": "get_task_instances", "parameters": _sorted_page("task_instance"),
                    "responses": {"200": _json(_collection("task_instances", "TaskInstance")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}": {
            "parameters": _path("dag_id", "dag_run_id", "task_id"),
            "get": {"operationId": "get_task_instance", "responses": {"200": _json(_ref("TaskInstance")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/{map_index}": {
            "parameters": [*_path("dag_id", "dag_run_id", "task_id"),
                           {"name": "map_index", "in": "path", "required": True, "schema": _INT}],
            "get": {"operationId": "get_mapped_task_instance",
                    "responses": {"200": _json(_ref("TaskInstance")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/listMapped": {
            "parameters": _path("dag_id", "dag_run_id", "task_id"),
            "get": {"operationId": "get_mapped_task_instances", "parameters": _PAGE,
                    "responses": {"200": _json(_collection("task_instances", "TaskInstance")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/logs/{task_try_number}": {
            "parameters": [*_path("dag_id", "dag_run_id", "task_id"),
                           {"name": "task_try_number", "in": "path", "required": True, "schema": _INT},
                           _MAP_INDEX],
            "get": {"operationId": "get_log", "responses": {"200": {"description": "OK", "content": {
                "application/json": {"schema": {"type": "object", "properties": {
                    "content": _STR, "continuation_token": _NSTR}}},
                "text/plain": {"schema": _STR}}}, **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries": {
            "parameters": [*_path("dag_id", "dag_run_id", "task_id"), _MAP_INDEX],
            "get": {"operationId": "get_xcom_entries",
                    "responses": {"200": _json(_collection("xcom_entries", "XComEntry")), **_ERRORS}},
        },
        "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}": {
            "parameters": [*_path("dag_id", "dag_run_id", "task_id", "xcom_key"), _MAP_INDEX],
            "get": {"operationId": "get_xcom_entry", "responses": {"200": _json(_ref("XCom")), **_ERRORS}},
        },
        "/dags/{dag_id}/datasets": {
            "parameters": _path("dag_id"),
            "get": {"operationId": "get_dag_datasets", "responses": {"200": _json({"type": "object", "properties": {
                "dag_id": _STR, "consumes": {"type": "array", "items": _STR},
                "consumes_aliases": {"type": "array", "items": _STR}, "produces": {"type": "array", "items": _STR},
                "queued_events": {"type": "array", "items": {"type": "object", "properties": {
                    "uri": _STR, "dag_id": _STR, "created_at": _DT}}}}}), **_ERRORS}},
        },
        "/datasets": {"get": {"operationId": "get_datasets", "parameters": _PAGE,
                              "responses": {"200": _json(_collection("datasets", "Dataset")), **_ERRORS}}},
        "/datasets/events": {
            "get": {"operationId": "get_dataset_events",
                    "parameters": [*_PAGE, {"name": "dataset_uri", "in": "query", "schema": _STR}],
                    "responses": {"200": _json(_collection("dataset_events", "DatasetEvent")), **_ERRORS}},
            "post": {"operationId": "create_dataset_event",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": {
                         "type": "object", "required": ["dataset_uri"], "properties": {
                             "dataset_uri": {"type": "string", "minLength": 1, "maxLength": 3000,
                                             # no white space (str.isspace), not the airflow: scheme
                                             "pattern": r"^(?![Aa][Ii][Rr][Ff][Ll][Oo][Ww]:)"
                                                        r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a"
                                                        r"\u2028\u2029\u202f\u205f\u3000]+$"},
                             "extra": {"type": "object"}}}}}},
                     "responses": {"200": _json(_ref("DatasetEvent")), **_ERRORS}},
        },
        "/importErrors": {"get": {"operationId": "get_import_errors", "parameters": _PAGE,
                                  "responses": {"200": _json(_collection("import_errors", "ImportError")), **_ERRORS}}},
        **_admin("connections", "connection_id", "Connection", "ConnectionInput", "ConnectionCollectionItem",
                 ["conn_type", "description", "host", "schema", "login", "password", "port", "extra"]),
        **_admin("variables", "variable_key", "Variable", "VariableInput", "Variable", ["value", "description"]),
        **_admin("pools", "pool_name", "Pool", "PoolInput", "Pool", ["slots", "description"]),
    },
    "components": {
        "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        "schemas": {
            "Error": {"type": "object", "required": ["title", "status"], "properties": {
                "type": _STR, "title": _STR, "status": _INT, "detail": _STR}},
            "Health": {"type": "object", "properties": {
                "metadatabase": {"type": "object", "properties": {"status": _STR}},
                "scheduler": {"type": "object", "properties": {"status": _STR, "latest_scheduler_heartbeat": _DT}}}},
            "DAG": {"type": "object", "required": ["dag_id", "is_paused"], "properties": {
                "dag_id": _STR, "description": _NSTR, "fileloc": _STR, "is_active": {"type": "boolean"},
                "is_paused": {"type": "boolean"}, "owners": {"type": "array", "items": _STR},
                "schedule_interval": {"type": "object", "nullable": True, "properties": {"__type": _STR, "value": _STR}},
                "timetable_description": _NSTR,
                "tags": {"type": "array", "items": {"type": "object", "properties": {"name": _STR}}},
                "max_active_runs": _INT, "max_active_tasks": _INT, "next_dagrun": _DT,
                "next_dagrun_data_interval_start": _DT, "next_dagrun_data_interval_end": _DT,
                "next_dagrun_create_after": _DT, "last_parsed_time": _DT}},
            "DAGRun": {"type": "object", "required": ["dag_id", "dag_run_id", "state"], "properties": {
                "dag_id": _STR, "dag_run_id": _STR, "logical_date": _DT, "execution_date": _DT,
                "data_interval_start": _DT, "data_interval_end": _DT, "start_date": _DT, "end_date": _DT,
                "state": _STR, "run_type": _STR, "external_trigger": {"type": "boolean"}, "conf": {"type": "object"}}},
            "TaskInstance": {"type": "object", "required": ["dag_id", "dag_run_id", "task_id"], "properties": {
                "dag_id": _STR, "dag_run_id": _STR, "task_id": _STR, "state": _NSTR, "try_number": _INT,
                "max_tries": _INT, "start_date": _DT, "end_date": _DT,
                "duration": {"type": "number", "nullable": True}, "hostname": _STR,
                "pid": {"type": "integer", "nullable": True}, "pool": _STR, "pool_slots": _INT, "queue": _STR,
                "priority_weight": _INT, "operator": _NSTR, "queued_when": _DT, "map_index": _INT,
                "rendered_map_index": _NSTR}},
            "XComEntry": {"type": "object", "properties": {
                "key": _STR, "timestamp": _DT, "dag_id": _STR, "task_id": _STR, "dag_run_id": _STR, "map_index": _INT}},
            "XCom": {"type": "object", "properties": {
                "key": _STR, "timestamp": _DT, "dag_id": _STR, "task_id": _STR, "dag_run_id": _STR, "map_index": _INT,
                "value": {"nullable": True}}},
            "Dataset": {"type": "object", "properties": {
                "uri": _STR, "extra": {"type": "object"}, "created_at": _DT,
                "consuming_dags": {"type": "array", "items": {"type": "object", "properties": {"dag_id": _STR}}},
                "producing_dags": {"type": "array", "items": {"type": "object", "properties": {"dag_id": _STR}}},
                "last_update": _DT}},
            "DatasetEvent": {"type": "object", "properties": {
                "id": _INT, "dataset_uri": _STR, "extra": {"type": "object"}, "timestamp": _DT,
                "source_dag_id": _NSTR, "source_task_id": _NSTR, "source_run_id": _NSTR, "source_map_index": _INT}},
            "ConnectionCollectionItem": {"type": "object", "properties": _CONNECTION_FIELDS},
            "Connection": {"type": "object", "properties": {**_CONNECTION_FIELDS, "extra": _NSTR}},
            "ConnectionInput": {"type": "object", "required": ["connection_id", "conn_type"], "properties": {
                "connection_id": _ID, "conn_type": _ID, "description": _text(5000), "host": _text(500),
                "schema": _text(500), "login": _text(500), "password": {**_text(5000), "writeOnly": True},
                "port": {"type": "integer", "nullable": True, "minimum": 0, "maximum": 65535},
                "extra": {"type": "object", "nullable": True}}},
            "Variable": {"type": "object", "properties": {"key": _STR, "value": _NSTR, "description": _NSTR}},
            "VariableInput": {"type": "object", "required": ["key", "value"], "properties": {
                "key": _ID, "value": {"type": "string", "maxLength": 1_000_000}, "description": _text(5000)}},
            "PoolInput": {"type": "object", "required": ["name", "slots"], "properties": {
                "name": _ID, "slots": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
                "description": _text(5000)}},
            "Pool": {"type": "object", "properties": {
                "name": _STR, "slots": _INT, "description": _NSTR, "occupied_slots": _INT, "running_slots": _INT,
                "queued_slots": _INT, "scheduled_slots": _INT, "open_slots": _INT}},
            "ImportError": {"type": "object", "properties": {
                "import_error_id": _INT, "filename": _STR, "stack_trace": _STR, "timestamp": _DT,
                "lineno": {"type": "integer", "nullable": True}}},
        },
    },
}
