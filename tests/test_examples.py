"""The example DAGs in examples/: each runs green through ``miniflow dags test``, and the
sales ETL loads what an independent computation from the raw CSV says it should.

The DAGs run as a user runs them, through the CLI in a subprocess, against a fresh
MINIFLOW_HOME and metadata DB per test. The sales CSV is generated once per session
and copied into each home (the extract task would generate it, but 100k rows cost
about a second).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
GENERATOR = EXAMPLES / "data" / "generate_sales.py"
DAG_IDS = {"sales_etl", "sales_etl_taskflow", "monitoring", "branching", "fan_out_fan_in", "dynamic_tasks",
           "file_sensor_microbatch", "airflow_style", "sales_report", "orders_api"}


@pytest.fixture(autouse=True)
def _metadata_db(sqlite_url: str) -> None:
    """Every test here runs DAGs, which needs a migrated metadata DB."""


# --- helpers ---------------------------------------------------------------------------------


def dags_test(run_cli, dag_id: str, date: str, conf: dict | None = None, env: dict | None = None,
              subdir: Path = EXAMPLES) -> tuple[int, dict[str, dict]]:
    """Run ``miniflow dags test``; returns the exit code and the task rows by task id."""
    args = ["dags", "test", dag_id, date, "-S", str(subdir), "-o", "json"]
    if conf is not None:
        args += ["-c", json.dumps(conf)]
    result = run_cli(*args, env=env)
    try:
        rows = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"dags test {dag_id} printed no JSON (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode, {row["task_id"]: row for row in rows}


def task_log(home: Path, dag_id: str, date: str, task_id: str, try_number: int = 1) -> str:
    run_id = f"manual__{date}T00:00:00+00:00"
    return (home / "logs" / dag_id / run_id / task_id / f"attempt={try_number}.log").read_text()


def states(rows: dict[str, dict]) -> dict[str, str]:
    return {task_id: row["state"] for task_id, row in rows.items()}


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, args).fetchall()


# --- the cleaning rules, computed independently of examples/sales_pipeline.py ----------------


def parse_raw(path: Path) -> pd.DataFrame:
    """The raw CSV as text, with its dates parsed by regular expressions."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    parts = []
    for pattern, order in ((r"^(\d{4})-(\d{2})-(\d{2})$", "ymd"), (r"^(\d{4})/(\d{2})/(\d{2})$", "ymd"),
                           (r"^(\d{2})\.(\d{2})\.(\d{4})$", "dmy")):
        found = raw["order_date"].str.extract(pattern).astype(float)
        found.columns = list(order)
        parts.append(found[["y", "m", "d"]])
    ymd = parts[0].fillna(parts[1]).fillna(parts[2])
    raw["date"] = pd.to_datetime(pd.DataFrame({"year": ymd["y"], "month": ymd["m"], "day": ymd["d"]}),
                                 errors="coerce").dt.date
    return raw


