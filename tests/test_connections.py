"""Connections, hooks and the SQL and HTTP operators (`miniflow.connections`,
`miniflow.hooks`, `miniflow.operators.sql`, `.http`): Airflow's URI format, lookup
order, encryption at rest, masking, and each hook and operator against a real SQLite
file, the real PostgreSQL server and a local HTTP server."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow import DAG
from miniflow.connections import Connection, get_connection
from miniflow.dag_test import run_dag_test
from miniflow.exceptions import AirflowException, AirflowNotFoundException
from miniflow.hooks.mysql import MySqlHook
from miniflow.hooks.postgres import PostgresHook
from miniflow.hooks.sqlite import SqliteHook
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.http import HttpOperator
from miniflow.operators.python import PythonOperator
from miniflow.operators.sql import (
    BranchSQLOperator,
    GenericTransfer,
    MySqlOperator,
    PostgresOperator,
    SQLCheckOperator,
    SQLColumnCheckOperator,
    SQLExecuteQueryOperator,
    SQLIntervalCheckOperator,
    SQLTableCheckOperator,
    SQLThresholdCheckOperator,
    SQLValueCheckOperator,
)
from miniflow.sensors.http import HttpSensor
from miniflow.sensors.sql import SqlSensor

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)
SECRET = "pw-Sup3rS3cret!"


def states(dag: DAG, store: Any) -> dict[str, str]:
    return {t.task_id: t.state for t in run_dag_test(dag, DAY, store=store).task_instances}


# --- the Connection type ------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12)


hosts = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,15}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(conn_type=st.sampled_from(["postgres", "http", "mysql", "google_cloud"]), host=st.one_of(st.none(), hosts),
       login=st.one_of(st.none(), texts), password=st.one_of(st.none(), texts), schema=st.one_of(st.none(), texts),
       port=st.one_of(st.none(), st.integers(1, 65535)),
       extra=st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=5), texts, max_size=3)))
def test_a_connection_survives_its_uri(conn_type: str, host: str | None, login: str | None, password: str | None,
                                       schema: str | None, port: int | None, extra: dict[str, str] | None) -> None:
    original = Connection("c", conn_type, host=host, login=login, password=password, schema=schema, port=port,
                          extra=extra or None)
    back = Connection("c", uri=original.get_uri())
    # host names are case-insensitive, and come back lower-cased, as in Airflow
    assert (back.conn_type, back.host or None, back.login, back.password, back.schema or None, back.port) == \
        (conn_type, host.lower() if host else None, login, password, schema, port)
    assert back.extra_dejson == (extra or {})


def test_airflow_uris_parse_as_airflow_parses_them() -> None:
    conn = Connection("pg", uri="postgresql://user:p%40ss@db.example.com:6543/sales?sslmode=require")
    assert (conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.schema) == (
        "postgres", "db.example.com", "user", "p@ss", 6543, "sales")
    assert conn.extra_dejson == {"sslmode": "require"}
    web = Connection("api", uri="http://https%3A%2F%2Fapi.example.com")
    assert web.host == "https://api.example.com"  # a quoted URL as the host, as Airflow writes one


def test_environment_connections_win_and_a_missing_one_says_how_to_add_it(
        store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store.set_connection(Connection("db", "postgres", host="from-db"))
    assert get_connection("db").host == "from-db"
    monkeypatch.setenv("AIRFLOW_CONN_DB", "postgresql://u@from-env/x")
    assert get_connection("db").host == "from-env"
    monkeypatch.setenv("MINIFLOW_CONN_API", json.dumps({"conn_type": "http", "host": "h", "extra": {"a": 1}}))
    assert get_connection("api").extra_dejson == {"a": 1}
    with pytest.raises(AirflowNotFoundException, match="miniflow connections add nope"):
        get_connection("nope")


def test_stored_secrets_are_encrypted_at_rest_and_keys_rotate(store: Any, miniflow_home: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    store.set_connection(Connection("db", "postgres", host="h", password=SECRET, extra={"token": "t0ken-value"}))
    raw = (miniflow_home / "miniflow.db").read_bytes() if (miniflow_home / "miniflow.db").exists() else b""
    assert SECRET.encode() not in raw and b"t0ken-value" not in raw
    assert (miniflow_home / "fernet.key").stat().st_mode & 0o777 == 0o600
    assert store.get_connection("db").password == SECRET
    old = (miniflow_home / "fernet.key").read_text().strip()
    new = Fernet.generate_key().decode()
    monkeypatch.setenv("MINIFLOW__CORE__FERNET_KEY", f"{new},{old}")
    from miniflow.config import reset_config

    reset_config()
    assert store.rotate_connection_secrets() == len(store.connections())  # every stored one, defaults too
    monkeypatch.setenv("MINIFLOW__CORE__FERNET_KEY", new)
    reset_config()
    assert store.get_connection("db").password == SECRET  # readable with the new key alone


# --- masking --------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_or_rendered_templates(store: Any, miniflow_home: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LEAKY", f"postgresql://u:{SECRET}@h/db")
    monkeypatch.setenv("AIRFLOW_VAR_API_TOKEN", "tok-Abcdef12345")

    def leak(conn: Any) -> None:
        from miniflow.hooks.base import BaseHook
        from miniflow.variables import Variable

        print("password is", BaseHook.get_connection("leaky").password)
        print("token is", Variable.get("api_token"))
        raise RuntimeError(f"failed with {SECRET}")

    with DAG("leaky", start_date=DAY, schedule=None) as dag:
        PythonOperator(task_id="leak", python_callable=leak)
        PythonOperator(task_id="render", python_callable=lambda x: None, op_args=["{{ conn.leaky.password }}"])
    assert states(dag, store) == {"leak": "failed", "render": "success"}
    logs = "".join(p.read_text() for p in (miniflow_home / "logs").rglob("*.log"))
    assert SECRET not in logs and "tok-Abcdef12345" not in logs and "password is ***" in logs
    run_id = store.find_run("leaky", DAY).run_id
    rendered = {t.task_id: t.rendered_fields for t in store.tis_of_run("leaky", run_id)}
    assert rendered["render"]["op_args"] == ["***"]


# --- hooks and SQL operators ------------------------------------------------------------------------


@pytest.fixture
def sqlite_conn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "warehouse.db"
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(path)}))
    hook = SqliteHook(sqlite_conn_id="warehouse")
    hook.run("CREATE TABLE sales (id INTEGER PRIMARY KEY, product TEXT, revenue REAL)")
    hook.insert_rows("sales", [(1, "tea", 3.5), (2, "cake", 4.0), (3, "tea", 2.5)], commit_every=2)
    return path


def test_sqlite_hook_reads_and_writes(sqlite_conn: Path) -> None:
    hook = SqliteHook(sqlite_conn_id="warehouse")
    assert hook.get_records("SELECT product, SUM(revenue) FROM sales GROUP BY product ORDER BY product") == [
        ("cake", 4.0), ("tea", 6.0)]
    assert hook.get_first("SELECT COUNT(*) FROM sales WHERE product = ?", ("tea",)) == (2,)
    assert hook.run("SELECT 1; SELECT 2", split_statements=True, handler=lambda c: c.fetchall()) == [(2,)]
    assert list(hook.get_pandas_df("SELECT * FROM sales")["product"]) == ["tea", "cake", "tea"]
    assert hook.get_uri() == f"sqlite:///{sqlite_conn}"


@pytest.mark.parametrize(("make", "expected"), [
    (lambda: SQLCheckOperator(task_id="check", conn_id="warehouse", sql="SELECT COUNT(*) > 2 FROM sales"), "success"),
    (lambda: SQLCheckOperator(task_id="check", conn_id="warehouse", sql="SELECT COUNT(*) > 9 FROM sales"), "failed"),
    (lambda: SQLValueCheckOperator(task_id="check", conn_id="warehouse", sql="SELECT SUM(revenue) FROM sales",
                           pass_value=10, tolerance=0.01), "success"),
    (lambda: SQLThresholdCheckOperator(task_id="check", conn_id="warehouse", sql="SELECT MAX(revenue) FROM sales",
                               min_threshold=1, max_threshold="SELECT 3.9"), "failed"),
    (lambda: SQLColumnCheckOperator(task_id="check", conn_id="warehouse", table="sales", column_mapping={
        "revenue": {"null_check": {"equal_to": 0}, "min": {"geq_to": 0}},
        "id": {"unique_check": {"equal_to": 0}}}), "success"),
    (lambda: SQLColumnCheckOperator(task_id="check", conn_id="warehouse", table="sales", column_mapping={
        "product": {"distinct_check": {"equal_to": 3}}}), "failed"),
    (lambda: SQLTableCheckOperator(task_id="check", conn_id="warehouse", table="sales", checks={
        "row_count_check": {"check_statement": "COUNT(*) = 3"}, "revenue_positive": {"check_statement": "revenue > 0"}}),
     "success"),
    (lambda: SQLTableCheckOperator(task_id="check", conn_id="warehouse", table="sales", checks={
        "cheap": {"check_statement": "revenue < 4"}}), "failed"),
])
def test_check_operators(store: Any, sqlite_conn: Path, make: Any, expected: str, miniflow_home: Path) -> None:
    task = make()
    dag = DAG("checks", start_date=DAY, schedule=None)
    dag.add_task(task)
    task.retries = 0
    assert states(dag, store) == {"check": expected}
    if expected == "failed" and isinstance(task, SQLColumnCheckOperator):
        log = "".join(p.read_text() for p in (miniflow_home / "logs").rglob("attempt=1.log"))
        assert "Check: distinct_check" in log  # the failed check is named


def test_interval_check_compares_each_metric_with_days_back(store: Any, sqlite_conn: Path) -> None:
    hook = SqliteHook(sqlite_conn_id="warehouse")
    hook.run("CREATE TABLE orders (ds TEXT, amount REAL, refunds INTEGER)")
    # DAY's ds against the week before: 3 orders for 100 against 2 for 90, no refunds on either day
    hook.insert_rows("orders", [("2024-01-02", 40, 0), ("2024-01-02", 30, 0), ("2024-01-02", 30, 0),
                                ("2023-12-26", 50, 0), ("2023-12-26", 40, 0)])
    with DAG("interval", start_date=DAY, schedule=None, default_args={"retries": 1, "retry_delay": 0}) as dag:
        # max_over_min: count 3/2 = 1.5, sum 100/90 = 1.11; refunds are zero, so they pass
        SQLIntervalCheckOperator(task_id="within", conn_id="warehouse", table="orders",
                                 metrics_thresholds={"COUNT(*)": 1.6, "SUM(amount)": 1.2, "SUM(refunds)": 1.0})
        SQLIntervalCheckOperator(task_id="count_off", conn_id="warehouse", table="orders", days_back=7,
                                 metrics_thresholds={"COUNT(*)": 1.5, "SUM(amount)": 1.2})
        # relative_diff: |100 - 90| / 90 = 0.11
        SQLIntervalCheckOperator(task_id="relative", conn_id="warehouse", table="orders",
                                 ratio_formula="relative_diff", metrics_thresholds={"SUM(amount)": 0.1})
        SQLIntervalCheckOperator(task_id="zero_counts", conn_id="warehouse", table="orders", ignore_zero=False,
                                 metrics_thresholds={"SUM(refunds)": 9}, retry_on_failure=False)
    tis = {t.task_id: t for t in run_dag_test(dag, DAY, store=store).task_instances}
    assert {k: t.state for k, t in tis.items()} == {
        "within": "success", "count_off": "failed", "relative": "failed", "zero_counts": "failed"}
    assert (tis["count_off"].try_number, tis["zero_counts"].try_number) == (2, 1)  # no retry without retry_on_failure
    with pytest.raises(AirflowException, match="unknown ratio_formula 'ratio'"):
        SQLIntervalCheckOperator(task_id="bad", table="orders", metrics_thresholds={}, ratio_formula="ratio")


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT COUNT(*) > 2 FROM sales", {"big": "success", "small": "skipped"}),
    ("SELECT 'off'", {"big": "skipped", "small": "success"}),
    ("SELECT 0.5", {"big": "upstream_failed", "small": "upstream_failed"}),  # neither true nor false
    ("SELECT 1 WHERE 0", {"big": "upstream_failed", "small": "upstream_failed"}),  # no row
])
def test_branch_sql_follows_the_query_answer(store: Any, sqlite_conn: Path, sql: str, expected: dict) -> None:
    with DAG("branch_sql", start_date=DAY, schedule=None) as dag:
        BranchSQLOperator(task_id="branch", conn_id="warehouse", sql=sql, follow_task_ids_if_true="big",
                          follow_task_ids_if_false=["small"]) >> [EmptyOperator(task_id="big"),
                                                                  EmptyOperator(task_id="small")]
    got = states(dag, store)
    assert got == {"branch": "failed" if "failed" in str(expected) else "success", **expected}


def test_generic_transfer_copies_rows_between_connections(store: Any, sqlite_conn: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MART", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "mart.db")}))
    with DAG("transfer", start_date=DAY, schedule=None) as dag:
        GenericTransfer(task_id="copy", source_conn_id="warehouse", destination_conn_id="mart",
                        sql="SELECT product, revenue FROM sales WHERE revenue > {{ params.floor }}",
                        destination_table="big_sales", params={"floor": 3},
                        preoperator=["DROP TABLE IF EXISTS big_sales",
                                     "CREATE TABLE big_sales (product TEXT, revenue REAL)"])
        GenericTransfer(task_id="to_http", source_conn_id="warehouse", destination_conn_id="api",
                        sql="SELECT 1", destination_table="x")
    monkeypatch.setenv("AIRFLOW_CONN_API", "http://localhost:1")
    assert states(dag, store) == {"copy": "success", "to_http": "failed"}
    mart = SqliteHook(sqlite_conn_id="mart")
    assert mart.get_records("SELECT product, revenue FROM big_sales ORDER BY revenue") == [("tea", 3.5), ("cake", 4.0)]


def test_execute_query_pushes_rows_from_templated_sql_files(store: Any, sqlite_conn: Path, tmp_path: Path) -> None:
    (tmp_path / "by_product.sql").write_text("SELECT product, COUNT(*) FROM sales WHERE id <= {{ params.top }} "
                                             "GROUP BY product ORDER BY product")
    with DAG("sql_q", start_date=DAY, schedule=None, template_searchpath=str(tmp_path), params={"top": 2}) as dag:
        SQLExecuteQueryOperator(task_id="q", conn_id="warehouse", sql="by_product.sql")
        SqlSensor(task_id="wait", conn_id="warehouse", sql="SELECT COUNT(*) FROM sales", success=lambda n: n == 3,
                  poke_interval=0, timeout=5)
    assert states(dag, store) == {"q": "success", "wait": "success"}
    run_id = store.find_run("sql_q", DAY).run_id
    [row] = store.xcom_pull("sql_q", run_id, ["q"], "return_value", None)
    assert json.loads(row.value) == [["cake", 1], ["tea", 1]]


@pytest.mark.postgres
def test_postgres_hook_and_operator_against_the_server(store: Any, postgres_url: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    monkeypatch.setenv("AIRFLOW_CONN_PG", f"postgresql://{url.username or 'postgres'}@{url.host}:{url.port or 5432}/"
                                          f"{url.database}")
    with DAG("pg_ops", start_date=DAY, schedule=None) as dag:
        PostgresOperator(task_id="create", postgres_conn_id="pg", sql="""
            DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int, amount numeric);""", split_statements=True)
        SQLExecuteQueryOperator(task_id="insert", conn_id="pg", sql="INSERT INTO orders VALUES (%(id)s, %(amount)s)",
                                parameters={"id": 1, "amount": 9.5})
    assert states(dag, store) == {"create": "success", "insert": "success"}
    hook = PostgresHook(postgres_conn_id="pg")
    hook.insert_rows("orders", [(2, 1.0), (3, 2.0)])
    data = tmp_path / "orders.tsv"
    hook.bulk_dump("orders", str(data))
    assert sorted(data.read_text().splitlines()) == ["1\t9.5", "2\t1", "3\t2"]  # numeric keeps what was sent
    hook.run("TRUNCATE orders")
    hook.bulk_load("orders", str(data))
    assert hook.get_first("SELECT COUNT(*), SUM(amount) FROM orders") == (3, 12.5)
    assert hook.get_sqlalchemy_engine().dialect.name == "postgresql"


@pytest.mark.mysql
def test_mysql_hook_and_operator_against_the_server(store: Any, mysql_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow's MySQL provider, as DAG files use it, against the local MySQL/MariaDB."""
    server = Connection("my", uri=mysql_url)
    as_json = {"conn_type": "mysql", "host": server.host, "port": server.port, "login": server.login,
               "password": server.password, "schema": server.schema}
    monkeypatch.setenv("AIRFLOW_CONN_MY", json.dumps({**as_json, "extra": {"charset": "utf8mb4"}}))
    with DAG("my_ops", start_date=DAY, schedule=None) as dag:
        MySqlOperator(task_id="create", mysql_conn_id="my", sql="""
            DROP TABLE IF EXISTS orders; CREATE TABLE orders (id int PRIMARY KEY, item varchar(20))""",
                      split_statements=True)
        MySqlOperator(task_id="several", mysql_conn_id="my", sql="""
            DROP TABLE IF EXISTS notes; CREATE TABLE notes (id int); INSERT INTO notes VALUES (1)""")
        MySqlOperator(task_id="bad_second", mysql_conn_id="my", sql="SELECT 1; SELECT nope FROM nowhere")
        SQLExecuteQueryOperator(task_id="insert", conn_id="my", sql="INSERT INTO orders VALUES (%(id)s, %(item)s)",
                                parameters={"id": 1, "item": "crème"})
        SQLExecuteQueryOperator(task_id="read", conn_id="my", sql="SELECT item FROM orders")
    assert states(dag, store) == {"create": "success", "several": "success", "bad_second": "failed",
                                  "insert": "success", "read": "success"}
    [row] = store.xcom_pull("my_ops", store.find_run("my_ops", DAY).run_id, ["read"], "return_value", None)
    assert json.loads(row.value) == [["crème"]]

    hook = MySqlHook(mysql_conn_id="my", local_infile=True)
    assert hook.get_first("SELECT COUNT(*) FROM notes") == (1,)  # three statements in one execute
    assert hook.insert_rows("orders", [(2, "tea"), (3, "cake")]) == 2
    hook.insert_rows("orders", [(3, "pie")], replace=True)
    data = tmp_path / "orders.tsv"
    data.write_text("4\tjam\n5\tbun\n")
    hook.bulk_load("orders", str(data))
    assert hook.get_records("SELECT id, item FROM orders ORDER BY id") == [
        (1, "crème"), (2, "tea"), (3, "pie"), (4, "jam"), (5, "bun")]
    hook.run("DELETE FROM orders WHERE id > 3", autocommit=True)
    assert MySqlHook(mysql_conn_id="my").get_first("SELECT COUNT(*) FROM orders") == (3,)
    conn = hook.get_conn()
    hook.set_autocommit(conn, True)  # a method of the driver's connection, not an attribute
    assert conn.get_autocommit() is True
    conn.close()
    with pytest.raises(ValueError, match="invalid table name"):
        hook.bulk_load("orders; DROP TABLE orders", str(data))
    monkeypatch.setenv("AIRFLOW_CONN_MY", json.dumps({**as_json, "extra": {"cursor": "DictCursor"}}))
    assert MySqlHook(mysql_conn_id="my").get_first("SELECT id FROM orders ORDER BY id") == {"id": 1}
    engine = hook.get_sqlalchemy_engine()
    assert engine.dialect.name == "mysql" and engine.url.query == {"charset": "utf8mb4"}
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM orders").scalar() == 3
    engine.dispose()


