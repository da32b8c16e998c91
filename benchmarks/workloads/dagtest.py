"""``dagtest`` (W1): whole DAG runs in one process, with ``dags test``.

``dags test`` runs every task of a run in the calling process, one after the other,
recording each in the metadata DB as the scheduler would: it is what a developer runs
after writing a DAG, and it isolates the cost of the task runner and the scheduling
decisions from any executor. Tasks are no-op PythonOperators, so the figures are the
orchestration alone:

* a chain of 200 tasks, and a fan-out 1 -> 500 -> 1, each one ``dags test`` command in
  a fresh process and a fresh, migrated home (its whole wall time: start-up, parsing
  the file, the run);
* the same chain run in-process (``run_dag_test`` for miniflow, ``dag.test()`` for
  Airflow) after the imports, the DAG load and the DB connection: the run's time
  divided by its tasks is the per-task overhead of the runner and the scheduling loop.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import check_run
from benchmarks.harness import Figure, Measurement, Params, System, read_json, register, sample, sample_figures
from benchmarks.homes import Home, new_home
from benchmarks.shapes import DagShape, chain_shape, fan_shape, write_dag_files

CHAIN_TARGET_SECONDS = 0.6  # the speed issue's (the first round's was 1 s)
FAN_TARGET_SECONDS = 2.0
PER_TASK_TARGET_MS = 2.0  # the speed issue's (the first round's was 3 ms)
LOGICAL_DATE = "2024-01-01"

# Run as `python dag_test.py DAGS_FOLDER DAG_ID`; prints {"seconds": ..., "state": ...}.
SCRIPTS = {
    "miniflow": '''\
import datetime, json, sys, time
from miniflow.dag_test import run_dag_test
from miniflow.dagbag import DagBag
from miniflow.db.store import get_store

dag = DagBag(sys.argv[1], include_examples=False).get_dag(sys.argv[2])
store = get_store()
store.warm_up()
started = time.perf_counter()
result = run_dag_test(dag, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), store=store)
print(json.dumps({"seconds": time.perf_counter() - started, "state": str(result.state)}))
''',
    "airflow": '''\
import datetime, inspect, json, logging, sys, time
from airflow.models.dagbag import DagBag

dag = DagBag(sys.argv[1], include_examples=False).get_dag(sys.argv[2])
logging.disable(logging.INFO)  # dag.test() logs each task to the console; miniflow's does not
when = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
date_arg = "logical_date" if "logical_date" in inspect.signature(dag.test).parameters else "execution_date"
started = time.perf_counter()
run = dag.test(**{date_arg: when})  # Airflow 3 renamed execution_date
print(json.dumps({"seconds": time.perf_counter() - started, "state": str(run.state)}))
''',
}


@register("dagtest", "W1: `dags test` of a 200-task chain (target < 0.6 s) and of a 1 -> 500 -> 1 "
          "fan-out (target < 2 s) of no-op PythonOperators, each a fresh process on a fresh "
          "migrated DB; and the chain run in-process: per-task overhead (target < 2 ms).",
          sizes={"chain": 200, "fan": 500}, quick_sizes={"chain": 10, "fan": 10})
def dagtest(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    chain = chain_shape("bench_chain", params["chain"], "noop")
    fan = fan_shape("bench_fan", params["fan"], "noop")
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        root = Path(tmp)
        for shape, name, target in ((chain, f"dags test: chain {params['chain']}", CHAIN_TARGET_SECONDS),
                                    (fan, f"dags test: 1 -> {params['fan']} -> 1", FAN_TARGET_SECONDS)):
            def once(system: System, shape: DagShape = shape) -> float:
                home = _home(root, system, shape)
                seconds, _ = home.run("dags", "test", shape.dag_id, LOGICAL_DATE)
                check_run(home, shape.dag_id)
                return seconds

            measurements += sample("dagtest", name, systems, reps, once, target)

        per_task = Figure(f"in-process, per task (chain {params['chain']})", PER_TASK_TARGET_MS, "ms")

        def in_process(system: System) -> dict[str, float]:
            home = _home(root, system, chain)
            script = home.path / "dag_test.py"
            script.write_text(SCRIPTS[system.import_style])
            _, out = home.python(script, str(home.dags), chain.dag_id)
            result = read_json(out, f"{system.name} {script.name}")
            check_run(home, chain.dag_id)
            return {per_task.name: result["seconds"] / len(chain.tasks) * 1000}

        measurements += sample_figures("dagtest", [per_task], systems, reps, in_process)
    return measurements


def _home(root: Path, system: System, shape: DagShape) -> Home:
    home = new_home(root, system, shape.dag_id)
    write_dag_files(home.dags, [(shape, system.import_style)])
    return home

