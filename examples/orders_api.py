"""
### Orders from an HTTP API

Extract from an HTTP service instead of a file: each day's orders come from the
`orders_api` connection's `GET /orders?date=...` (a small server ships with the example:
`python examples/data/orders_api.py`, then `export
AIRFLOW_CONN_ORDERS_API=http://127.0.0.1:8765`).

    fetch_orders (HttpOperator) >> load_orders (@task, a hook) >> check_orders (SQLTableCheckOperator)

`HttpOperator` calls the API and keeps the parsed JSON as its XCom
(`response_filter`); a 5xx answer fails the try, and `retries` call again. The load
replaces the day's rows of `api_orders` in the `sales_db` connection's database
(SQLite by default, PostgreSQL if you point it there), through its hook, so a re-run
never duplicates a day. The check makes sure the day has rows and sane quantities.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from miniflow import DAG, task
from miniflow.operators.http import HttpOperator
from miniflow.operators.sql import SQLTableCheckOperator

TABLE = "api_orders"
COLUMNS = ("order_id", "order_date", "product", "quantity", "unit_price")


@task
def load_orders(orders: list[dict[str, Any]], data_interval_start: dt.datetime | None = None) -> int:
    """Replace the day's rows of the table with the API's orders."""
    from miniflow.hooks.base import BaseHook

    hook = BaseHook.get_hook("sales_db")
    day = data_interval_start.date().isoformat() if data_interval_start else None
    hook.run(f"CREATE TABLE IF NOT EXISTS {TABLE} (order_id BIGINT, order_date DATE, product VARCHAR(100), "
             "quantity INTEGER, unit_price DOUBLE PRECISION)")
    hook.run(f"DELETE FROM {TABLE} WHERE order_date = {hook.placeholder}", parameters=(day,))
    hook.insert_rows(TABLE, [tuple(order[c] for c in COLUMNS) for order in orders], target_fields=COLUMNS)
    return len(orders)


with DAG(
    "orders_api",
    description="Daily orders from an HTTP API into the warehouse, with a table check",
    doc_md=__doc__,
    schedule="@daily",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"owner": "data", "retries": 2, "retry_delay": dt.timedelta(seconds=5)},
    tags=["example", "http"],
) as dag:
    fetch = HttpOperator(
        task_id="fetch_orders", http_conn_id="orders_api", method="GET", endpoint="orders",
        data={"date": "{{ data_interval_start | ds }}"}, response_filter=lambda response: response.json(),
        response_check=lambda response: isinstance(response.json(), list))
    check = SQLTableCheckOperator(
        task_id="check_orders", conn_id="sales_db", table=TABLE, retries=0,
        partition_clause="order_date = '{{ data_interval_start | ds }}'",
        checks={"has_orders": {"check_statement": "COUNT(*) >= 1"},
                "quantity_positive": {"check_statement": "quantity >= 1"}})
    load_orders(fetch.output) >> check