def test_mysql_hook_reads_the_connection_as_airflows_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """The arguments MySqlHook connects with, from Airflow's connection extras; those
    PyMySQL cannot honour are refused with a line naming the connection."""
    pymysql = pytest.importorskip("pymysql")
    extra = {"charset": "latin1", "cursor": "SSDictCursor", "ssl": json.dumps({"ca": "/ca.pem"}),
             "unix_socket": "/run/mysqld.sock"}
    monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "mysql", "host": "db", "login": "app",
                                                        "password": "pw", "schema": "shop", "extra": extra}))
    hook = MySqlHook(mysql_conn_id="shop", local_infile=True, init_command="SET time_zone = '+00:00'")
    assert hook._params() == {
        "user": "app", "password": "pw", "host": "db", "port": 3306, "database": "shop",
        "client_flag": pymysql.constants.CLIENT.MULTI_STATEMENTS | pymysql.constants.CLIENT.MULTI_RESULTS,
        "charset": "latin1",
        "cursorclass": pymysql.cursors.SSDictCursor, "ssl": {"ca": "/ca.pem"}, "unix_socket": "/run/mysqld.sock",
        "local_infile": True, "init_command": "SET time_zone = '+00:00'"}
    assert hook.get_uri() == "mysql+pymysql://app:pw@db:3306/shop?charset=latin1"
    assert MySqlHook(mysql_conn_id="shop", schema="other")._params()["database"] == "other"
    for refused, says in (({"ssl_mode": "REQUIRED"}, "ssl_mode"), ({"iam": True}, "'iam'")):
        monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "mysql", "host": "db", "extra": refused}))
        with pytest.raises(AirflowException, match=f"connection 'shop': .*{says}"):
            MySqlHook(mysql_conn_id="shop").get_conn()
    monkeypatch.setenv("AIRFLOW_CONN_SHOP", json.dumps({"conn_type": "mysql", "host": "db",
                                                        "extra": {"cursor": "NoSuchCursor"}}))
    assert "cursorclass" not in MySqlHook(mysql_conn_id="shop")._params()  # the default, as in Airflow


