"""MySqlHook: MySQL and MariaDB through PyMySQL (the ``mysql`` extra).

Airflow's hook connects with mysqlclient (``MySQLdb``), a C extension that needs the
MySQL client libraries to build. PyMySQL is pure Python and takes the same connection
arguments and cursor classes, so a connection written for Airflow works unchanged; the
connection's ``client`` extra (Airflow's choice between mysqlclient and
mysql-connector-python) is not consulted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from miniflow.exceptions import AirflowException
from miniflow.hooks.dbapi import DbApiHook

__all__ = ["MySqlHook"]

_TABLE = re.compile(r"[A-Za-z0-9_.]+")


def _pymysql() -> Any:
    try:
        import pymysql
    except ImportError:
        raise AirflowException("MySqlHook needs PyMySQL: pip install 'miniflow[mysql]'") from None
    return pymysql


class MySqlHook(DbApiHook):
    conn_name_attr = "mysql_conn_id"
    default_conn_name = "mysql_default"
    conn_type = "mysql"
    hook_name = "MySQL"

    def __init__(self, *args: Any, local_infile: bool = False, init_command: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.local_infile = local_infile
        self.init_command = init_command

    def _params(self) -> dict[str, Any]:
        """The connection's arguments for ``connect()``, read as Airflow's hook reads them."""
        conn = self.connection
        extra = conn.extra_dejson
        flags = _pymysql().constants.CLIENT
        params: dict[str, Any] = {"user": conn.login, "password": conn.password or "",
                                  "host": conn.host or "localhost", "port": int(conn.port or 3306),
                                  "database": self.schema or conn.schema or None,
                                  # mysqlclient's default: one execute may hold several statements
                                  "client_flag": flags.MULTI_STATEMENTS | flags.MULTI_RESULTS}
        if extra.get("charset"):
            params["charset"] = extra["charset"]
        if extra.get("cursor"):
            cursors = _pymysql().cursors
            kinds = {"sscursor": cursors.SSCursor, "dictcursor": cursors.DictCursor,
                     "ssdictcursor": cursors.SSDictCursor}
            if str(extra["cursor"]).lower() in kinds:  # another name means the default, as in Airflow
                params["cursorclass"] = kinds[str(extra["cursor"]).lower()]
        if extra.get("ssl"):
            ssl = extra["ssl"]
            params["ssl"] = json.loads(ssl) if isinstance(ssl, str) else ssl
        if extra.get("ssl_mode"):
            raise AirflowException(f"connection {self.conn_id!r}: ssl_mode is a mysqlclient option that "
                                   "miniflow's driver (PyMySQL) lacks; give the certificates as the 'ssl' extra")
        if extra.get("iam"):
            raise AirflowException(f"connection {self.conn_id!r}: AWS IAM authentication ('iam') needs the "
                                   "amazon provider, which miniflow does not have; give a password")
        if extra.get("unix_socket"):
            params["unix_socket"] = extra["unix_socket"]
        if self.local_infile:
            params["local_infile"] = True
        if self.init_command:
            params["init_command"] = self.init_command
        return params

    def get_conn(self) -> Any:
        return _pymysql().connect(**self._params())

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        conn.autocommit(autocommit)  # a method in the MySQL drivers, not an attribute

    def get_autocommit(self, conn: Any) -> bool:
        return bool(conn.get_autocommit())

    def get_uri(self) -> str:
        from sqlalchemy.engine import URL

        p = self._params()
        query = {"charset": p["charset"]} if "charset" in p else {}
        return URL.create("mysql+pymysql", username=p["user"], password=p["password"] or None, host=p["host"],
                          port=p["port"], database=p["database"], query=query).render_as_string(hide_password=False)

    def bulk_load(self, table: str, tmp_file: str) -> None:
        """Load a tab-separated file into `table` (the hook needs ``local_infile=True``
        and the server ``local_infile`` on)."""
        self.run(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{_checked(table)}`", parameters=(tmp_file,))

    def bulk_load_custom(self, table: str, tmp_file: str, duplicate_key_handling: str = "IGNORE",
                         extra_options: str = "") -> None:
        """`bulk_load` with ``IGNORE`` or ``REPLACE`` for duplicate keys, and more of
        ``LOAD DATA``'s options (``FIELDS TERMINATED BY ','``...)."""
        if duplicate_key_handling.upper() not in ("IGNORE", "REPLACE"):
            raise ValueError(f"duplicate_key_handling must be IGNORE or REPLACE, not {duplicate_key_handling!r}")
        self.run(f"LOAD DATA LOCAL INFILE %s {duplicate_key_handling} INTO TABLE `{_checked(table)}` "
                 f"{extra_options}", parameters=(tmp_file,))

    def bulk_dump(self, table: str, tmp_file: str) -> None:
        """Dump `table` into a tab-separated file, written by the server on its own disk."""
        self.run(f"SELECT * INTO OUTFILE %s FROM `{_checked(table)}`", parameters=(tmp_file,))


def _checked(table: str) -> str:
    if not _TABLE.fullmatch(table):
        raise ValueError(f"invalid table name {table!r}: letters, digits, '_' and '.' only")
    return table
