"""Setup and teardown tasks (`miniflow.setup_teardown`), run whole through `run_dag_test`
and checked against Airflow 2.10's documented behaviour: a teardown runs when its setup
ran, even if the work failed; its own failure does not fail the run unless asked; work
needs its setups to succeed; clearing work clears its setups and teardowns.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from miniflow import DAG, task
from miniflow.dag_test import run_dag_test
from miniflow.decorators import setup, task_group, teardown
from miniflow.exceptions import DagDefinitionError, TaskSkipped
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator
from miniflow.serialization import serialize_dag
from miniflow.setup_teardown import TaskGraph, clear_scope
from miniflow.trigger_rules import TriggerRule

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)


def new_dag(dag_id: str) -> DAG:
    return DAG(dag_id, start_date=START, schedule=None)


def run(dag: DAG, store: Any) -> tuple[str, dict[str, str | None]]:
    result = run_dag_test(dag, DATE, store=store)
    return str(result.state), {ti.task_id: ti.state for ti in result.task_instances}


def ok() -> str:
    return "ok"


def boom() -> None:
    raise RuntimeError("boom")


def skip() -> None:
    raise TaskSkipped("nothing to do")


def pipeline(dag_id: str, setup_fn: Any = ok, work_fn: Any = ok, teardown_fn: Any = ok,
             fail_dagrun: bool = False) -> DAG:
    """create >> work >> delete, delete being create's teardown."""
    with new_dag(dag_id) as dag:
        create = PythonOperator(task_id="create", python_callable=setup_fn)
        work = PythonOperator(task_id="work", python_callable=work_fn)
        delete = PythonOperator(task_id="delete", python_callable=teardown_fn)
        create >> work >> delete.as_teardown(setups=create, on_failure_fail_dagrun=fail_dagrun)
    return dag


@pytest.mark.parametrize(("fns", "fail_dagrun", "expected", "run_state"), [
    ({}, False, {"create": "success", "work": "success", "delete": "success"}, "success"),
    # the work failed: the teardown still cleans up, the run fails for the work
    ({"work_fn": boom}, False, {"create": "success", "work": "failed", "delete": "success"}, "failed"),
    # the setup failed: nothing ran, nothing to tear down
    ({"setup_fn": boom}, False, {"create": "failed", "work": "upstream_failed", "delete": "upstream_failed"},
     "failed"),
    # the setup skipped: so do the work and the teardown
    ({"setup_fn": skip}, False, {"create": "skipped", "work": "skipped", "delete": "skipped"}, "success"),
    # a failed teardown does not fail the run...
    ({"teardown_fn": boom}, False, {"create": "success", "work": "success", "delete": "failed"}, "success"),
    # ... unless on_failure_fail_dagrun
    ({"teardown_fn": boom}, True, {"create": "success", "work": "success", "delete": "failed"}, "failed"),
])
def test_teardown_outcomes_follow_airflow(store: Any, fns: dict[str, Any], fail_dagrun: bool,
                                          expected: dict[str, str], run_state: str) -> None:
    dag = pipeline(f"st_{len(fns)}_{fail_dagrun}_{'_'.join(f.__name__ for f in fns.values())}", **fns,
                   fail_dagrun=fail_dagrun)
    assert dag.task_dict["delete"].trigger_rule is TriggerRule.ALL_DONE_SETUP_SUCCESS
    state, states = run(dag, store)
    assert states == expected
    assert state == run_state


def test_work_needs_its_setup_even_when_not_directly_downstream(store: Any) -> None:
    with new_dag("indirect") as dag:
        create = PythonOperator(task_id="create", python_callable=boom)
        prepare = EmptyOperator(task_id="prepare", trigger_rule="all_done")
        work = EmptyOperator(task_id="work")
        delete = EmptyOperator(task_id="delete")
        create >> prepare >> work >> delete.as_teardown(setups=create)
    state, states = run(dag, store)
    # prepare's all_done lets it run; work, two steps after the failed setup, may not
    assert states == {"create": "failed", "prepare": "success", "work": "upstream_failed",
                      "delete": "upstream_failed"}
    assert state == "failed"


def test_taskflow_decorators_and_context_manager_wire_the_work_between(store: Any) -> None:
    with new_dag("taskflow_st") as dag:
        @setup
        def make_cluster() -> str:
            return "cluster-1"

        @teardown
        def drop_cluster(cluster: str) -> None:
            return None

        @task
        def step_one() -> int:
            return 1

        @task
        def step_two(x: int) -> int:
            return x + 1

        with drop_cluster(make_cluster()):
            step_two(step_one())
    assert set(dag.edges()) == {("make_cluster", "drop_cluster"), ("make_cluster", "step_one"),
                                ("step_one", "step_two"), ("step_two", "drop_cluster")}
    assert dag.task_dict["make_cluster"].is_setup and dag.task_dict["drop_cluster"].is_teardown
    state, states = run(dag, store)
    assert state == "success" and set(states.values()) == {"success"}


def test_nested_context_managers_order_setups_and_teardowns() -> None:
    with new_dag("nested_st") as dag:
        s1, t1, s2, t2 = (EmptyOperator(task_id=n) for n in ("s1", "t1", "s2", "t2"))
        t1.as_teardown(setups=s1)
        t2.as_teardown(setups=s2)
        with s1 >> t1:
            with s2 >> t2:
                EmptyOperator(task_id="work")
    assert {("s1", "s2"), ("t2", "t1"), ("s2", "work"), ("work", "t2")} <= set(dag.edges())


def test_only_setups_and_teardowns_are_context_managers() -> None:
    with new_dag("bad_ctx"):
        plain = EmptyOperator(task_id="plain")
        with pytest.raises(DagDefinitionError, match="only setup and teardown tasks"):
            with plain:
                pass

        with pytest.raises(DagDefinitionError, match="trigger rule cannot be set"):
            teardown(task(ok).override(trigger_rule="all_success"))()


def test_task_groups_end_at_the_work_before_their_teardowns() -> None:
    with new_dag("group_st") as dag:
        @task_group
        def section() -> None:
            make = EmptyOperator(task_id="make").as_setup()
            use = EmptyOperator(task_id="use")
            drop = EmptyOperator(task_id="drop")
            make >> use >> drop.as_teardown(setups=make)

        section() >> EmptyOperator(task_id="after")
    assert ("section.use", "after") in set(dag.edges())
    assert ("section.drop", "after") not in set(dag.edges())


def test_clearing_work_clears_its_setups_and_teardowns_in_the_dag_and_its_serialized_form() -> None:
    with new_dag("clear_st") as dag:
        create, other = EmptyOperator(task_id="create"), EmptyOperator(task_id="other")
        work, after = EmptyOperator(task_id="work"), EmptyOperator(task_id="after")
        delete = EmptyOperator(task_id="delete")
        other >> create >> work >> delete.as_teardown(setups=create)
        work >> after
    assert dag.partial_subset(["work"]) == {"work", "create", "delete"}
    assert dag.partial_subset(["create"]) == {"create", "delete"}
    assert dag.partial_subset(["work"], include_downstream=True) == {"work", "create", "delete", "after"}
    assert dag.partial_subset(["work"], include_upstream=True) == {"work", "create", "delete", "other"}
    graph = TaskGraph.of_serialized(serialize_dag(dag)["tasks"])
    assert clear_scope(graph, ["work"]) == {"work", "create", "delete"}
