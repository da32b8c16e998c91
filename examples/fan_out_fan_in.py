"""
### Fan-out / fan-in: one task per region, then a merge

`fetch_<region>` tasks have no dependency on each other, so the scheduler runs them in
parallel (up to `max_active_tasks`, and as many as the executor has slots for); the
`merge` task waits for all of them (its default trigger rule, `all_success`) and
combines their results into one CSV, `example_data/regions/regions_<ds>.csv`.

The TaskFlow call `merge([fetch(...) for each region])` draws the edges: a list of
task results passed to a task makes it depend on each of them, and at run time it
receives the list of their XCom values. The "regional service" is simulated with a
random generator seeded by region and date, so a re-run returns the same numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from typing import Any

from miniflow.decorators import dag, task

REGIONS = ["north", "south", "east", "west"]


@dag(
    dag_id="fan_out_fan_in",
    doc_md=__doc__,
    schedule="@daily",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_tasks=4,
    tags=["example"],
)
def fan_out_fan_in() -> None:
    @task
    def fetch(region: str, ds: Any = None) -> dict[str, Any]:
        """One region's orders of the day, from its (simulated) regional service."""
        rng = random.Random(f"{region}:{ds}")
        amounts = [rng.uniform(5, 250) for _ in range(rng.randint(50, 150))]
        return {"region": region, "orders": len(amounts), "revenue": round(sum(amounts), 2)}

    @task
    def merge(results: list[dict[str, Any]], ds: Any = None) -> dict[str, Any]:
        """All regions in one file; returns the totals."""
        from miniflow.config import miniflow_home

        out = miniflow_home() / "example_data" / "regions" / f"regions_{ds}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["region", "orders", "revenue"])
            writer.writeheader()
            writer.writerows(sorted(results, key=lambda r: r["region"]))
        totals = {"regions": len(results), "orders": sum(r["orders"] for r in results),
                  "revenue": round(sum(r["revenue"] for r in results), 2), "file": str(out)}
        print(f"Merged {totals['regions']} regions: {totals['orders']} orders, revenue {totals['revenue']}")
        return totals

    merge([fetch.override(task_id=f"fetch_{region}")(region) for region in REGIONS])


fan_out_fan_in()
