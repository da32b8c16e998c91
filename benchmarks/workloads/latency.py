"""``latency`` (L1): how soon the scheduler reacts, on a chain of short tasks.

With the scheduler running (local executor, as in ``fan``), a chain of 10 no-op
PythonOperators is triggered. Figures:

* trigger -> success: from the run's creation by ``dags trigger`` to its end, both as
  recorded in the run's row (``queued_at``, ``end_date``), so the trigger command's
  own start-up is not counted (``startup`` measures that);
* the gaps between one task's end and the next task's start, from the task
  instances' times: their median and their maximum. Each gap is the scheduler
  noticing the end, deciding the next task, queueing it, and a worker starting it.

Whenever a scheduler has just been started (each repetition, when systems alternate),
one untimed run goes first, so the figures are those of a warm scheduler whose
workers have already loaded the DAG file.
"""

from __future__ import annotations

import itertools
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import register_and_unpause, run_span, task_times, trigger, wait_for_run
from benchmarks.harness import Figure, Measurement, Params, System, executor_systems, register, sample_figures
from benchmarks.homes import Home, new_home
from benchmarks.processes import schedulers
from benchmarks.shapes import chain_shape, write_dag_files

MEDIAN_GAP_TARGET_MS = 8.0  # the speed issue's (the first round's was 20 ms)
SETTINGS = {("core", "parallelism"): "32"}
RUN_TIMEOUT = 300.0


@register("latency", "L1: a 10-task chain of no-op tasks triggered on the running scheduler: "
          "trigger -> run success, and the median (target < 8 ms) and max gap between a "
          "task's end and the next one's start.",
          sizes={"tasks": 10}, quick_sizes={"tasks": 3})
def latency(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    systems = executor_systems(systems)
    shape = chain_shape("bench_latency", params["tasks"], "noop")
    total = Figure("trigger -> success", None, "s")
    median_gap = Figure("median gap end -> next start", MEDIAN_GAP_TARGET_MS, "ms")
    max_gap = Figure("max gap end -> next start", None, "ms")
    count = {s.name: 0 for s in systems}
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp, schedulers() as running:
        homes: dict[str, Home] = {}
        for system in systems:
            home = homes[system.name] = new_home(Path(tmp), system.with_settings(SETTINGS), shape.dag_id,
                                                 executor=True)
            write_dag_files(home.dags, [(shape, system.import_style)])
            register_and_unpause(home, [shape.dag_id])

        def run_once(home: Home) -> str:
            count[home.system.name] += 1
            run_id = f"bench_{count[home.system.name]}"
            trigger(home, shape.dag_id, run_id)
            wait_for_run(home, shape.dag_id, run_id, RUN_TIMEOUT, interval=0.1)
            return run_id

        def once(system: System) -> dict[str, float]:
            home = homes[system.name]
            running.use(home, [shape.dag_id], settle=1.0)
            if running.started and count[system.name] > 0:  # (the very first call is untimed anyway)
                run_once(home)  # untimed: workers load the DAG file on their first tries
            run_id = run_once(home)
            times = task_times(home, shape.dag_id, run_id)
            order = shape.task_ids
            gaps = [(times[b].start - times[a].end).total_seconds() * 1000 for a, b in itertools.pairwise(order)]
            return {
                total.name: run_span(home, shape.dag_id, run_id),
                median_gap.name: statistics.median(gaps),
                max_gap.name: max(gaps),
            }

        return sample_figures("latency", [total, median_gap, max_gap], systems, reps, once)
