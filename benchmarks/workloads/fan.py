"""``fan`` (W2): throughput of the scheduler and its executor on one wide run.

A DAG of one task, 500 parallel tasks, then one task joining them, all no-op
PythonOperators, is triggered while the system's scheduler runs with its parallel
executor (miniflow: the local executor, whose 2 worker processes -- one per core --
fork a child per try; Airflow: the LocalExecutor on PostgreSQL), both with
``core.parallelism`` 32 and the DAG's default 16 active tasks. The figure is tasks
per second between the first task's start and the last task's end, from the task
instances' times in the metadata DB (``tasks states-for-dag-run``): the rate at which
the scheduler decides, queues, runs and records tries, without its start-up.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import register_and_unpause, task_times, trigger, wait_for_run
from benchmarks.harness import Figure, Measurement, Params, System, executor_systems, register, sample_figures
from benchmarks.homes import Home, new_home
from benchmarks.processes import schedulers
from benchmarks.shapes import fan_shape, write_dag_files

TARGET_TASKS_PER_SECOND = 250.0  # the speed issue's (the first round's was 200)
SETTINGS = {("core", "parallelism"): "32"}
RUN_TIMEOUT = 900.0


@register("fan", "W2: a 1 -> 500 -> 1 run of no-op PythonOperators through the running scheduler "
          "and its parallel executor (parallelism 32): tasks/s from first start to last end "
          "(target > 250 tasks/s).",
          sizes={"width": 500}, quick_sizes={"width": 10})
def fan(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    systems = executor_systems(systems)
    shape = fan_shape("bench_fan", params["width"], "noop")
    figure = Figure(f"1 -> {params['width']} -> 1", TARGET_TASKS_PER_SECOND, "tasks/s", higher_is_better=True)
    count = {s.name: 0 for s in systems}
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp, schedulers() as running:
        homes: dict[str, Home] = {}
        for system in systems:
            home = homes[system.name] = new_home(Path(tmp), system.with_settings(SETTINGS), shape.dag_id,
                                                 executor=True)
            write_dag_files(home.dags, [(shape, system.import_style)])
            register_and_unpause(home, [shape.dag_id])

        def once(system: System) -> dict[str, float]:
            home = homes[system.name]
            running.use(home, [shape.dag_id], settle=1.0)
            count[system.name] += 1
            run_id = f"bench_{count[system.name]}"
            trigger(home, shape.dag_id, run_id)
            wait_for_run(home, shape.dag_id, run_id, RUN_TIMEOUT, interval=0.25)
            times = task_times(home, shape.dag_id, run_id).values()
            span = max(t.end for t in times) - min(t.start for t in times)
            return {figure.name: len(times) / span.total_seconds()}

        return sample_figures("fan", [figure], systems, reps, once)