def expected_for_day(raw: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """The rows the pipeline must load for `day`."""
    df = raw[raw["date"] == day].copy()
    number = {c: pd.to_numeric(df[c].replace("", np.nan)) for c in ("order_id", "quantity", "unit_price", "revenue")}
    quantity, price, revenue = number["quantity"], number["unit_price"], number["revenue"]
    revenue = revenue.fillna((quantity * price).round(2))
    price = price.where(price.notna() | ~(quantity > 0), (revenue / quantity).round(2))
    product = df["product"].str.split().str.join(" ").str.title()
    region = df["region"].str.split().str.join(" ").str.title().replace("", "Unknown")
    out = pd.DataFrame({"order_id": number["order_id"], "product": product, "region": region,
                        "quantity": quantity, "unit_price": price, "revenue": revenue})
    keep = out["order_id"].notna() & (out["product"] != "") & quantity.notna() & revenue.notna() \
        & (revenue >= 0) & (quantity >= 1)
    return out[keep].drop_duplicates("order_id", keep="first")


@pytest.fixture(scope="session")
def sales_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from miniflow.examples.data.generate_sales import write_sales_csv

    return write_sales_csv(tmp_path_factory.mktemp("sales") / "sales.csv")


@pytest.fixture(scope="session")
def raw_sales(sales_csv: Path) -> pd.DataFrame:
    return parse_raw(sales_csv)


@pytest.fixture
def home(miniflow_home: Path, sales_csv: Path) -> Path:
    """MINIFLOW_HOME with the generated sales CSV where the extract task looks for it."""
    target = miniflow_home / "example_data" / "sales.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(sales_csv, target)
    return miniflow_home


# --- loading -----------------------------------------------------------------------------------


def test_every_example_loads_with_docs_and_laptop_friendly_schedules(miniflow_home: Path) -> None:
    from miniflow.dagbag import DagBag

    bag = DagBag(EXAMPLES, include_examples=False)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == DAG_IDS
    for dag in bag.dags.values():
        assert dag.doc_md and dag.doc_md.strip(), dag.dag_id
        # paused when they first appear, as Airflow's examples; one small DAG shows life
        assert dag.is_paused_upon_creation is (False if dag.dag_id == "airflow_style" else None), dag.dag_id
        assert dag.catchup is (dag.dag_id == "sales_etl"), dag.dag_id
    etl = bag.get_dag("sales_etl")
    assert etl.timetable.summary == "@daily" and etl.max_active_runs == 1
    assert (etl.start_date.date(), etl.end_date.date()) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))


# --- every example runs green --------------------------------------------------------------------


def test_airflow_style_runs_unchanged_and_renders_its_templates(run_cli, miniflow_home: Path) -> None:
    code, rows = dags_test(run_cli, "airflow_style", "2024-01-05")
    assert code == 0 and states(rows) == {"print_date": "success", "sleep": "success", "templated": "success"}
    log = task_log(miniflow_home, "airflow_style", "2024-01-05", "templated")
    assert 'echo "2024-01-05"' in log and 'echo "2024-01-12"' in log  # {{ ds }} and macros.ds_add(ds, 7)


@pytest.mark.parametrize("date, taken, skipped", [
    ("2024-01-05", {"build_report", "publish_report"}, {"compact_storage"}),  # a Friday
    ("2024-01-06", {"compact_storage"}, {"build_report", "publish_report"}),  # a Saturday
])
def test_branching_follows_the_weekday(run_cli, date: str, taken: set[str], skipped: set[str]) -> None:
    code, rows = dags_test(run_cli, "branching", date)
    result = states(rows)
    assert code == 0
    assert {t for t, s in result.items() if s == "skipped"} == skipped
    assert all(result[t] == "success" for t in taken | {"choose_path", "join", "done"})


def test_fan_out_fan_in_merges_every_region(run_cli, miniflow_home: Path) -> None:
    code, rows = dags_test(run_cli, "fan_out_fan_in", "2024-01-05")
    assert code == 0 and states(rows) == {
        "fetch_north": "success", "fetch_south": "success", "fetch_east": "success", "fetch_west": "success",
        "merge": "success"}
    merged = pd.read_csv(miniflow_home / "example_data" / "regions" / "regions_2024-01-05.csv")
    assert sorted(merged["region"]) == ["east", "north", "south", "west"]
    assert (merged["orders"] > 0).all()


def test_dynamic_tasks_has_a_task_per_shipped_and_dropped_file(run_cli, miniflow_home: Path) -> None:
    inventory = miniflow_home / "example_data" / "inventory"
    inventory.mkdir(parents=True)
    (inventory / "inventory_paris.csv").write_text("sku,product,quantity,unit_cost\nW-100,Widget,10,6.10\n")
    code, rows = dags_test(run_cli, "dynamic_tasks", "2024-01-05")
    assert code == 0 and states(rows) == {
        "value_inventory_berlin": "success", "value_inventory_lisbon": "success", "value_inventory_oslo": "success",
        "value_inventory_paris": "success", "total": "success"}
    assert "total stock value of 4 stores: 6878.40" in task_log(miniflow_home, "dynamic_tasks", "2024-01-05", "total")


