"""DbApiHook: SQL databases through their DB-API 2 driver -- the calls the SQL operators
and real DAG files use (`get_records`, `get_first`, `run`, `insert_rows`,
`get_pandas_df`, `get_sqlalchemy_engine`)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from miniflow.connections import Connection
from miniflow.exceptions import AirflowException
from miniflow.hooks.base import BaseHook

__all__ = ["DbApiHook", "fetch_all_handler", "fetch_one_handler", "hook_for", "split_sql"]


def fetch_all_handler(cursor: Any) -> list[tuple[Any, ...]] | None:
    """Every row of a statement that returns rows; None for one that does not."""
    return list(cursor.fetchall()) if cursor.description is not None else None


def fetch_one_handler(cursor: Any) -> tuple[Any, ...] | None:
    return cursor.fetchone() if cursor.description is not None else None


def split_sql(sql: str) -> list[str]:
    """`sql` split into statements at semicolons outside quotes; empty ones dropped."""
    parts = re.split(r";(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)", sql)
    return [p.strip() for p in parts if p.strip()]


class DbApiHook(BaseHook):
    """Subclasses name their connection attribute and open a DB-API connection."""

    conn_name_attr = "conn_id"
    default_conn_name = "default_conn_id"
    placeholder = "%s"
    sqlalchemy_scheme = ""

    def __init__(self, *args: Any, schema: str | None = None, log_sql: bool = True, **kwargs: Any) -> None:
        super().__init__()
        conn_id = kwargs.pop(self.conn_name_attr, None) or kwargs.pop("conn_id", None)
        self.conn_id = args[0] if args else conn_id or self.default_conn_name
        self.schema = schema
        self.log_sql = log_sql
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.get_connection(self.conn_id)
        return self._connection

    def get_conn(self) -> Any:
        raise TypeError(f"{type(self).__name__} does not say how to connect")

    def get_uri(self) -> str:
        """A SQLAlchemy URL for the connection."""
        return self.connection.get_uri()

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        """Turn the driver's autocommit on or off, where it has one (psycopg, sqlite3)."""
        if hasattr(conn, "autocommit"):
            conn.autocommit = autocommit

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> Any:
        from sqlalchemy import create_engine

        return create_engine(self.get_uri(), **(engine_kwargs or {}))

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[tuple[Any, Any]]:
        """A connection and a cursor, committed at the end (a no-op under autocommit, and
        what saves the work of a driver that has no autocommit, as in Airflow)."""
        conn = self.get_conn()
        try:
            cursor = conn.cursor()
            try:
                yield conn, cursor
                conn.commit()
            finally:
                cursor.close()
        finally:
            conn.close()

    def run(self, sql: str | Iterable[str], autocommit: bool = False, parameters: Any = None,
            handler: Callable[[Any], Any] | None = None, split_statements: bool = False,
            return_last: bool = True) -> Any:
        """Run one statement or several (in one transaction unless `autocommit`); with a
        `handler`, return what it makes of the (last) cursor, or of each."""
        statements = ([sql] if not split_statements else split_sql(sql)) if isinstance(sql, str) else list(sql)
        if not statements:
            raise AirflowException("no SQL to run")
        results = []
        with self._cursor() as (conn, cursor):
            if autocommit:
                self.set_autocommit(conn, True)
            for statement in statements:
                if self.log_sql:
                    self.log.info("Running statement: %s, parameters: %s", statement, parameters)
                if parameters is None:
                    cursor.execute(statement)
                else:
                    cursor.execute(statement, parameters)
                if handler is not None:
                    results.append(handler(cursor))
        if handler is None:
            return None
        single = isinstance(sql, str) and (return_last or not split_statements)  # as Airflow decides
        return results[-1] if single else results

    def get_records(self, sql: str, parameters: Any = None) -> list[tuple[Any, ...]]:
        return self.run(sql, parameters=parameters, handler=fetch_all_handler) or []

    def get_first(self, sql: str, parameters: Any = None) -> tuple[Any, ...] | None:
        return self.run(sql, parameters=parameters, handler=fetch_one_handler)

    def get_pandas_df(self, sql: str, parameters: Any = None, **kwargs: Any) -> Any:
        import pandas as pd

        with self._cursor() as (_, cursor):
            if parameters is None:
                cursor.execute(sql)
            else:
                cursor.execute(sql, parameters)
            columns = [c[0] for c in cursor.description or []]
            return pd.DataFrame(cursor.fetchall(), columns=columns, **kwargs)

    get_df = get_pandas_df

    def insert_rows(self, table: str, rows: Iterable[Sequence[Any]], target_fields: Sequence[str] | None = None,
                    commit_every: int = 1000, replace: bool = False, **kwargs: Any) -> int:
        """Insert `rows` into `table`, committing every `commit_every` rows; returns
        how many were inserted."""
        count = 0
        with self._cursor() as (conn, cursor):
            batch: list[Sequence[Any]] = []
            for row in rows:
                batch.append(tuple(row))
                if len(batch) >= commit_every:
                    count += self._insert_batch(cursor, table, batch, target_fields, replace)
                    conn.commit()
                    batch = []
            if batch:
                count += self._insert_batch(cursor, table, batch, target_fields, replace)
        self.log.info("Done loading. Loaded a total of %s rows into %s", count, table)
        return count

    def _insert_batch(self, cursor: Any, table: str, batch: list[Sequence[Any]],
                      target_fields: Sequence[str] | None, replace: bool) -> int:
        columns = f" ({', '.join(target_fields)})" if target_fields else ""
        values = ", ".join([self.placeholder] * len(batch[0]))
        verb = self.replace_statement() if replace else "INSERT INTO"
        cursor.executemany(f"{verb} {table}{columns} VALUES ({values})", batch)
        return len(batch)

    def replace_statement(self) -> str:
        return "REPLACE INTO"


def hook_for(connection: Connection, params: dict[str, Any]) -> BaseHook:
    """The hook class of a connection's type (`BaseHook.get_hook`)."""
    from miniflow.hooks.http import HttpHook
    from miniflow.hooks.mysql import MySqlHook
    from miniflow.hooks.postgres import PostgresHook
    from miniflow.hooks.slack import SlackHook, SlackWebhookHook
    from miniflow.hooks.sqlite import SqliteHook

    kinds: dict[str, Any] = {"postgres": PostgresHook, "mysql": MySqlHook, "sqlite": SqliteHook, "http": HttpHook,
                             "https": HttpHook, "slackwebhook": SlackWebhookHook, "slack": SlackHook}
    hook = kinds.get(connection.conn_type or "")
    if hook is None:
        raise AirflowException(f"connection {connection.conn_id!r} is of type {connection.conn_type!r}, which "
                               f"miniflow has no hook for (it has {', '.join(sorted(kinds))})")
    return hook(**{hook.conn_name_attr: connection.conn_id, **params})
