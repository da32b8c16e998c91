"""DAGs that drive and wait on DAGs: LatestOnlyOperator, TriggerDagRunOperator,
ExternalTaskSensor and ExternalTaskMarker, run through an in-process scheduler with
the sequential executor and checked against Airflow 2.10's behaviour."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from conftest import InProcessScheduler

from miniflow import DAG
from miniflow.clearing import external_clears
from miniflow.dag_test import run_dag_test
from miniflow.decorators import task
from miniflow.exceptions import AirflowException
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.latest_only import LatestOnlyOperator
from miniflow.operators.python import PythonOperator
from miniflow.operators.trigger_dagrun import TriggerDagRunOperator
from miniflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from miniflow.task_group import TaskGroup
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.triggering import trigger_dag_run

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DAY = dt.datetime(2024, 1, 2, tzinfo=UTC)


def boom() -> None:
    raise RuntimeError("boom")


class World(InProcessScheduler):
    def states(self, dag_id: str, when: dt.datetime = DAY) -> dict[str, Any]:
        return super().states(dag_id, when)


# --- LatestOnlyOperator ------------------------------------------------------------------------


def latest_only_dag(dag_id: str) -> DAG:
    with DAG(dag_id, start_date=START, schedule=dt.timedelta(hours=4), catchup=False) as dag:
        LatestOnlyOperator(task_id="latest_only") >> EmptyOperator(task_id="after")
    return dag


def test_latest_only_skips_a_past_interval_and_runs_the_latest(store: Any) -> None:
    dag = latest_only_dag("latest_past")
    LatestOnlyOperator.clock = staticmethod(lambda: DAY + dt.timedelta(hours=30))  # type: ignore[assignment]
    try:
        result = run_dag_test(dag, DAY, store=store)  # dags test runs are not external in Airflow 2.10
        assert {t.task_id: t.state for t in result.task_instances} == {"latest_only": "success", "after": "skipped"}
        # the run whose next interval holds now: proceed
        result = run_dag_test(dag, DAY + dt.timedelta(hours=26), store=store)  # next interval: (26 h, 30 h]
        assert {t.task_id: t.state for t in result.task_instances} == {"latest_only": "success", "after": "success"}
    finally:
        del LatestOnlyOperator.clock


def test_latest_only_never_skips_an_externally_triggered_run(store: Any) -> None:
    world = World(store, latest_only_dag("latest_triggered"))
    trigger_dag_run(store, "latest_triggered", logical_date=DAY)
    world.passes()
    assert world.states("latest_triggered") == {"latest_only": "success", "after": "success"}


# --- TriggerDagRunOperator -----------------------------------------------------------------------


def target_dag(dag_id: str = "target", fail: bool = False) -> DAG:
    def echo(dag_run: Any) -> Any:
        if fail:
            raise RuntimeError("the target fails")
        return dag_run.conf

    with DAG(dag_id, start_date=START, schedule=None) as dag:
        PythonOperator(task_id="echo", python_callable=echo)
    return dag


def test_trigger_creates_the_run_with_templated_conf_and_pushes_its_id(store: Any) -> None:
    with DAG("controller", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target", conf={"day": "{{ ds }}"},
                              logical_date="{{ logical_date.isoformat() }}")
    world = World(store, controller, target_dag())
    trigger_dag_run(store, "controller", logical_date=DAY)
    world.passes()
    assert world.states("controller") == {"trigger": "success"}
    run = store.find_run("target", DAY)
    assert run.conf == {"day": "2024-01-02"} and run.external_trigger and run.run_type == "manual"
    ctl = store.find_run("controller", DAY)
    pushed = {r.key: r.value for r in store.xcom_entries("controller", ctl.run_id, "trigger")}
    assert pushed["trigger_run_id"] == f'"{run.run_id}"'
    assert world.states("target") == {"echo": "success"}


@pytest.mark.parametrize(("options", "expected"), [
    ({}, "failed"),  # the run exists already
    ({"skip_when_already_exists": True}, "skipped"),
    ({"reset_dag_run": True}, "success"),
])
def test_an_existing_run_fails_skips_or_is_reset(store: Any, options: dict[str, Any], expected: str) -> None:
    with DAG("ctl", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target", logical_date=DAY, **options)
    world = World(store, controller, target_dag())
    trigger_dag_run(store, "target", logical_date=DAY)
    world.passes()
    assert world.states("target") == {"echo": "success"}
    trigger_dag_run(store, "ctl", logical_date=DAY)
    world.passes()
    assert world.states("ctl") == {"trigger": expected}
    if options.get("reset_dag_run"):
        key = TaskInstanceKey("target", store.find_run("target", DAY).run_id, "echo")
        assert [h.try_number for h in store.ti_history(key)] == [1, 2]


def test_wait_for_completion_fails_when_the_target_fails(store: Any) -> None:
    import threading

    with DAG("waiter", start_date=START, schedule=None) as controller:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="bad_target", logical_date=DAY,
                              wait_for_completion=True, poke_interval=0.05)
    target = target_dag("bad_target", fail=True)
    world = World(store, controller, target)
    # the target's run is driven by a second scheduler thread while the trigger waits
    other = World(store, target)
    stop = threading.Event()

    def drive() -> None:
        while not stop.is_set():
            other.passes(1)
            stop.wait(0.05)

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    try:
        trigger_dag_run(store, "waiter", logical_date=DAY)
        world.passes()
    finally:
        stop.set()
        thread.join(5)
    assert world.states("bad_target") == {"echo": "failed"}
    assert world.states("waiter") == {"trigger": "failed"}


def test_trigger_dag_from_task_code_as_airflow_api_common_trigger_dag(store: Any) -> None:
    """``airflow.api.common.trigger_dag.trigger_dag`` in a task: a queued manual run of
    the other DAG with its conf; the same run id again, or an unknown DAG, raise."""
    from miniflow.airflow_compat import install
    from miniflow.exceptions import DagNotFound, DagRunAlreadyExists

    install()
    from airflow.api.common.trigger_dag import trigger_dag  # type: ignore[import-not-found]

    raised: list[str] = []

    def fire(run_id: str) -> None:
        run = trigger_dag("target", run_id=f"child_{run_id}", conf='{"x": 1}',
                          execution_date=DAY + dt.timedelta(hours=1, microseconds=5))
        assert run is not None and run.run_id == f"child_{run_id}"
        for call in (lambda: trigger_dag("target", run_id=f"child_{run_id}"), lambda: trigger_dag("nope")):
            try:
                call()
            except (DagRunAlreadyExists, DagNotFound) as exc:
                raised.append(type(exc).__name__)

    with DAG("target", start_date=START, schedule=None) as target:
        EmptyOperator(task_id="t")
    with DAG("firing", start_date=START, schedule=None) as firing:
        PythonOperator(task_id="fire", python_callable=fire, op_kwargs={"run_id": "{{ run_id }}"})
    World(store, target, firing)
    result = run_dag_test(firing, DAY, store=store)
    assert [t.state for t in result.task_instances] == ["success"]
    assert raised == ["DagRunAlreadyExists", "DagNotFoundError"]
    run = store.get_run("target", f"child_{result.run_id}")
    assert (run.state, run.conf, run.logical_date, run.external_trigger) == (
        "queued", {"x": 1}, DAY + dt.timedelta(hours=1), True)


# --- ExternalTaskSensor ------------------------------------------------------------------------


def upstream_dag(fn: Any = None) -> DAG:
    with DAG("upstream", start_date=START, schedule=None) as dag:
        PythonOperator(task_id="produce", python_callable=fn or (lambda: None))
        EmptyOperator(task_id="other")
    return dag


def sensor_dag(**kwargs: Any) -> DAG:
    with DAG("downstream", start_date=START, schedule=None) as dag:
        ExternalTaskSensor(task_id="wait", external_dag_id="upstream", poke_interval=0, timeout=0, **kwargs)
    return dag


@pytest.mark.parametrize(("upstream_fn", "kwargs", "expected"), [
    (None, {"external_task_id": "produce"}, "success"),
    (None, {"external_task_ids": ["produce", "other"]}, "success"),
    (None, {}, "success"),  # the whole run
    (boom, {"external_task_id": "produce", "failed_states": ["failed"]}, "failed"),
    (boom, {"external_task_id": "produce", "skipped_states": ["failed"]}, "skipped"),
    (boom, {"external_task_id": "produce", "failed_states": ["failed"], "soft_fail": True}, "skipped"),
    (boom, {"external_task_id": "produce"}, "failed"),  # no failed_states: waits until its timeout
    (None, {"external_task_id": "produce", "execution_delta": dt.timedelta(days=1)}, "failed"),  # no run then
])
def test_external_task_sensor(store: Any, upstream_fn: Any, kwargs: dict[str, Any], expected: str) -> None:
    world = World(store, upstream_dag(upstream_fn), sensor_dag(**kwargs))
    trigger_dag_run(store, "upstream", logical_date=DAY)
    world.passes()
    trigger_dag_run(store, "downstream", logical_date=DAY)
    world.passes()
    assert world.states("downstream") == {"wait": expected}


def grouped_upstream_dag(fail_item: int | None) -> DAG:
    """A task group ``load`` holding a task mapped over three items (`fail_item` raises)
    and a nested group's task."""
    def load_item(item: int) -> None:
        if item == fail_item:
            raise RuntimeError(f"item {item}")

    with DAG("upstream", start_date=START, schedule=None) as dag, TaskGroup("load"):
        task(load_item).expand(item=[1, 2, 3])
        with TaskGroup("inner"):
            EmptyOperator(task_id="check")
    return dag