def test_file_sensor_microbatch_processes_the_inbox_and_moves_it(run_cli, miniflow_home: Path) -> None:
    inbox = miniflow_home / "example_data" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "mine.csv").write_text("event_id,kind,amount\n1,click,2.5\n2,click,1.5\n3,view,4\n")
    code, rows = dags_test(run_cli, "file_sensor_microbatch", "2024-01-05")
    assert code == 0 and states(rows) == {
        "simulate_arrivals": "success", "wait_for_files": "success", "process_batch": "success"}
    data = miniflow_home / "example_data"
    assert list(inbox.iterdir()) == []
    processed = sorted(p.name for p in (data / "processed" / "20240105T000000").iterdir())
    assert "mine.csv" in processed and len(processed) >= 2  # the test's file and the simulated ones
    summary = pd.read_csv(data / "microbatch" / "batch_20240105T000000.csv").set_index("kind")
    assert summary.loc["click", "events"] >= 2 and summary.loc["view", "events"] >= 1


# --- monitoring ------------------------------------------------------------------------------------


@pytest.fixture
def webhook():
    """A local HTTP server that records the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/alerts", received
    server.shutdown()
    server.server_close()


def test_monitoring_retries_the_flaky_task_and_warns_on_a_missed_sla(run_cli, miniflow_home: Path) -> None:
    code, rows = dags_test(run_cli, "monitoring", "2024-01-05", conf={"sla_seconds": 0})
    assert code == 0 and all(r["state"] == "success" for r in rows.values())
    assert rows["call_flaky_service"]["try_number"] == 2
    first_try = task_log(miniflow_home, "monitoring", "2024-01-05", "call_flaky_service", 1)
    assert "service unavailable (try 1)" in first_try and "will be retried" in first_try
    assert "WARNING - SLA missed" in task_log(miniflow_home, "monitoring", "2024-01-05", "check_sla")


def test_monitoring_sla_miss_fails_and_posts_an_alert(run_cli, miniflow_home: Path, webhook) -> None:
    url, received = webhook
    conf = {"sla_seconds": 0, "sla_action": "fail", "failures_before_success": 0}
    code, rows = dags_test(run_cli, "monitoring", "2024-01-05", conf=conf,
                           env={"MONITORING_WEBHOOK_URL": url, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    assert code == 1
    assert rows["check_sla"]["state"] == "failed" and rows["check_sla"]["try_number"] == 1  # no retry
    assert len(received) == 1
    alert = received[0]
    assert (alert["dag_id"], alert["task_id"], alert["event"]) == ("monitoring", "check_sla", "task_failed")
    assert "SLA missed" in alert["error"]
    log = task_log(miniflow_home, "monitoring", "2024-01-05", "check_sla")
    assert "ALERT" in log and "Alert sent to the webhook (HTTP 204)" in log


# --- the sales ETL -----------------------------------------------------------------------------------


def assert_day_loaded(db: Path, table: str, day: dt.date, raw: pd.DataFrame) -> None:
    """The table's rows of `day` are exactly what the independent computation expects."""
    expected = expected_for_day(raw, day)
    with closing(sqlite3.connect(db)) as conn:
        loaded = pd.read_sql(f"SELECT * FROM {table} WHERE sale_date = ?", conn, params=(day.isoformat(),))
    assert len(loaded) == len(expected) > 500
    assert sorted(loaded["order_id"]) == sorted(expected["order_id"].astype(int))
    assert loaded["revenue"].sum() == pytest.approx(expected["revenue"].sum(), rel=1e-9)
    by_product = loaded.groupby("product")["revenue"].sum()
    assert by_product.to_dict() == pytest.approx(expected.groupby("product")["revenue"].sum().to_dict(), rel=1e-9)
    assert not loaded["order_id"].duplicated().any()
    assert (loaded["revenue"] >= 0).all() and (loaded["quantity"] >= 1).all()
    assert loaded[["year", "month", "day"]].drop_duplicates().values.tolist() == [[day.year, day.month, day.day]]
    assert loaded.notna().all().all()


