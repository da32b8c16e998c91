"""SqliteHook: a SQLite file, named by the connection's host."""

from __future__ import annotations

import sqlite3

from miniflow.hooks.dbapi import DbApiHook

__all__ = ["SqliteHook"]


class SqliteHook(DbApiHook):
    conn_name_attr = "sqlite_conn_id"
    default_conn_name = "sqlite_default"
    conn_type = "sqlite"
    hook_name = "Sqlite"
    placeholder = "?"

    def _path(self) -> str:
        conn = self.connection
        path = conn.host or conn.schema or ""
        if not path:
            raise ValueError(f"SQLite connection {self.conn_id!r} names no file: put its path in the host")
        return path

    def get_conn(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path())

    def get_uri(self) -> str:
        path = self._path()
        return f"sqlite:///{path}" if not path.startswith("/") else f"sqlite:////{path.lstrip('/')}"

    def replace_statement(self) -> str:
        return "INSERT OR REPLACE INTO"