# --- HTTP ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    """A local HTTP server answering with `handler` while the block runs; yields its port."""
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def http_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def _answer(self) -> None:
            hits[self.path] = hits.get(self.path, 0) + 1
            if self.path.startswith("/ready") and hits[self.path] < 2:
                self.send_response(404)
                self.end_headers()
                return
            status = 500 if self.path.startswith("/broken") else 200
            body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization") is not None}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    with serving(Handler) as port:
        monkeypatch.setenv("AIRFLOW_CONN_API", f"http://user:{SECRET}@127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"


def test_http_operator_and_sensor(store: Any, http_server: str) -> None:
    with DAG("http_ops", start_date=DAY, schedule=None) as dag:
        HttpOperator(task_id="get", http_conn_id="api", endpoint="/orders?day={{ ds }}", method="GET",
                     response_check=lambda response: response.json()["auth"],
                     response_filter=lambda response: response.json()["path"])
        HttpOperator(task_id="refused", http_conn_id="api", endpoint="/orders", method="GET",
                     response_check=lambda response: False)
        HttpOperator(task_id="server_error", http_conn_id="api", endpoint="/broken", retries=0)
        HttpSensor(task_id="ready", http_conn_id="api", endpoint="/ready", poke_interval=0, timeout=10)
    assert states(dag, store) == {"get": "success", "refused": "failed", "server_error": "failed", "ready": "success"}
    run_id = store.find_run("http_ops", DAY).run_id
    [row] = store.xcom_pull("http_ops", run_id, ["get"], "return_value", None)
    assert json.loads(row.value) == "/orders?day=2024-01-02"


# --- the CLI ------------------------------------------------------------------------------------


def test_connections_cli(run_cli: Any, sqlite_url: str, tmp_path: Path, miniflow_home: Path) -> None:
    assert run_cli("connections", "add", "db", "--conn-uri", f"postgresql://u:{SECRET}@h:5/d").returncode == 0
    assert run_cli("connections", "add", "lite", "--conn-type", "sqlite", "--conn-host", str(tmp_path / "x.db"),
                   "--conn-extra", '{"timeout": 5}').returncode == 0
    again = run_cli("connections", "add", "db", "--conn-uri", "postgresql://x@y/z")
    assert again.returncode == 1 and "already exists" in again.stderr
    listed = run_cli("connections", "list", "-o", "json")
    assert SECRET not in listed.stdout
    listed_ids = {c["conn_id"]: c["password"] for c in json.loads(listed.stdout)}
    assert listed_ids == {"db": "***", "lite": None, "sales_db": None, "sqlite_default": None,
                          "fs_default": None}  # + db migrate's
    assert SECRET.encode() not in (miniflow_home / "miniflow.db").read_bytes()
    assert "Connection success!" in run_cli("connections", "test", "lite").stdout
    failed = run_cli("connections", "test", "db")
    assert failed.returncode == 1 and "Connection failed!" in failed.stdout
    exported = tmp_path / "conns.json"
    assert run_cli("connections", "export", str(exported)).returncode == 0
    assert json.loads(exported.read_text())["db"]["password"] == SECRET
    assert run_cli("connections", "delete", "db").returncode == 0
    assert "Imported connection db" in run_cli("connections", "import", str(exported)).stdout
    assert json.loads(run_cli("connections", "get", "db", "-o", "json").stdout)[0]["host"] == "h"
    bad = run_cli("connections", "add", "x", "--conn-uri", "no-scheme")
    assert bad.returncode == 2 and "no scheme" in bad.stderr


def test_db_migrate_adds_the_default_connections_once_and_keeps_changed_ones(
        run_cli: Any, miniflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run_cli("db", "migrate").returncode == 0
    listed = {c["conn_id"]: c["host"] for c in json.loads(run_cli("connections", "list", "-o", "json").stdout)}
    assert listed == {"sales_db": str(miniflow_home / "example_data" / "sales.db"),
                      "sqlite_default": str(miniflow_home / "sqlite_default.db"), "fs_default": None}
    run_cli("connections", "delete", "sales_db")
    run_cli("connections", "add", "sales_db", "--conn-uri", "postgresql://etl@db.internal:5432/sales")
    assert run_cli("db", "migrate").returncode == 0  # again: what the user set stays
    again = {c["conn_id"]: c["host"] for c in json.loads(run_cli("connections", "list", "-o", "json").stdout)}
    assert again["sales_db"] == "db.internal"
    run_cli("connections", "delete", "sqlite_default")
    monkeypatch.setenv("MINIFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS", "false")
    assert run_cli("db", "migrate").returncode == 0
    assert "sqlite_default" not in run_cli("connections", "list", "-o", "json").stdout


# --- Slack Incoming Webhooks -----------------------------------------------------------


@pytest.fixture
def slack_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """A stand-in for hooks.slack.com: records each message POSTed to it; a token
    starting with ``bad`` is refused as Slack refuses one (403, ``invalid_token``)."""
    received: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            refused = self.path.startswith("/services/bad")
            if not refused:
                received.append((self.path, body))
            self.send_response(403 if refused else 200)
            self.end_headers()
            self.wfile.write(b"invalid_token" if refused else b"ok")

    with serving(Handler) as port:
        base = f"http://127.0.0.1:{port}/services"
        monkeypatch.setenv("AIRFLOW_CONN_SLACK", json.dumps({"conn_type": "slackwebhook", "host": base,
                                                             "password": "T000/B000/XXXX"}))
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_URL", json.dumps({"conn_type": "slackwebhook",
                                                                 "password": f"{base}/T111/B111/YYYY"}))
        monkeypatch.setenv("AIRFLOW_CONN_SLACK_BAD", json.dumps({"conn_type": "slackwebhook", "host": base,
                                                                 "password": "bad/token"}))
        yield received


