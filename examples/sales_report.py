"""
### Sales report (data-aware scheduling)

Runs whenever the sales table is updated -- by `sales_etl` or `sales_etl_taskflow`,
whose load tasks declare `outlets=[SALES_TABLE]` -- instead of on a clock:

    schedule=[SALES_TABLE]

It ranks the products by revenue over the whole table, as CSV under
`example_data/reports/sales_report/`, and logs the loads that triggered it
(`triggering_dataset_events`: several loads finishing before the run starts go into
one run). Updates from outside count too: `miniflow datasets event
sales://warehouse/sales` runs it as a load would.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from miniflow.examples import sales_pipeline as pipeline

from miniflow import DAG
from miniflow.operators.python import PythonOperator

log = logging.getLogger(__name__)


def rank_products(triggering_dataset_events: dict[str, list[Any]], run_id: str) -> dict[str, Any]:
    """Revenue per product over every loaded day, best first."""
    from sqlalchemy import create_engine, text

    for uri, events in triggering_dataset_events.items():
        for event in events:
            source = f"{event.source_dag_id}.{event.source_task_id} ({event.source_run_id})" if event.source_dag_id \
                else "outside miniflow"
            log.info("Triggered by an update of %s from %s at %s", uri, source, event.timestamp.isoformat())
    engine = create_engine(pipeline.database_url())
    try:
        with engine.connect() as conn:
            ranking = pipeline.pd.read_sql(text(
                "SELECT product, COUNT(*) AS orders, ROUND(SUM(revenue), 2) AS revenue FROM sales "
                "GROUP BY product ORDER BY revenue DESC"), conn)
    finally:
        engine.dispose()
    out_dir = pipeline.example_data_dir() / "reports" / "sales_report"
    out_dir.mkdir(parents=True, exist_ok=True)
    ranking.to_csv(out_dir / "revenue_by_product.csv", index=False)
    return {"products": len(ranking), "top": ranking["product"].iloc[0] if len(ranking) else None}


with DAG(
    "sales_report",
    description="Revenue by product, each time the sales table is updated",
    doc_md=__doc__,
    schedule=[pipeline.SALES_TABLE],
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,  # no time schedule to catch up on; said for readers of the other examples
    default_args={"owner": "data"},
    tags=["example", "datasets"],
) as dag:
    PythonOperator(task_id="rank_products", python_callable=rank_products)
