"""``backfill`` (W3): a month of a small daily DAG, run by the backfill command.

The DAG is three BashOperator ``true`` tasks in a chain, daily, and the command runs
it for the 30 logical dates 2024-01-01 ... 2024-01-30: 30 runs, 90 tasks, through the
system's parallel executor (miniflow's local executor; Airflow's LocalExecutor on
PostgreSQL), up to the DAG's 16 active runs at once. Each repetition starts on a
fresh, migrated DB, so every run is created and executed; the figure is the command's
wall time, start-up included.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import check_run
from benchmarks.harness import Measurement, Params, System, executor_systems, register, sample
from benchmarks.homes import new_home
from benchmarks.shapes import chain_shape, write_dag_files

TARGET_SECONDS = 1.5
START = dt.date(2024, 1, 1)


@register("backfill", "W3: `dags backfill` of a daily DAG of 3 BashOperator `true` tasks over "
          "30 days (30 runs, 90 tasks) on a fresh DB, wall time (target < 1.5 s).",
          sizes={"days": 30, "tasks": 3}, quick_sizes={"days": 3, "tasks": 3})
def backfill(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    systems = executor_systems(systems)
    shape = chain_shape("bench_backfill", params["tasks"], "true", schedule='"@daily"', catchup=False)
    end = START + dt.timedelta(days=params["days"] - 1)
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        def once(system: System) -> float:
            home = new_home(Path(tmp), system, shape.dag_id, executor=True)
            write_dag_files(home.dags, [(shape, system.import_style)])
            seconds, _ = home.run("dags", "backfill", shape.dag_id, "-s", START.isoformat(), "-e", end.isoformat())
            check_run(home, shape.dag_id, runs=params["days"])
            return seconds

        name = f"{params['days']} days x {params['tasks']} tasks"
        return sample("backfill", name, systems, reps, once, TARGET_SECONDS)