@pytest.mark.parametrize(("fail_item", "kwargs", "expected"), [
    (None, {}, "success"),
    (2, {}, "failed"),  # one map index failed, none in failed_states: never done, so its timeout
    (2, {"failed_states": ["failed"]}, "failed"),
    (2, {"skipped_states": ["failed"]}, "skipped"),
])
def test_external_task_sensor_waits_for_every_map_index_of_a_task_group(
        store: Any, fail_item: int | None, kwargs: dict[str, Any], expected: str) -> None:
    world = World(store, grouped_upstream_dag(fail_item), sensor_dag(external_task_group_id="load", **kwargs))
    trigger_dag_run(store, "upstream", logical_date=DAY)
    world.passes()
    trigger_dag_run(store, "downstream", logical_date=DAY)
    world.passes()
    assert world.states("downstream") == {"wait": expected}


def test_external_task_sensor_on_a_task_group_the_dag_lacks(store: Any) -> None:
    """As in Airflow: it waits (for the group to appear, or its timeout); with
    check_existence it fails at once, naming the group."""
    World(store, upstream_dag())
    trigger_dag_run(store, "upstream", logical_date=DAY)

    class Try:
        def __init__(self) -> None:
            self.store = store

    context = {"ti": Try(), "logical_date": DAY}
    waiting = ExternalTaskSensor(task_id="w", external_dag_id="upstream", external_task_group_id="nope")
    assert waiting.poke(context) is False
    checking = ExternalTaskSensor(task_id="c", external_dag_id="upstream", external_task_group_id="nope",
                                  check_existence=True)
    with pytest.raises(AirflowException, match="task group 'nope' does not exist in DAG 'upstream'"):
        checking.poke(context)


# --- ExternalTaskMarker ------------------------------------------------------------------------


def test_clearing_a_marker_clears_the_child_task_and_its_downstream(store: Any) -> None:
    with DAG("parent", start_date=START, schedule=None) as parent:
        EmptyOperator(task_id="work") >> ExternalTaskMarker(
            task_id="marker", external_dag_id="child", external_task_id="wait")
    with DAG("child", start_date=START, schedule=None) as child:
        EmptyOperator(task_id="wait") >> EmptyOperator(task_id="after")
        EmptyOperator(task_id="untouched")
    world = World(store, parent, child)
    for dag_id in ("parent", "child"):
        trigger_dag_run(store, dag_id, logical_date=DAY)
    world.passes()
    run = store.find_run("parent", DAY)
    items = external_clears(store, "parent", run.run_id, ["work", "marker"])
    child_run = store.find_run("child", DAY).run_id
    assert sorted(items) == [("child", child_run, "after", 0), ("child", child_run, "wait", 0)]
