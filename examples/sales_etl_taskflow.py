"""
### Sales ETL (TaskFlow)

The pipeline of `sales_etl` written with `@dag` and `@task`:

    extract -> transform -> load -> check_quality -> report

Each task returns a small dict (a file path, row counts) that miniflow stores as an
XCom and hands to the next task as its argument; that is also what draws the
dependencies. The data itself never goes through XCom (it lives in the metadata DB and
must stay small): it is written to staging files named by the data interval,
`example_data/staging/sales_etl_taskflow/<day>/raw.csv` and `clean.csv`, and only their
paths travel. The steps are the functions of `sales_pipeline.py`, shared with
`sales_etl`; this DAG loads the table `sales_taskflow`.

Catchup is off and the sample data covers January to March 2024, so run it for a day
of that range: `miniflow dags test sales_etl_taskflow 2024-01-05`, or
`miniflow backfill sales_etl_taskflow -s 2024-01-01 -e 2024-01-07`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from miniflow.examples import sales_pipeline as pipeline

from miniflow import Param
from miniflow.decorators import dag, task

TABLE = "sales_taskflow"


@dag(
    dag_id="sales_etl_taskflow",
    doc_md=__doc__,
    description="The sales ETL in TaskFlow style: XCom for small values, files for data",
    schedule="@daily",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    end_date=dt.datetime(2024, 3, 31, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "data", "retries": 1, "retry_delay": dt.timedelta(seconds=10)},
    params={
        "source_csv": Param(None, type=["null", "string"], description="Source CSV; default: the generated one"),
        "min_rows": Param(1, type="integer", minimum=0, description="Fewest rows a day may load"),
    },
    tags=["example", "etl", "taskflow"],
)
def sales_etl_taskflow() -> None:
    @task
    def extract(ti: Any = None, params: Any = None, data_interval_start: Any = None,
                data_interval_end: Any = None) -> dict[str, Any]:
        """The interval's source rows, unchanged, into a staging file."""
        source = pipeline.ensure_source(pipeline.source_path(params["source_csv"]))
        out = pipeline.staging_dir(ti.dag_id, data_interval_start, data_interval_end) / "raw.csv"
        return pipeline.extract(source, data_interval_start, data_interval_end, out)

    @task
    def transform(extracted: dict[str, Any], data_interval_start: Any = None,
                  data_interval_end: Any = None) -> dict[str, Any]:
        """Clean the staged rows (pandas); returns the clean file and the counts per rule."""
        raw = Path(extracted["path"])
        return pipeline.transform(raw, data_interval_start, data_interval_end, raw.with_name("clean.csv"))

    @task(outlets=[pipeline.SALES_TABLE])
    def load(transformed: dict[str, Any], data_interval_start: Any = None,
             data_interval_end: Any = None) -> dict[str, Any]:
        """Replace the interval's rows of the table (SQLAlchemy, one transaction)."""
        return pipeline.load(Path(transformed["path"]), pipeline.database_url(), TABLE,
                             data_interval_start, data_interval_end)

    @task
    def check_quality(transformed: dict[str, Any], loaded: dict[str, Any], params: Any = None,
                      data_interval_start: Any = None, data_interval_end: Any = None) -> dict[str, bool]:
        """Row count, nulls, ranges, date parts, unique ids; fails naming each failed check."""
        return pipeline.check_quality(pipeline.database_url(), TABLE, data_interval_start, data_interval_end,
                                      expected_rows=transformed["rows_out"], min_rows=params["min_rows"])

    @task
    def report(checks: dict[str, bool], ti: Any = None, data_interval_start: Any = None,
               data_interval_end: Any = None) -> dict[str, Any]:
        """Aggregates per day and product, as CSV and HTML."""
        out_dir = pipeline.example_data_dir() / "reports" / ti.dag_id
        return pipeline.write_report(pipeline.database_url(), TABLE, data_interval_start, data_interval_end, out_dir)

    transformed = transform(extract())
    loaded = load(transformed)
    report(check_quality(transformed, loaded))


sales_etl_taskflow()
