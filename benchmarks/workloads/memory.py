"""``memory`` (M1): what an idle scheduler with 200 DAGs costs in memory.

The scheduler (with its parallel executor, as in ``fan``) starts on a folder of 200
generated DAG files of 20 tasks (the ``parse`` workload's files; paused, as new DAGs
are by default) and, once every DAG is in the metadata DB, is left idle for a few
seconds. Then the PSS of the scheduler and of every process below it -- executor
workers, their children, Airflow's DAG processor -- is summed. PSS splits the pages
that processes share (a forked worker and its parent), so the sum is what the tree
really occupies. Also: one executor worker's own PSS, and how many processes the tree
has.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import (
    BenchmarkError,
    Figure,
    Measurement,
    Params,
    System,
    executor_systems,
    register,
    sample_figures,
)
from benchmarks.homes import Home, new_home
from benchmarks.processes import cmdline, descendants, parent, pss_mb, schedulers, wait_for
from benchmarks.shapes import mixed_shape, write_dag_files

TARGET_MB = 250.0
SEED = 4
PARALLELISM = 32
SETTINGS = {("core", "parallelism"): str(PARALLELISM)}
# How an executor worker shows: Airflow's set a title; miniflow's are the children of
# multiprocessing's fork server, whose command line they keep.
WORKER_MARKERS = {"miniflow": "forkserver", "airflow": "LocalExecutor"}


@register("memory", "M1: PSS of an idle scheduler and all its descendants with 200 DAGs of 20 "
          "tasks loaded (target < 250 MB), one executor worker's own PSS, and the process count.",
          sizes={"dags": 200, "tasks": 20, "idle_seconds": 5},
          quick_sizes={"dags": 5, "tasks": 5, "idle_seconds": 0})
def memory(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    systems = executor_systems(systems)
    rng = random.Random(SEED)
    shapes = [mixed_shape(f"bench_mem_{i:03d}", params["tasks"], rng) for i in range(params["dags"])]
    dag_ids = [s.dag_id for s in shapes]
    total = Figure(f"scheduler tree PSS, {params['dags']} DAGs", TARGET_MB, "MB")
    worker = Figure("one executor worker's PSS", None, "MB")
    processes = Figure("processes in the tree", None, "count")
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp, schedulers() as running:
        homes: dict[str, Home] = {}
        for system in systems:
            home = homes[system.name] = new_home(Path(tmp), system.with_settings(SETTINGS), "bench_mem",
                                                 executor=True)
            styles = ("airflow", system.import_style)  # as in `parse`: half of each where allowed
            write_dag_files(home.dags, ((s, styles[i % 2]) for i, s in enumerate(shapes)))

        def once(system: System) -> dict[str, float]:
            running.stop()  # each sample is a scheduler started afresh
            scheduler = running.use(homes[system.name], dag_ids, settle=params["idle_seconds"])
            marker = WORKER_MARKERS[system.import_style]

            def workers() -> list[int]:
                """miniflow's are the fork server's children, not their spare children,
                which keep the same command line; the fork server is the scheduler's child."""
                return [p for p in descendants(scheduler.pid) if marker in cmdline(p)
                        and (system.import_style != "miniflow" or parent(parent(p)) == scheduler.pid)]

            # miniflow's fork server forks its workers, one per core, once it has imported
            # what they share.
            expected = min(PARALLELISM, os.cpu_count() or 1) if system.import_style == "miniflow" else 1
            try:
                wait_for(lambda: len(workers()) >= expected, 30, "the executor workers")
            except BenchmarkError:
                tree = descendants(scheduler.pid)
                raise BenchmarkError(f"{system.name}: no executor worker found under the scheduler "
                                     f"({[cmdline(p)[:60] for p in tree]})") from None
            tree = descendants(scheduler.pid)
            return {
                total.name: pss_mb(scheduler.pid) + sum(pss_mb(p) for p in tree),
                worker.name: statistics.median(pss_mb(p) for p in workers()),
                processes.name: 1 + len(tree),
            }

        return sample_figures("memory", [total, worker, processes], systems, reps, once)
