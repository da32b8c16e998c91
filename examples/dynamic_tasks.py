"""
### Dynamic tasks: one task per input file, decided when the file is parsed

The DAG file globs `inventory_*.csv` in two places when it is parsed: the files shipped
beside it (`examples/data/`) and `$MINIFLOW_HOME/example_data/inventory/`. Each file
gets its own task, `value_<name>`, which sums the stock value of that store; `total`
adds them up. Drop `inventory_paris.csv` (columns `sku,product,quantity,unit_cost`) into
the second folder and the next parse of this file shows a new task `value_inventory_paris`
(a file there with the name of a shipped one replaces it).

This is the classic way to build tasks from data: the shape of the DAG is fixed at
parse time, so keep the listing cheap (a glob, not a database query) since the
scheduler re-parses the file. Airflow's run-time alternative, dynamic task mapping
(`.expand()`), is not supported by miniflow.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path
from typing import Any

from miniflow import DAG
from miniflow.config import miniflow_home
from miniflow.operators.python import PythonOperator

SHIPPED = Path(__file__).parent / "data"
DROPPED = miniflow_home() / "example_data" / "inventory"


def inventory_files() -> dict[str, Path]:
    """Task id -> file; a dropped file overrides a shipped one of the same name."""
    files = {}
    for folder in (SHIPPED, DROPPED):
        for path in sorted(folder.glob("inventory_*.csv")):
            files["value_" + re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)] = path
    return files


def stock_value(path: str) -> float:
    with open(path, newline="") as handle:
        value = sum(int(row["quantity"]) * float(row["unit_cost"]) for row in csv.DictReader(handle))
    print(f"{Path(path).name}: stock value {value:.2f}")
    return round(value, 2)


def total(ti: Any, task_ids: list[str]) -> float:
    values = dict(zip(task_ids, ti.xcom_pull(task_ids=task_ids), strict=True))
    for task_id, value in values.items():
        print(f"{task_id}: {value:.2f}")
    grand_total = round(sum(values.values()), 2)
    print(f"total stock value of {len(values)} stores: {grand_total:.2f}")
    return grand_total


with DAG(
    "dynamic_tasks",
    doc_md=__doc__,
    schedule="@daily",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["example"],
) as dag:
    files = inventory_files()
    per_file = [PythonOperator(task_id=task_id, python_callable=stock_value, op_kwargs={"path": str(path)})
                for task_id, path in files.items()]
    total_task = PythonOperator(task_id="total", python_callable=total, op_kwargs={"task_ids": list(files)})
    per_file >> total_task
