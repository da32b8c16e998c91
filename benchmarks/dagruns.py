"""Driving and reading DAG runs through a system's CLI, the same for miniflow and Airflow.

Both CLIs share the commands used here (``dags unpause``, ``dags trigger -r``,
``dags list-runs -d ... -o json``, ``tasks states-for-dag-run ... -o json``) and both
metadata DBs have ``dag_run(dag_id, run_id, state)`` and ``task_instance`` tables, so
a workload written against these helpers runs on either system.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from benchmarks.harness import BenchmarkError, read_json
from benchmarks.homes import Home
from benchmarks.processes import wait_for

__all__ = [
    "TaskTimes",
    "check_run",
    "register_and_unpause",
    "run_span",
    "run_state",
    "task_times",
    "trigger",
    "wait_for_run",
]

FINISHED = ("success", "failed")


def parse_time(value: str | None) -> dt.datetime | None:
    """An ISO 8601 time as either CLI prints it (``T`` or a space; offset or UTC)."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def register_and_unpause(home: Home, dag_ids: list[str]) -> None:
    """Record the DAG files in the metadata DB and unpause `dag_ids`, before any scheduler."""
    if home.system.register_dags:
        home.run(*home.system.register_dags)
    for dag_id in dag_ids:
        home.run("dags", "unpause", dag_id)


def trigger(home: Home, dag_id: str, run_id: str) -> None:
    home.run("dags", "trigger", dag_id, "-r", run_id)


def run_state(home: Home, dag_id: str, run_id: str) -> str | None:
    rows = home.query(f"SELECT state FROM dag_run WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'")
    return str(rows[0][0]) if rows else None


def wait_for_run(home: Home, dag_id: str, run_id: str, timeout: float, interval: float = 0.05) -> None:
    """Poll the DB until the run has finished; an error unless it succeeded."""
    wait_for(lambda: run_state(home, dag_id, run_id) in FINISHED, timeout,
             f"run {run_id} of {dag_id} on {home.system.name}", interval=interval)
    check_run(home, dag_id, run_id)


def check_run(home: Home, dag_id: str, run_id: str | None = None, runs: int = 1) -> None:
    """That `runs` runs of the DAG (or run `run_id`) succeeded, with every task instance."""
    where = f"dag_id = '{dag_id}'" + (f" AND run_id = '{run_id}'" if run_id else "")
    states = [str(r[0]) for r in home.query(f"SELECT state FROM dag_run WHERE {where}")]
    if states.count("success") != runs:
        raise BenchmarkError(f"{home.system.name}: {dag_id} has runs {states}, expected {runs} successful")
    bad = home.query(f"SELECT task_id, state FROM task_instance WHERE {where} AND state != 'success'")
    if bad:
        raise BenchmarkError(f"{home.system.name}: {dag_id} has task instances not successful: {bad[:5]}")


@dataclass(frozen=True)
class TaskTimes:
    task_id: str
    start: dt.datetime
    end: dt.datetime


def task_times(home: Home, dag_id: str, run_id: str) -> dict[str, TaskTimes]:
    """Each task instance's start and end, as ``tasks states-for-dag-run`` reports them,
    by task id (``task[i]`` for instance i of a mapped task)."""
    _, out = home.run("tasks", "states-for-dag-run", dag_id, run_id, "-o", "json")
    times = {}
    for row in read_json(out, f"{home.system.name} tasks states-for-dag-run"):
        start, end = parse_time(row["start_date"]), parse_time(row["end_date"])
        if start is None or end is None:
            raise BenchmarkError(f"{home.system.name}: task {row['task_id']} of {run_id} has no start or end")
        index = row.get("map_index", -1)
        name = row["task_id"] if index is None or int(index) < 0 else f"{row['task_id']}[{index}]"
        times[name] = TaskTimes(name, start, end)
    return times


def run_span(home: Home, dag_id: str, run_id: str) -> float:
    """Seconds from the run's creation (``queued_at``, set when it is triggered) to its end."""
    rows = home.query(f"SELECT queued_at, end_date FROM dag_run WHERE dag_id = '{dag_id}' AND run_id = '{run_id}'")
    queued, end = (parse_time(str(v)) if v is not None else None for v in rows[0]) if rows else (None, None)
    if queued is None or end is None:
        raise BenchmarkError(f"{home.system.name}: run {run_id} of {dag_id} lacks queued_at or end_date: {rows}")
    return (end - queued).total_seconds()
