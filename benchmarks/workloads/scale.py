"""``scale`` (W12): does the cost per task stay flat as DAGs grow?

* size sweep: a chain and a fan-out (1 -> n -> 1) of no-op PythonOperators at three
  sizes, each run in-process with `run_dag_test` (the scheduler's own steps and the
  sequential executor) on SQLite; the figure is the run's time divided by its tasks.
  A scheduling pass that looked at the whole run would make the chain's cost per task
  grow with its length; the "largest / smallest" figures are those ratios (1.0 is
  perfectly linear; target < 1.5).
* load sweep: the same shapes written out as DAG files, one statement per task (as
  generated DAG files are), and a chain made by calling one ``@task`` in a loop (each
  call takes the next free ``step__<n>`` id), loaded with `DagBag` (a probe in a
  child, then the import, compiling the file): the load's time divided by its tasks,
  and the same ratio. A cost per task that grows with the file's length, or with the
  number of tasks already made, shows up here.
* idle pass: 1,000 DAGs of 20 tasks loaded (all paused, as a large, quiet
  installation is), no runs; one whole scheduler pass (`Scheduler` steps 1-6 with
  the sequential executor), median of 50, in-process: what the loop costs doing
  nothing.

Airflow has no in-process counterpart to either; only miniflow is measured.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.harness import Figure, Measurement, Params, System, read_json, register, sample_figures
from benchmarks.homes import new_home
from benchmarks.shapes import chain_shape, fan_shape, write_dag_files, write_taskflow_chain

RATIO_TARGET = 1.5
CHAIN_PER_TASK_TARGET_MS = 2.0  # the speed issue's, at every size
IDLE_TARGET_MS = 2.0

# Run as `python sweep.py SHAPE N`: builds the DAG in-process and runs it once.
SWEEP_SCRIPT = '''\
import datetime, json, sys, time
from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.db.store import get_store
from miniflow.operators.python import PythonOperator

shape, n = sys.argv[1], int(sys.argv[2])
def noop():
    pass
with DAG(f"{shape}_{n}", start_date=datetime.datetime(2024, 1, 1), schedule=None) as dag:
    if shape == "chain":
        tasks = [PythonOperator(task_id=f"t{i}", python_callable=noop) for i in range(n)]
        for a, b in zip(tasks, tasks[1:]):
            a >> b
    else:
        first, last = (PythonOperator(task_id=t, python_callable=noop) for t in ("first", "last"))
        first >> [PythonOperator(task_id=f"t{i}", python_callable=noop) for i in range(n)] >> last
store = get_store()
store.warm_up()
started = time.perf_counter()
result = run_dag_test(dag, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc), store=store)
seconds = time.perf_counter() - started
assert str(result.state) == "success", result.state
print(json.dumps({"ms_per_task": seconds / len(dag.tasks) * 1000}))
'''

# Run as `python load.py FILE`: loads the DAG file once (compiling it) and times it.
LOAD_SCRIPT = '''\
import json, sys, time
from miniflow.dagbag import DagBag

started = time.perf_counter()
bag = DagBag(sys.argv[1], include_examples=False)
seconds = time.perf_counter() - started
assert not bag.import_errors and len(bag.dags) == 1, bag.import_errors
print(json.dumps({"us_per_task": seconds / len(next(iter(bag.dags.values())).tasks) * 1e6}))
'''

IDLE_SCRIPT = '''\
import datetime, json, statistics, time
from miniflow import DAG
from miniflow.db.store import get_store
from miniflow.serialization import parsed_dag
from miniflow.executors.sequential import SequentialExecutor
from miniflow.operators.empty import EmptyOperator
from miniflow.scheduler import Scheduler

dags = []
for i in range({dags}):
    dag = DAG(f"idle_{{i}}", start_date=datetime.datetime(2024, 1, 1), schedule="@daily")
    previous = None
    for j in range(20):
        task = EmptyOperator(task_id=f"t{{j}}", dag=dag, max_active_tis_per_dag=2 if j == 0 else None)
        if previous is not None:
            previous >> task
        previous = task
    dags.append(dag)
store = get_store()
store.sync_dags([parsed_dag(d) for d in dags], paused_by_default=True)
executor = SequentialExecutor()
scheduler = Scheduler(store, executor)
scheduler.dags = {{d.dag_id: d for d in dags}}
times = []
for _ in range(50):
    started = time.perf_counter()
    scheduler.refresh_dags()
    scheduler.create_due_runs()
    scheduler.create_dataset_triggered_runs()
    scheduler.start_queued_runs()
    scheduler.schedule_runs()
    scheduler.queue_task_instances()
    scheduler.handle_events(executor.events(timeout=0.0))
    times.append(time.perf_counter() - started)
print(json.dumps({{"ms": statistics.median(times) * 1000}}))
'''


@register("scale", "W12: cost per task of chains and fan-outs at three sizes, run in-process "
          "(chain: target < 2 ms a task; largest / smallest, target < 1.5: no superlinear term), "
          "and loaded from a generated DAG file (the same ratio), and one "
          "idle scheduler pass with 1,000 DAGs loaded (target < 2 ms).",
          sizes={"small": 100, "medium": 1000, "large": 10000, "dags": 1000},
          quick_sizes={"small": 10, "medium": 30, "large": 100, "dags": 20})
def scale(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    ours = [s for s in systems if s.import_style == "miniflow"]
    sizes = [params["small"], params["medium"], params["large"]]
    figures = [Figure(f"{shape} {n}: per task", CHAIN_PER_TASK_TARGET_MS if shape == "chain" else None, "ms")
               for shape in ("chain", "fan") for n in sizes]
    figures += [Figure(f"{shape}: per task, {sizes[-1]} / {sizes[0]}", RATIO_TARGET, "x") for shape in ("chain", "fan")]
    loaded = ("chain", "fan", "taskflow")
    loads = [Figure(f"load {shape} {n}: per task", None, "us") for shape in loaded for n in sizes]
    loads += [Figure(f"load {shape}: per task, {sizes[-1]} / {sizes[0]}", RATIO_TARGET, "x") for shape in loaded]
    idle = Figure(f"idle pass, {params['dags']} DAGs loaded", IDLE_TARGET_MS, "ms")
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        root = Path(tmp)

        def sweep(system: System) -> dict[str, float]:
            home = new_home(root, system, "bench_scale")
            script = home.path / "sweep.py"
            script.write_text(SWEEP_SCRIPT)
            found: dict[str, float] = {}
            for shape in ("chain", "fan"):
                for n in sizes:
                    _, out = home.python(script, shape, str(n))
                    found[f"{shape} {n}: per task"] = float(read_json(out, f"sweep.py {shape} {n}")["ms_per_task"])
                ratio = found[f"{shape} {sizes[-1]}: per task"] / found[f"{shape} {sizes[0]}: per task"]
                found[f"{shape}: per task, {sizes[-1]} / {sizes[0]}"] = ratio
            return found

        def load(system: System) -> dict[str, float]:
            home = new_home(root, system, "bench_load")
            script = home.path / "load.py"
            script.write_text(LOAD_SCRIPT)
            found: dict[str, float] = {}
            for shape in loaded:
                for n in sizes:
                    # A new name each time: the file is compiled, as a new or changed one is.
                    dag_id = f"load_{shape}_{n}_{len(found)}"
                    if shape == "taskflow":
                        dag_file = write_taskflow_chain(home.path / "load", dag_id, n, system.import_style)
                    else:
                        make = chain_shape if shape == "chain" else fan_shape
                        dag_file = write_dag_files(home.path / "load", [(make(dag_id, n, "noop"),
                                                                         system.import_style)])[0]
                    _, out = home.python(script, str(dag_file))
                    found[f"load {shape} {n}: per task"] = float(read_json(out, f"load.py {dag_file}")["us_per_task"])
                ratio = found[f"load {shape} {sizes[-1]}: per task"] / found[f"load {shape} {sizes[0]}: per task"]
                found[f"load {shape}: per task, {sizes[-1]} / {sizes[0]}"] = ratio
            return found

        def idle_pass(system: System) -> dict[str, float]:
            home = new_home(root, system, "bench_idle_pass")
            script = home.path / "idle.py"
            script.write_text(IDLE_SCRIPT.format(dags=params["dags"]))
            _, out = home.python(script)
            return {idle.name: float(json.loads(out.strip().splitlines()[-1])["ms"])}

        measurements = sample_figures("scale", figures, ours, reps, sweep)
        measurements += sample_figures("scale", loads, ours, reps, load)
        measurements += sample_figures("scale", [idle], ours, reps, idle_pass)
    return measurements