def test_sales_etl_generates_its_input_loads_the_interval_and_reports(
        run_cli, miniflow_home: Path, sales_csv: Path, raw_sales: pd.DataFrame) -> None:
    code, rows = dags_test(run_cli, "sales_etl", "2024-01-05")
    assert code == 0 and all(r["state"] == "success" for r in rows.values())
    data = miniflow_home / "example_data"
    assert "generating it" in task_log(miniflow_home, "sales_etl", "2024-01-05", "extract")
    assert (data / "sales.csv").read_bytes() == sales_csv.read_bytes()  # seeded: the same file everywhere

    # A manual run for 2024-01-05 covers the last complete day before it (Airflow 2.10).
    day = dt.date(2024, 1, 4)
    assert_day_loaded(data / "sales.db", "sales", day, raw_sales)
    assert query(data / "sales.db", "SELECT COUNT(*) FROM sales WHERE sale_date <> ?", day.isoformat()) == [(0,)]

    report = pd.read_csv(data / "reports" / "sales_etl" / "sales_summary_2024-01-04.csv")
    expected = expected_for_day(raw_sales, day)
    assert report["orders"].sum() == len(expected)
    assert report["revenue"].sum() == pytest.approx(expected["revenue"].sum(), abs=0.05)
    assert (data / "reports" / "sales_etl" / "sales_summary_2024-01-04.html").read_text().startswith("<!doctype html>")
    log = task_log(miniflow_home, "sales_etl", "2024-01-05", "check_quality")
    for check in ("row_count", "not_null", "revenue_range", "quantity_range", "date_parts", "unique_order_id"):
        assert f"PASS {check}" in log

    # Running the same day again replaces its rows instead of adding to them.
    assert dags_test(run_cli, "sales_etl", "2024-01-05")[0] == 0
    assert query(data / "sales.db", "SELECT COUNT(*) FROM sales") == [(len(expected),)]


def test_sales_report_runs_when_the_etl_loads_the_sales_table(home: Path, raw_sales: pd.DataFrame) -> None:
    """Data-aware scheduling: the ETL's load updates the dataset, and the scheduler (here
    in-process, with the sequential executor) runs the report on it."""
    from miniflow.dag_test import run_dag_test
    from miniflow.dagbag import DagBag
    from miniflow.db.store import get_store
    from miniflow.executors.sequential import SequentialExecutor
    from miniflow.scheduler import Scheduler
    from miniflow.serialization import parsed_dag

    bag = DagBag(str(EXAMPLES), include_examples=False)
    etl, report = bag.get_dag("sales_etl"), bag.get_dag("sales_report")
    store = get_store()
    store.sync_dags([parsed_dag(etl), parsed_dag(report)], paused_by_default=False)
    assert run_dag_test(etl, dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc), store=store).state == "success"
    queue = store.dataset_queue()
    assert list(queue) == ["sales_report"] and list(queue["sales_report"]) == ["sales://warehouse/sales"]
    executor = SequentialExecutor({"sales_report": report}, store)
    scheduler = Scheduler(store, executor)
    scheduler.dags = {"sales_report": report}
    assert scheduler.create_dataset_triggered_runs() == 1
    for _ in range(4):
        scheduler.start_queued_runs()
        scheduler.schedule_runs()
        scheduler.queue_task_instances()
        scheduler.handle_events(executor.events(timeout=0.0))
    [run] = store.list_runs("sales_report")
    assert (run.run_type, run.state) == ("dataset_triggered", "success")
    ranking = pd.read_csv(home / "example_data" / "reports" / "sales_report" / "revenue_by_product.csv")
    day = expected_for_day(raw_sales, dt.date(2024, 1, 4))
    assert ranking["orders"].sum() == len(day)
    assert list(ranking["revenue"]) == sorted(ranking["revenue"], reverse=True)


