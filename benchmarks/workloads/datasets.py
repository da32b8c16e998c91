"""``datasets`` (W11): data-aware scheduling.

* latency: the scheduler running with the local executor; a producer DAG whose one
  no-op task has ``outlets=[Dataset(...)]`` is triggered, and a consumer DAG scheduled on
  that dataset runs. The figure is the time from the producer try's end (its task
  instance's ``end_date``) to the consumer run's creation (``queued_at``), median over
  the repetitions: how soon the scheduler notices an update.
* idle cost: with 1,000 datasets and 200 consumer DAGs registered and nothing queued,
  the scheduler's dataset step (`Scheduler.create_dataset_triggered_runs`), timed
  in-process on SQLite: what datasets add to every idle pass.

Airflow's counterparts need its DAG processor and dataset manager; only miniflow is
measured here.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dagruns import register_and_unpause, trigger, wait_for_run
from benchmarks.harness import Measurement, Params, System, executor_systems, read_json, register, sample
from benchmarks.homes import Home, new_home
from benchmarks.processes import schedulers, wait_for

LATENCY_TARGET_MS = 50.0
IDLE_TARGET_MS = 5.0
RUN_TIMEOUT = 120.0

PAIR = '''\
import datetime
from miniflow import DAG
from miniflow.datasets import Dataset
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator

ORDERS = Dataset("s3://bench/orders")
with DAG("bench_producer", start_date=datetime.datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="load", python_callable=lambda: None, outlets=[ORDERS])
with DAG("bench_consumer", start_date=datetime.datetime(2024, 1, 1), schedule=[ORDERS]):
    EmptyOperator(task_id="report")
'''

# Run as `python idle.py`: registers the consumers, then times the dataset step.
IDLE_SCRIPT = '''\
import datetime, json, statistics, time
from miniflow import DAG
from miniflow.datasets import Dataset
from miniflow.db.store import get_store
from miniflow.serialization import parsed_dag
from miniflow.executors.sequential import SequentialExecutor
from miniflow.operators.empty import EmptyOperator
from miniflow.scheduler import Scheduler

datasets = [Dataset(f"s3://bench/table_{{i}}") for i in range({datasets})]
dags = []
for i in range({consumers}):
    dag = DAG(f"consumer_{{i}}", start_date=datetime.datetime(2024, 1, 1), schedule=datasets[i * 5:i * 5 + 5])
    EmptyOperator(task_id="t", dag=dag)
    dags.append(dag)
store = get_store()
store.sync_dags([parsed_dag(d) for d in dags], paused_by_default=False)
scheduler = Scheduler(store, SequentialExecutor())
scheduler.dags = {{d.dag_id: d for d in dags}}
times = []
for _ in range(50):
    started = time.perf_counter()
    scheduler.create_dataset_triggered_runs()
    times.append(time.perf_counter() - started)
print(json.dumps({{"ms": statistics.median(times) * 1000}}))
'''


@register("datasets", "W11: a dataset update to its consumer's run through the running scheduler "
          "(target < 50 ms from the producer try's end), and the dataset step of an idle pass with "
          "1,000 datasets and 200 consumers (target < 5 ms).",
          sizes={"datasets": 1000, "consumers": 200}, quick_sizes={"datasets": 20, "consumers": 4})
def datasets(params: Params, reps: int, systems: Sequence[System]) -> list[Measurement]:
    ours = [s for s in executor_systems(systems) if s.import_style == "miniflow"]
    measurements: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="miniflow-bench-") as tmp:
        root = Path(tmp)

        def idle_once(system: System) -> float:
            home = new_home(root, system, "bench_idle")
            script = home.path / "idle.py"
            script.write_text(IDLE_SCRIPT.format(datasets=params["datasets"], consumers=params["consumers"]))
            _, out = home.python(script)
            return float(read_json(out, f"{system.name} idle.py")["ms"])

        measurements += sample("datasets", f"idle dataset step, {params['datasets']} datasets / "
                               f"{params['consumers']} consumers", ours, reps, idle_once, IDLE_TARGET_MS, unit="ms")

        homes: dict[str, Home] = {}
        count = {s.name: 0 for s in ours}
        with schedulers() as running:
            for system in ours:
                home = homes[system.name] = new_home(root, system, "bench_pair", executor=True)
                (home.dags / "pair.py").write_text(PAIR)
                register_and_unpause(home, ["bench_producer", "bench_consumer"])

            def latency_once(system: System) -> float:
                home = homes[system.name]
                running.use(home, ["bench_producer", "bench_consumer"], settle=1.0)
                count[system.name] += 1
                run_id = f"bench_{count[system.name]}"
                trigger(home, "bench_producer", run_id)
                wait_for_run(home, "bench_producer", run_id, RUN_TIMEOUT)
                wait_for(lambda: len(home.query("SELECT run_id FROM dag_run WHERE dag_id = 'bench_consumer'"))
                         >= count[system.name], RUN_TIMEOUT, "the consumer's run")
                [(end,)] = home.query("SELECT end_date FROM task_instance WHERE dag_id = 'bench_producer' "
                                      f"AND run_id = '{run_id}'")
                [(queued,)] = home.query("SELECT MAX(queued_at) FROM dag_run WHERE dag_id = 'bench_consumer'")
                return (_time(queued) - _time(end)).total_seconds() * 1000

            measurements += sample("datasets", "producer end -> consumer run", ours, reps, latency_once,
                                   LATENCY_TARGET_MS, unit="ms")
    return measurements


def _time(value: object) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
