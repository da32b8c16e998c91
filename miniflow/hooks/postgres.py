"""PostgresHook: PostgreSQL through psycopg 3 (the ``postgres`` extra)."""

from __future__ import annotations

from typing import Any

from miniflow.exceptions import AirflowException
from miniflow.hooks.dbapi import DbApiHook

__all__ = ["PostgresHook"]


class PostgresHook(DbApiHook):
    conn_name_attr = "postgres_conn_id"
    default_conn_name = "postgres_default"
    conn_type = "postgres"
    hook_name = "Postgres"

    def __init__(self, *args: Any, database: str | None = None, options: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.database = database or kwargs.get("schema")
        self.options = options

    def _params(self) -> dict[str, Any]:
        conn = self.connection
        params: dict[str, Any] = {"host": conn.host or "localhost", "port": conn.port or 5432,
                                  "dbname": self.database or conn.schema or "postgres", "user": conn.login}
        if conn.password is not None:
            params["password"] = conn.password
        extra = conn.extra_dejson
        for key in ("sslmode", "sslcert", "sslkey", "sslrootcert", "connect_timeout", "application_name"):
            if key in extra:
                params[key] = extra[key]
        if self.options:
            params["options"] = self.options
        return params

    def get_conn(self) -> Any:
        try:
            import psycopg
        except ImportError:
            raise AirflowException("PostgresHook needs psycopg: pip install 'miniflow[postgres]'") from None
        return psycopg.connect(**{k: v for k, v in self._params().items() if v is not None})

    def get_uri(self) -> str:
        from sqlalchemy.engine import URL

        p = self._params()
        return URL.create("postgresql+psycopg", username=p.get("user"), password=p.get("password"),
                          host=p["host"], port=p["port"], database=p["dbname"]).render_as_string(hide_password=False)

    def replace_statement(self) -> str:
        raise AirflowException("PostgresHook.insert_rows(replace=True) needs a conflict target; insert, "
                               "or run INSERT ... ON CONFLICT yourself")

    def copy_expert(self, sql: str, filename: str) -> None:
        """Run ``COPY ... FROM STDIN`` or ``COPY ... TO STDOUT`` with `filename` as the
        data (psycopg 3's copy, which Airflow's psycopg2 copy_expert also wraps)."""
        loading = "FROM STDIN" in sql.upper()
        with self._cursor() as (_, cursor), open(filename, "rb" if loading else "wb") as f, cursor.copy(sql) as copy:
            if loading:
                while chunk := f.read(65536):
                    copy.write(chunk)
            else:
                for data in copy:
                    f.write(data)

    def bulk_load(self, table: str, tmp_file: str) -> None:
        """Load a tab-separated file into `table`."""
        self.copy_expert(f"COPY {table} FROM STDIN", tmp_file)

    def bulk_dump(self, table: str, tmp_file: str) -> None:
        """Dump `table` into a tab-separated file."""
        self.copy_expert(f"COPY {table} TO STDOUT", tmp_file)