def test_slack_webhook_operator_and_notifier_post_their_messages(store: Any, slack_webhook: list[Any],
                                                                  miniflow_home: Path) -> None:
    from miniflow.operators.slack import SlackWebhookNotifier, SlackWebhookOperator

    def boom() -> None:
        raise ValueError("boom")

    failed = SlackWebhookNotifier(slack_webhook_conn_id="slack_url", text="{{ ti.task_id }} failed on {{ ds }}")
    with DAG("slack_ops", start_date=DAY, schedule=None) as dag:
        SlackWebhookOperator(task_id="post", slack_webhook_conn_id="slack", message="loaded {{ ds }}",
                             blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}])
        SlackWebhookOperator(task_id="refused", slack_webhook_conn_id="slack_bad", message="x", retries=0)
        PythonOperator(task_id="breaks", python_callable=boom, retries=0, on_failure_callback=failed)
    result = run_dag_test(dag, DAY, store=store)
    states = {ti.task_id: ti.state for ti in result.task_instances}
    assert states == {"post": "success", "refused": "failed", "breaks": "failed"}
    assert sorted(slack_webhook, key=lambda message: message[0]) == [
        ("/services/T000/B000/XXXX", {"text": "loaded 2024-01-02", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*done*"}}]}),
        ("/services/T111/B111/YYYY", {"text": "breaks failed on 2024-01-02"}),
    ]
    log = (miniflow_home / "logs" / "slack_ops" / result.run_id / "refused" / "attempt=1.log").read_text()
    assert "Slack webhook answered 403: 'invalid_token'" in log
    assert "bad/token" not in log  # the token is a secret


@pytest.fixture
def slack_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    """A stand-in for slack.com/api: records (method, token, JSON body) of each call; it
    answers ``ok``, or, for the token ``xoxb-revoked``, ``{"ok": false, "error":
    "token_revoked"}`` with status 200, as Slack does."""
    received: list[tuple[str, str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            token = self.headers["Authorization"].removeprefix("Bearer ")
            received.append((self.path, token, body))
            answer = {"ok": False, "error": "token_revoked"} if token == "xoxb-revoked" else {"ok": True, "ts": "1"}
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(answer).encode())

    with serving(Handler) as port:
        for conn_id, token in (("slack_api_default", "xoxb-good"), ("slack_revoked", "xoxb-revoked")):
            monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
                {"conn_type": "slack", "password": token, "extra": {"base_url": f"http://127.0.0.1:{port}/api/"}}))
        yield received


def test_slack_api_operator_and_notifier_post_with_chat_post_message(store: Any, slack_api: list[Any],
                                                                     miniflow_home: Path) -> None:
    """Airflow's SlackAPIPostOperator and send_slack_notification, from an Airflow DAG's
    import paths: ``chat.postMessage`` with the token as a Bearer; an answer that is
    not ``ok`` fails the task, naming Slack's error and not the token."""
    from miniflow.airflow_compat import install

    install()
    from airflow.providers.slack.notifications.slack import send_slack_notification  # type: ignore[import-not-found]
    from airflow.providers.slack.operators.slack import SlackAPIPostOperator  # type: ignore[import-not-found]

    def boom() -> None:
        raise ValueError("boom")

    with DAG("slack_api", start_date=DAY, schedule=None) as dag:
        SlackAPIPostOperator(task_id="post", channel="#data", text="loaded {{ ds }}")
        SlackAPIPostOperator(task_id="revoked", slack_conn_id="slack_revoked", text="x", retries=0)
        PythonOperator(task_id="breaks", python_callable=boom, retries=0, on_failure_callback=send_slack_notification(
            text="{{ ti.task_id }} failed on {{ ds }}", channel="#alerts"))
    result = run_dag_test(dag, DAY, store=store)
    assert {ti.task_id: ti.state for ti in result.task_instances} == {
        "post": "success", "revoked": "failed", "breaks": "failed"}
    by_channel = {body["channel"]: (path, token, body) for path, token, body in slack_api}
    assert by_channel["#data"] == ("/api/chat.postMessage", "xoxb-good",
                                   {"channel": "#data", "username": "Airflow", "text": "loaded 2024-01-02"})
    assert by_channel["#alerts"][2] == {"channel": "#alerts", "username": "Airflow",
                                        "text": "breaks failed on 2024-01-02", "unfurl_links": True,
                                        "unfurl_media": True}
    log = (miniflow_home / "logs" / "slack_api" / result.run_id / "revoked" / "attempt=1.log").read_text()
    assert "Slack's chat.postMessage answered 200: 'token_revoked'" in log
    assert "xoxb-revoked" not in log


def test_a_slack_webhook_connection_needs_its_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from miniflow.hooks.slack import SlackWebhookHook

    monkeypatch.setenv("AIRFLOW_CONN_NO_TOKEN", json.dumps({"conn_type": "slackwebhook"}))
    with pytest.raises(AirflowNotFoundException, match="'no_token' has no password"):
        SlackWebhookHook(slack_webhook_conn_id="no_token").send_text("hello")
