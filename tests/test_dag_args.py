"""DAG arguments that act on runs: dagrun_timeout, max_consecutive_failed_dag_runs and
fail_stop, with an in-process scheduler (sequential executor) and Airflow 2.10's rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.exceptions import DagDefinitionError
from miniflow.executors.sequential import SequentialExecutor
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator
from miniflow.scheduler import Scheduler
from miniflow.serialization import parsed_dag, task_rows
from miniflow.state import DagRunState

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)


def boom() -> None:
    raise RuntimeError("boom")


def scheduler_for(store: Any, dag: DAG) -> Scheduler:
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    scheduler = Scheduler(store, SequentialExecutor({dag.dag_id: dag}, store))
    scheduler.dags = {dag.dag_id: dag}
    return scheduler


def test_a_run_past_its_dagrun_timeout_fails_and_skips_what_is_left(store: Any) -> None:
    reasons: list[str] = []
    with DAG("slow_run", start_date=START, schedule=None, dagrun_timeout=dt.timedelta(minutes=5),
             on_failure_callback=lambda context: reasons.append(context["reason"])) as dag:
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
    scheduler = scheduler_for(store, dag)
    store.create_run("slow_run", task_rows(dag), "r", DAY, None, "manual", state=DagRunState.RUNNING)
    store.set_ti_states("slow_run", "r", ["first"], "scheduled", [None])
    # started an hour ago: past the timeout
    from sqlalchemy import update

    from miniflow.db.tables import RUN_T

    with store.write() as conn:
        conn.execute(update(RUN_T).where(RUN_T.c.run_id == "r").values(
            start_date=dt.datetime.now(UTC) - dt.timedelta(hours=1)))
    assert scheduler.schedule_runs(include_backfill=True) == {"r": DagRunState.FAILED}
    assert {t.task_id: t.state for t in store.tis_of_run("slow_run", "r")} == {"first": "skipped",
                                                                                "second": "skipped"}
    assert reasons == ["timed_out"]


def test_a_run_within_its_timeout_goes_on(store: Any) -> None:
    with DAG("quick_run", start_date=START, schedule=None, dagrun_timeout=dt.timedelta(hours=1)) as dag:
        EmptyOperator(task_id="only")
    assert run_dag_test(dag, DAY, store=store).state == DagRunState.SUCCESS


def test_consecutive_failed_runs_pause_the_dag_and_say_why(store: Any) -> None:
    with DAG("flaky_dag", start_date=START, schedule=None, max_consecutive_failed_dag_runs=2) as dag:
        PythonOperator(task_id="fail", python_callable=boom)
    scheduler = scheduler_for(store, dag)
    for n, day in enumerate((DAY, DAY + dt.timedelta(days=1))):
        store.create_run("flaky_dag", task_rows(dag), f"r{n}", day, None, "manual", state=DagRunState.RUNNING)
        for _ in range(4):
            scheduler.schedule_runs(include_backfill=True)
            scheduler.queue_task_instances(include_backfill=True)
            scheduler.handle_events(scheduler.executor.events(0.0))
        paused = store.get_dag_row("flaky_dag").is_paused
        assert paused is (n == 1)  # not after one failure, after two in a row
    [event] = [e for e in store.events("flaky_dag") if e.event == "pause"]
    assert event.owner == "scheduler" and "last 2 DAG runs failed" in event.extra


def test_fail_stop_skips_the_rest_when_a_task_fails_but_runs_teardowns(store: Any) -> None:
    with DAG("stop_all", start_date=START, schedule=None, fail_stop=True) as dag:
        fail = PythonOperator(task_id="fail", python_callable=boom)
        other = EmptyOperator(task_id="other")
        after = EmptyOperator(task_id="after")
        cleanup = EmptyOperator(task_id="cleanup")
        fail >> after
        [fail, other] >> cleanup.as_teardown()
    states = {t.task_id: t.state for t in run_dag_test(dag, DAY, store=store).task_instances}
    # fail (the heavier root) runs first; other, queued beside it, never starts
    assert states == {"fail": "failed", "other": "skipped", "after": "skipped", "cleanup": "success"}


def test_fail_stop_needs_default_trigger_rules() -> None:
    with DAG("bad_stop", start_date=START, schedule=None, fail_stop=True) as dag:
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b", trigger_rule="all_done")
    with pytest.raises(DagDefinitionError, match="fail_stop=True needs the default trigger rule"):
        dag.validate()
