"""``mapping`` (W10): dynamic task mapping over 1,000 upstream items.

One TaskFlow task returns ``list(range(n))``; a no-op ``@task`` is mapped over it with
``.expand()``, and a last task sums the mapped results (the reduce). Three figures:

* expansion: the scheduler's step that counts the items and creates the n task
  instances (`Scheduler.expand_mapped_task`), timed in-process on a migrated SQLite DB
  (miniflow only: Airflow's expansion is interleaved with the rest of its loop);
* ``dags test`` of the whole DAG, a fresh process on a fresh migrated home;
* the whole run through the running scheduler and its parallel executor, in tasks per
  second from the first task's start to the last task's end (as the ``fan`` workload).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import check_run, register_and_unpause, task_times, trigger, wait_for_run
from benchmarks.harness import (
    Figure,
    Measurement,
    Params,
    System,
    executor_systems,
    read_json,
    register,
    sample,
    sample_figures,
)
from benchmarks.homes import Home, new_home
from benchmarks.processes import schedulers
from benchmarks.workloads.fan import TARGET_TASKS_PER_SECOND

DAG_ID = "bench_mapped"
EXPAND_TARGET_SECONDS = 0.3
DAG_TEST_TARGET_SECONDS = 5.0
SETTINGS = {("core", "parallelism"): "32"}
RUN_TIMEOUT = 900.0

DAG_FILE = '''\
import datetime
from {module} import DAG
from {decorators} import task

with DAG("{dag_id}", start_date=datetime.datetime(2024, 1, 1), schedule=None, catchup=False):
    @task
    def items():
        return list(range({n}))

    @task
    def one(x):
        return x

    @task
    def total(values):
        return sum(values)

    total(one.expand(x=items()))
'''

# Run as `python expand.py DAGS_FOLDER`: times the expansion step alone.
EXPAND_SCRIPT = '''\
import datetime, json, sys, time
from miniflow.dag_test import run_dag_test
from miniflow.dagbag import DagBag
from miniflow.db.store import get_store
from miniflow.serialization import parsed_dag
from miniflow.executors.sequential import SequentialExecutor
from miniflow.scheduler import Scheduler
from miniflow.serialization import task_rows
from miniflow.state import DagRunState
from miniflow.taskinstancekey import TaskInstanceKey

dag = DagBag(sys.argv[1], include_examples=False).get_dag("{dag_id}")
store = get_store()
store.sync_dags([parsed_dag(dag)])
when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
store.create_run(dag.dag_id, task_rows(dag, when), "r", when, None, "manual", state=DagRunState.RUNNING)
scheduler = Scheduler(store, SequentialExecutor({{dag.dag_id: dag}}, store))
scheduler.dags = {{dag.dag_id: dag}}
from miniflow.runner import run_task_instance
store.set_ti_states(dag.dag_id, "r", ["items"], "queued", [None])
run_task_instance(store, dag, TaskInstanceKey(dag.dag_id, "r", "items"))
started = time.perf_counter()
scheduler.expand_mapped_task(dag, "r", "one")
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "instances": len(store.mapped_tis(dag.dag_id, "r", "one"))}}))
'''


def _dag_file(system: System, n: int) -> str:
    airflow = system.import_style == "airflow"
    return DAG_FILE.format(module="airflow" if airflow else "miniflow",
                           decorators="airflow.decorators" if airflow else "miniflow", dag_id=DAG_ID, n=n)


def _home(root: Path, system: System, n: int, executor: bool = False) -> Home:
    home = new_home(root, system, DAG_ID, executor=executor)
    (home.dags / "mapped.py").write_text(_dag_file(system, n))
    return home


@register("mapping", "W10: a @task mapped over 1,000 upstream items: creating the instances in one "
          "scheduler step (target < 0.3 s), `dags test` of the DAG (target < 5 s), and the run "
          "through the scheduler and its parallel executor (target: the fan workload's 250 tasks/s).",
          sizes={"items": 1000}, quick_sizes={"items": 20})
def mapping(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    n = params["items"]
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        root = Path(tmp)
        ours = [s for s in systems if s.import_style == "miniflow"]

        def expand_once(system: System) -> float:
            home = _home(root, system, n)
            script = home.path / "expand.py"
            script.write_text(EXPAND_SCRIPT.format(dag_id=DAG_ID))
            _, out = home.python(script, str(home.dags))
            result = read_json(out, f"{system.name} expand.py")
            assert result["instances"] == n, result
            return float(result["seconds"])

        measurements += sample("mapping", f"expand {n} items in one step", ours, reps, expand_once,
                               EXPAND_TARGET_SECONDS)

        def dags_test_once(system: System) -> float:
            home = _home(root, system, n)
            seconds, _ = home.run("dags", "test", DAG_ID, "2024-01-02")
            check_run(home, DAG_ID)
            return seconds

        measurements += sample("mapping", f"dags test: {n} mapped", systems, reps, dags_test_once,
                               DAG_TEST_TARGET_SECONDS)

        run_systems = executor_systems(systems)
        figure = Figure(f"run of {n} mapped, scheduler + executor", TARGET_TASKS_PER_SECOND, "tasks/s",
                        higher_is_better=True)
        count = {s.name: 0 for s in run_systems}
        with schedulers() as running:
            homes: dict[str, Home] = {}
            for system in run_systems:
                homes[system.name] = _home(root, system.with_settings(SETTINGS), n, executor=True)
                register_and_unpause(homes[system.name], [DAG_ID])

            def run_once(system: System) -> dict[str, float]:
                home = homes[system.name]
                running.use(home, [DAG_ID], settle=1.0)
                count[system.name] += 1
                run_id = f"bench_{count[system.name]}"
                trigger(home, DAG_ID, run_id)
                wait_for_run(home, DAG_ID, run_id, RUN_TIMEOUT, interval=0.25)
                times = task_times(home, DAG_ID, run_id).values()
                span = max(t.end for t in times) - min(t.start for t in times)
                return {figure.name: len(times) / span.total_seconds()}

            measurements += sample_figures("mapping", [figure], run_systems, reps, run_once)
    return measurements
