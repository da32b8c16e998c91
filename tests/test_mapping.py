"""Dynamic task mapping (`miniflow.mapping`), run whole through `run_dag_test` on SQLite and
PostgreSQL and checked against Airflow 2.10's documented results: one task instance per
item, each with its own XCom, tries and state; the reduce step gets every value in
map-index order; an empty expansion skips; a value that cannot be mapped over fails
the task that returned it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from miniflow import DAG, task
from miniflow.dag_test import run_dag_test
from miniflow.exceptions import DagDefinitionError
from miniflow.operators.bash import BashOperator
from miniflow.operators.python import PythonOperator
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.xcom import deserialize_value

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)


def new_dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(dag_id, start_date=START, schedule=None, **kwargs)


def run(dag: DAG, store: Any) -> tuple[str, dict[str, str | None]]:
    """The run's state and each task instance's, named ``task`` or ``task[i]``."""
    result = run_dag_test(dag, DATE, store=store)
    states = {(f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id): ti.state
              for ti in result.task_instances}
    return str(result.state), states


def xcom(store: Any, dag: DAG, task_id: str, map_index: int = -1) -> Any:
    run_id = store.find_run(dag.dag_id, DATE).run_id
    rows = store.xcom_pull(dag.dag_id, run_id, [task_id], "return_value", [map_index])
    return deserialize_value(rows[0].value) if rows else None


def test_taskflow_maps_over_an_upstream_list_and_reduces(store: Any) -> None:
    with new_dag("reduce") as dag:
        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(add.partial(y=10).expand(x=numbers()))
    state, states = run(dag, store)
    assert state == "success"
    assert states == {"numbers": "success", "add[0]": "success", "add[1]": "success", "add[2]": "success",
                      "total": "success"}
    assert [xcom(store, dag, "add", i) for i in range(3)] == [11, 12, 13]
    assert xcom(store, dag, "total") == 36


def test_several_arguments_map_as_a_cross_product_last_fastest(store: Any) -> None:
    with new_dag("cross") as dag:
        @task
        def pair(x: int, y: str) -> str:
            return f"{x}{y}"

        @task
        def letters() -> list[str]:
            return ["a", "b"]

        pair.expand(x=[1, 2, 3], y=letters())
    state, _ = run(dag, store)
    assert state == "success"
    assert [xcom(store, dag, "pair", i) for i in range(6)] == ["1a", "1b", "2a", "2b", "3a", "3b"]


def test_a_function_taking_kwargs_maps_over_any_argument_name(store: Any) -> None:
    with new_dag("varkw") as dag:
        @task
        def show(**kwargs: Any) -> str:
            return f"{kwargs['batch']}@{kwargs['ds']}"  # the mapped value beside the context

        show.expand(batch=[1, 2])
    state, _ = run(dag, store)
    assert state == "success"
    assert [xcom(store, dag, "show", i) for i in range(2)] == ["1@2024-01-02", "2@2024-01-02"]


def test_classic_operators_partial_and_expand_kwargs(store: Any) -> None:
    with new_dag("classic", default_args={"retries": 0}) as dag:
        echo = BashOperator.partial(task_id="echo").expand(bash_command=["echo one", "echo two"])
        kw = PythonOperator.partial(task_id="kw", python_callable=lambda a, b: a * b).expand_kwargs(
            [{"op_args": [2, 3]}, {"op_args": [4, 5]}])
        # as in Airflow, expand() on a classic operator gives the task itself, its values as .output
        echo >> kw
        PythonOperator(task_id="joined", python_callable=lambda words: " ".join(words), op_args=[echo.output])
    state, states = run(dag, store)
    assert state == "success"
    assert [xcom(store, dag, "echo", i) for i in range(2)] == ["one", "two"]
    assert [xcom(store, dag, "kw", i) for i in range(2)] == [6, 20]
    assert xcom(store, dag, "joined") == "one two"
    assert set(states) == {"echo[0]", "echo[1]", "kw[0]", "kw[1]", "joined"}


def test_map_zip_a_dict_and_mapping_over_a_mapped_task(store: Any) -> None:
    with new_dag("derived") as dag:
        @task
        def words() -> list[str]:
            return ["x", "yy", "zzz"]

        @task
        def lengths() -> dict[str, int]:
            return {"a": 1, "b": 2}

        @task
        def show(value: Any) -> str:
            return str(value)

        @task
        def double(n: int) -> int:
            return 2 * n

        @task
        def plus_one(n: int) -> int:
            return n + 1

        show.override(task_id="mapped_fn").expand(value=words().map(len))
        show.override(task_id="zipped").expand(value=words().zip(lengths()))
        show.override(task_id="items").expand(value=lengths())
        plus_one.expand(n=double.expand(n=[1, 2, 3]))
    state, _ = run(dag, store)
    assert state == "success"
    assert [xcom(store, dag, "mapped_fn", i) for i in range(3)] == ["1", "2", "3"]
    assert [xcom(store, dag, "zipped", i) for i in range(2)] == ["('x', ('a', 1))", "('yy', ('b', 2))"]
    assert [xcom(store, dag, "items", i) for i in range(2)] == ["('a', 1)", "('b', 2)"]
    assert [xcom(store, dag, "plus_one", i) for i in range(3)] == [3, 5, 7]


def test_an_empty_expansion_skips_the_task_and_what_follows(store: Any) -> None:
    with new_dag("empty") as dag:
        @task
        def nothing() -> list[int]:
            return []

        @task
        def each(x: int) -> int:
            return x

        @task
        def after(values: list[int]) -> int:
            return len(values)

        after(each.expand(x=nothing()))
    state, states = run(dag, store)
    assert states == {"nothing": "success", "each": "skipped", "after": "skipped"}
    assert state == "success"


def test_a_value_that_cannot_be_mapped_fails_the_task_that_returned_it(store: Any) -> None:
    with new_dag("unmappable") as dag:
        @task
        def scalar() -> int:
            return 7

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=scalar())
    state, states = run(dag, store)
    assert states == {"scalar": "failed", "each": "upstream_failed"}
    assert state == "failed"


def test_more_items_than_max_map_length_fail_the_upstream(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from miniflow.config import reset_config

    monkeypatch.setenv("MINIFLOW__CORE__MAX_MAP_LENGTH", "3")
    reset_config()
    with new_dag("too_many") as dag:
        @task
        def many() -> list[int]:
            return [1, 2, 3, 4]

        @task
        def each(x: int) -> int:
            return x

        each.expand(x=many())
    _, states = run(dag, store)
    assert states["many"] == "failed"


def test_trigger_rules_count_every_map_index(store: Any) -> None:
    with new_dag("one_fails") as dag:
        @task
        def check(x: int) -> int:
            if x == 2:
                raise ValueError("two is bad")
            return x

        @task
        def after_all() -> str:
            return "ran"

        @task(trigger_rule="all_done")
        def cleanup() -> str:
            return "ran"

        mapped = check.expand(x=[1, 2, 3])
        mapped >> after_all()
        mapped >> cleanup()
    state, states = run(dag, store)
    assert states == {"check[0]": "success", "check[1]": "failed", "check[2]": "success",
                      "after_all": "upstream_failed", "cleanup": "success"}
    assert state == "failed"


def test_each_instance_retries_on_its_own_and_names_itself(store: Any) -> None:
    attempts: dict[int, int] = {}

    with new_dag("retry_each") as dag:
        @task(retries=1, retry_delay=0, map_index_template="{{ label }}")
        def flaky(x: int) -> int:
            from miniflow.operators.python import get_current_context

            get_current_context()["label"] = f"item {x}"  # as Airflow's docs name instances
            attempts[x] = attempts.get(x, 0) + 1
            if x == 1 and attempts[x] == 1:
                raise RuntimeError("first try of item 1 fails")
            return x

        flaky.expand(x=[0, 1])
    state, _ = run(dag, store)
    assert state == "success"
    run_id = store.find_run("retry_each", DATE).run_id
    rows = {r.map_index: r for r in store.mapped_tis("retry_each", run_id, "flaky")}
    assert (rows[0].try_number, rows[1].try_number) == (1, 2)
    assert (rows[0].rendered_map_index, rows[1].rendered_map_index) == ("item 0", "item 1")
    history = store.ti_history(TaskInstanceKey("retry_each", run_id, "flaky", 1))
    assert [h.state for h in history] == ["up_for_retry", "success"]


def test_mapping_mistakes_are_load_errors() -> None:
    with new_dag("bad"):
        with pytest.raises(DagDefinitionError, match="no mappable argument 'nope'"):
            BashOperator.partial(task_id="a").expand(nope=[1])
        with pytest.raises(DagDefinitionError, match="given to both"):
            BashOperator.partial(task_id="b", bash_command="x").expand(bash_command=["y"])
        with pytest.raises(DagDefinitionError, match="needs a task_id"):
            BashOperator.partial().expand(bash_command=["y"])
