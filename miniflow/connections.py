"""Connections: where an external system is and how to log in to it, kept out of DAG
files. A hook (`miniflow.hooks`) looks one up by id::

    PostgresHook(postgres_conn_id="warehouse").get_records("SELECT 1")

A connection comes from the environment -- ``AIRFLOW_CONN_<ID>`` or
``MINIFLOW_CONN_<ID>`` holding a URI (``postgresql://user:pw@host:5432/db``) or JSON
(``{"conn_type": "postgres", "host": ..., "extra": {...}}``) -- or from the metadata DB
(``miniflow connections add``), where the password and ``extra`` are encrypted
(`miniflow.secrets`). The environment wins, as in Airflow. ``{{ conn.warehouse.host }}``
reads one in a template.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from miniflow.exceptions import AirflowNotFoundException

__all__ = ["default_connections", "test_connection", "Connection", "get_connection", "ConnectionAccessor"]

_EXTRA_KEY = "__extra__"


def _normalize_type(conn_type: str | None) -> str | None:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_") if conn_type else conn_type


class Connection:
    """One connection, with Airflow's fields and URI format."""

    def __init__(self, conn_id: str | None = None, conn_type: str | None = None, description: str | None = None,
                 host: str | None = None, login: str | None = None, password: str | None = None,
                 schema: str | None = None, port: int | None = None, extra: str | dict[str, Any] | None = None,
                 uri: str | None = None) -> None:
        self.conn_id = conn_id
        self.description = description
        if uri is not None:
            if any(v is not None for v in (conn_type, host, login, password, schema, port, extra)):
                raise ValueError("give a connection's uri or its fields, not both")
            self._parse_uri(uri)
            return
        self.conn_type = _normalize_type(conn_type)
        self.host, self.login, self.password, self.schema = host, login, password, schema
        self.port = int(port) if port not in (None, "") else None
        self.extra = json.dumps(extra) if isinstance(extra, dict) else extra

    def __repr__(self) -> str:
        return f"Connection({self.conn_id!r}, {self.conn_type!r}, host={self.host!r})"

    def _parse_uri(self, uri: str) -> None:
        if uri.count("://") > 2:
            raise ValueError(f"invalid connection URI {uri!r}")
        scheme = urlsplit(uri).scheme
        if not scheme:
            raise ValueError(f"connection URI {uri!r} has no scheme (such as postgresql://)")
        self.conn_type = _normalize_type(scheme)
        with_protocol = uri.count("://") == 2
        rest = uri.replace(f"{scheme}://", "" if with_protocol else "//", 1)
        parts = urlsplit(rest)
        host = unquote(parts.hostname or "")
        if "/" in host:  # a quoted path as the host (a SQLite file): take it as written
            host = parts.netloc.rsplit("@", 1)[-1].split(":", 1)[0]
            host = unquote(host)
        self.host = (f"{parts.scheme}://{host}" if with_protocol else host) if host else None
        self.schema = unquote(parts.path[1:]) if parts.path[1:] else None
        self.login = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.port = parts.port
        query = dict(parse_qsl(parts.query, keep_blank_values=True)) if parts.query else {}
        self.extra = query[_EXTRA_KEY] if _EXTRA_KEY in query else (json.dumps(query) if query else None)

    @property
    def extra_dejson(self) -> dict[str, Any]:
        """`extra` as a dict (empty when it is not a JSON object)."""
        if not self.extra:
            return {}
        try:
            value = json.loads(self.extra)
        except json.JSONDecodeError:
            return {}
        return value if isinstance(value, dict) else {}

    def get_uri(self) -> str:
        """The connection as one URI, in Airflow's format (what ``AIRFLOW_CONN_*`` holds)."""
        uri = f"{self.conn_type.lower().replace('_', '-')}://" if self.conn_type else "//"
        protocol, host = (self.host.split("://", 1) if self.host and "://" in self.host else (None, self.host))
        if protocol:
            uri += f"{protocol}://"
        auth = quote(self.login, safe="") if self.login is not None else ""
        if self.password is not None:
            auth += ":" + quote(self.password, safe="")
        if auth:
            uri += auth + "@"
        block = quote(host, safe="") if host else ""
        if self.port:
            block += f"@:{self.port}" if not block and not auth else f":{self.port}"
        if self.schema:
            block += f"/{quote(self.schema, safe='')}"
        uri += block
        if self.extra:
            extra = self.extra_dejson
            query = urlencode(extra) if extra and all(isinstance(v, str) for v in extra.values()) else None
            uri += ("?" if self.schema else "/?") + (query or urlencode({_EXTRA_KEY: self.extra}))
        return uri

    def to_dict(self) -> dict[str, Any]:
        return {"conn_id": self.conn_id, "conn_type": self.conn_type, "description": self.description,
                "host": self.host, "login": self.login, "password": self.password, "schema": self.schema,
                "port": self.port, "extra": self.extra}

    @classmethod
    def from_json(cls, conn_id: str, text: str) -> Connection:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a connection in JSON must be an object")
        allowed = {"conn_type", "description", "host", "login", "password", "schema", "port", "extra"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown connection field(s) {', '.join(unknown)}")
        return cls(conn_id=conn_id, **data)

    @classmethod
    def get_connection_from_secrets(cls, conn_id: str) -> Connection:
        return get_connection(conn_id)


def _from_environment(conn_id: str) -> Connection | None:
    for prefix in ("MINIFLOW_CONN_", "AIRFLOW_CONN_"):
        value = os.environ.get(prefix + conn_id.upper())
        if value:
            where = f"{prefix}{conn_id.upper()}"
            try:
                conn = (Connection.from_json(conn_id, value) if value.lstrip().startswith("{")
                        else Connection(conn_id=conn_id, uri=value.strip()))
            except (ValueError, TypeError) as exc:
                raise AirflowNotFoundException(f"connection {conn_id!r} in {where} is not valid: {exc}") from None
            return conn
    return None


def get_connection(conn_id: str) -> Connection:
    """The connection `conn_id`: from the environment, else from the metadata DB."""
    from miniflow.secrets import mask_secret

    conn = _from_environment(conn_id)
    if conn is None:
        conn = _from_store(conn_id)
    if conn is None:
        raise AirflowNotFoundException(
            f"The conn_id `{conn_id}` isn't defined: add it with 'miniflow connections add {conn_id} "
            f"--conn-uri ...' or set the environment variable AIRFLOW_CONN_{conn_id.upper()}")
    if conn.password:
        mask_secret(conn.password)
    return conn


def default_connections(home: Path) -> list[Connection]:
    """What ``db migrate`` adds when missing (as Airflow adds its defaults): SQLite files
    in the home, ``sqlite_default`` and ``sales_db``, the example pipelines' warehouse,
    and Airflow's ``fs_default`` (the root folder, where a `FileSensor`'s relative path starts).
    Point ``sales_db`` at PostgreSQL (``miniflow connections delete sales_db`` then
    ``add``, the Admin page, or ``AIRFLOW_CONN_SALES_DB``) and the examples load there."""
    return [
        Connection("sqlite_default", "sqlite", host=str(home / "sqlite_default.db"),
                   description="A SQLite file in the miniflow home"),
        Connection("sales_db", "sqlite", host=str(home / "example_data" / "sales.db"),
                   description="The warehouse of the example sales pipelines"),
        Connection("fs_default", "fs", extra='{"path": "/"}', description="The root of the worker's filesystem"),
    ]


def test_connection(conn_id: str) -> tuple[bool, str]:
    """Try a connection: a SQL database runs ``SELECT 1``, an HTTP service gets its base
    URL. (ok, what happened, in one line)."""
    from miniflow.hooks.base import BaseHook
    from miniflow.hooks.dbapi import DbApiHook

    try:
        hook = BaseHook.get_hook(conn_id)
        if isinstance(hook, DbApiHook):
            hook.get_first("SELECT 1")
            return True, "Connection successfully tested"
        ok, message = hook.test_connection()  # type: ignore[attr-defined]
        return bool(ok), str(message)
    except Exception as exc:  # noqa: BLE001 -- any failure is the test's answer
        return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _from_store(conn_id: str) -> Connection | None:
    from miniflow.db.store import get_store

    try:
        store = get_store()
    except Exception:  # noqa: BLE001 -- no (migrated) DB: only the environment counts
        return None
    return store.get_connection(conn_id)


class ConnectionAccessor(Mapping[str, Connection]):
    """``{{ conn.<id> }}`` in templates: looks a connection up when it is used."""

    def __getitem__(self, conn_id: str) -> Connection:
        return get_connection(conn_id)

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return get_connection(conn_id)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0