def test_sales_etl_taskflow_loads_the_same_rows_into_the_configured_db(
        run_cli, home: Path, tmp_path: Path, raw_sales: pd.DataFrame) -> None:
    warehouse = tmp_path / "warehouse.db"
    code, rows = dags_test(run_cli, "sales_etl_taskflow", "2024-01-10",
                           env={"SALES_ETL_DB_URL": f"sqlite:///{warehouse}"})
    assert code == 0 and all(r["state"] == "success" for r in rows.values())
    assert_day_loaded(warehouse, "sales_taskflow", dt.date(2024, 1, 9), raw_sales)
    assert not (home / "example_data" / "sales.db").exists()
    assert (home / "example_data" / "staging" / "sales_etl_taskflow" / "2024-01-09" / "clean.csv").exists()


def test_sales_etl_quality_check_fails_on_corrupted_input(
        run_cli, home: Path, sales_csv: Path, tmp_path: Path) -> None:
    # A revenue no order can have: the transform keeps it (it is a valid positive number),
    # the load stores it, and only the revenue_range check can catch it.
    corrupted = tmp_path / "corrupted.csv"
    shutil.copy(sales_csv, corrupted)
    with corrupted.open("a") as handle:
        handle.write("999999999,2024-01-04,customer 00001,Widget,North,5,10.0,9999999.0\n")
    code, rows = dags_test(run_cli, "sales_etl", "2024-01-05", conf={"source_csv": str(corrupted)})
    assert code == 1
    assert states(rows) == {"extract": "success", "transform": "success", "load": "success",
                            "check_columns": "failed", "check_table": "success", "check_quality": "failed",
                            "report": "upstream_failed"}
    assert rows["check_quality"]["try_number"] == 1  # a data problem is not retried
    log = task_log(home, "sales_etl", "2024-01-05", "check_quality")
    assert "FAIL revenue_range: 1 rows with revenue outside [0, 50000]" in log
    assert "data quality check(s) failed: revenue_range" in log
    assert "PASS unique_order_id" in log
    columns = task_log(home, "sales_etl", "2024-01-05", "check_columns")
    assert "Column: revenue" in columns and "Check: max" in columns  # the check and its column, by name
    assert "Column: order_id" not in columns


def test_sales_etl_backfill_builds_a_week(run_cli, home: Path, raw_sales: pd.DataFrame) -> None:
    result = run_cli("backfill", "sales_etl", "-s", "2024-01-01", "-e", "2024-01-07", "-S", str(EXAMPLES),
                     "-o", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(result.stdout)
    assert [r["state"] for r in runs] == ["success"] * 7
    data = home / "example_data"
    days = [dt.date(2024, 1, d) for d in range(1, 8)]
    loaded_days = query(data / "sales.db", "SELECT DISTINCT sale_date FROM sales ORDER BY 1")
    assert loaded_days == [(d.isoformat(),) for d in days]
    for day in days:
        assert_day_loaded(data / "sales.db", "sales", day, raw_sales)
        assert (data / "reports" / "sales_etl" / f"sales_summary_{day.isoformat()}.csv").exists()
    assert query(data / "sales.db", "SELECT COUNT(*) - COUNT(DISTINCT order_id) FROM sales") == [(0,)]


def test_orders_api_extracts_from_the_http_service_into_the_warehouse(run_cli, home: Path) -> None:
    """The HTTP extract: the example's API server (started here), HttpOperator, a hook,
    a table check; a re-run replaces the day instead of adding to it."""
    from miniflow.examples.data.orders_api import orders_of, serve

    server = serve()
    try:
        env = {"AIRFLOW_CONN_ORDERS_API": f"http://127.0.0.1:{server.server_address[1]}"}
        for _ in range(2):
            code, rows = dags_test(run_cli, "orders_api", "2024-01-05", env=env)
            assert code == 0 and states(rows) == dict.fromkeys(["fetch_orders", "load_orders", "check_orders"],
                                                               "success")
    finally:
        server.shutdown()
        server.server_close()
    expected = orders_of(dt.date(2024, 1, 4))
    loaded = query(home / "example_data" / "sales.db", "SELECT order_id, product, quantity FROM api_orders "
                   "WHERE order_date = '2024-01-04' ORDER BY order_id")
    assert loaded == [(o["order_id"], o["product"], o["quantity"]) for o in expected]
    assert query(home / "example_data" / "sales.db", "SELECT COUNT(*) FROM api_orders") == [(len(expected),)]


def test_orders_api_without_its_connection_says_how_to_add_it(run_cli, home: Path) -> None:
    code, rows = dags_test(run_cli, "orders_api", "2024-01-05")
    assert code == 1 and rows["fetch_orders"]["state"] == "failed"
    assert "AIRFLOW_CONN_ORDERS_API" in task_log(home, "orders_api", "2024-01-05", "fetch_orders", try_number=3)


def test_sales_etl_backfills_a_week_into_postgresql_through_its_connection(
        run_cli, home: Path, raw_sales: pd.DataFrame, postgres_url: str) -> None:
    """The mission's pipeline for real: ``sales_db`` points at PostgreSQL, a 7-day
    backfill loads every day there and passes the SQL column and table checks."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"sales_{os.getpid()}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(drivername="postgresql", database=name)
    try:
        result = run_cli("backfill", "sales_etl", "-s", "2024-01-01", "-e", "2024-01-07", "-S", str(EXAMPLES),
                         "-o", "json", env={"AIRFLOW_CONN_SALES_DB": url.render_as_string(hide_password=False)})
        assert result.returncode == 0, result.stdout + result.stderr
        assert [r["state"] for r in json.loads(result.stdout)] == ["success"] * 7
        warehouse = create_engine(url.set(drivername="postgresql+psycopg"))
        with warehouse.connect() as conn:
            per_day = dict(conn.execute(text("SELECT sale_date, COUNT(*) FROM sales GROUP BY 1")).all())
            duplicates = conn.execute(text("SELECT COUNT(*) - COUNT(DISTINCT order_id) FROM sales")).scalar()
        warehouse.dispose()
        days = [dt.date(2024, 1, d) for d in range(1, 8)]
        assert per_day == {day: len(expected_for_day(raw_sales, day)) for day in days} and duplicates == 0
        assert not (home / "example_data" / "sales.db").exists()
        checks = run_cli("tasks", "states-for-dag-run", "sales_etl", "backfill__2024-01-07T00:00:00+00:00",
                         "-o", "json")
        assert checks.returncode == 0, checks.stderr
        assert {r["task_id"]: r["state"] for r in json.loads(checks.stdout)} == dict.fromkeys(
            ["extract", "transform", "load", "check_columns", "check_table", "check_quality", "report"], "success")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


# --- the generator ---------------------------------------------------------------------------------


def test_generator_is_deterministic_and_messy() -> None:
    from miniflow.examples.data.generate_sales import BAD_DATES, generate_sales

    sales = generate_sales(5_000, seed=7)
    pd.testing.assert_frame_equal(sales, generate_sales(5_000, seed=7))
    assert len(sales) == 5_000
    assert sales["order_id"].duplicated().sum() == 150
    assert (pd.to_numeric(sales["revenue"]) < 0).any() and sales["revenue"].isna().any()
    assert sales["order_date"].isin(BAD_DATES).any()
    assert sales["order_date"].str.contains("/").any() and sales["order_date"].str.contains(r"\.").any()
    products = sales["product"].dropna()
    assert (products != products.str.strip()).any() and (products.str.upper() == products).any()


def test_generator_runs_as_a_script(tmp_path: Path) -> None:
    out = tmp_path / "small.csv"
    subprocess.run([sys.executable, str(GENERATOR), "-o", str(out), "--rows", "1000", "--seed", "3"],
                   check=True, capture_output=True, timeout=60)
    assert len(pd.read_csv(out)) == 1000
