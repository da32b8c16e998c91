"""Task groups (`miniflow.task_group`, ``@task_group``) and edge labels
(`miniflow.edge_label`): prefixed ids, edges to a group's ends, mapped task groups run
whole through `run_dag_test` and checked against Airflow 2.10's documented results.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow import DAG, task
from miniflow.baseoperator import chain, chain_linear
from miniflow.dag_test import run_dag_test
from miniflow.decorators import task_group
from miniflow.edge_label import Label
from miniflow.exceptions import DagDefinitionError, DuplicateTaskIdError
from miniflow.operators.empty import EmptyOperator
from miniflow.serialization import serialize_dag
from miniflow.task_group import TaskGroup
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


def edges(dag: DAG) -> set[tuple[str, str]]:
    return set(dag.edges())


# --- authoring -----------------------------------------------------------------------------


def test_task_group_decorator_prefixes_ids_and_wires_its_return_value() -> None:
    with new_dag("tg") as dag:
        @task
        def extract() -> int:
            return 1

        @task
        def double(x: int) -> int:
            return 2 * x

        @task_group
        def transform(value: Any) -> Any:
            """Doubles twice."""
            return double(double(value))

        @task
        def load(x: int) -> None:
            return None

        load(transform(extract()))
        transform(extract())  # a second call: the group and its tasks get __1
    assert set(dag.task_dict) == {"extract", "extract__1", "transform.double", "transform.double__1",
                                  "transform__1.double", "transform__1.double__1", "load"}
    assert ("extract", "transform.double") in edges(dag)
    assert ("transform.double__1", "load") in edges(dag)
    assert dag.task_group_dict["transform"].tooltip == "Doubles twice."


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["g", "g__1", "g__2", "g__7", "g__2__1", "g__x", "gg__3"]), min_size=1, max_size=25))
def test_a_colliding_group_gets_the_id_airflow_gives(group_ids: list[str]) -> None:
    """``add_suffix_on_collision`` (what a repeated ``@task_group`` call uses) names the
    group as Airflow 2.10 does: one above the highest ``<id>__<n>`` of a group, where
    ``<id>`` is the group id without its own ``__<n>``."""
    import re

    def airflow_would_give(used: set[str], group_id: str) -> str:
        if group_id not in used:
            return group_id
        base = re.split(r"__\d+$", group_id)[0]
        found = sorted(int(re.split(r"^.+__", u)[1]) for u in used if re.match(rf"^{base}__\d+$", u))
        return f"{base}__{found[-1] + 1}" if found else f"{group_id}__1"

    with DAG("groups", start_date=START) as dag:
        for group_id in group_ids:
            expected = airflow_would_give(set(dag.task_group_dict), group_id)
            assert TaskGroup(group_id, add_suffix_on_collision=True).group_id == expected, (
                group_ids, sorted(dag.task_group_dict))


def test_a_group_returning_nothing_is_the_group_itself_for_dependencies() -> None:
    with new_dag("tg_none") as dag:
        start, end = EmptyOperator(task_id="start"), EmptyOperator(task_id="end")

        @task_group(group_id="section", default_args={"retries": 3})
        def section() -> None:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            a >> b

        start >> section() >> end
    assert edges(dag) == {("start", "section.a"), ("section.a", "section.b"), ("section.b", "end")}
    assert dag.task_dict["section.a"].retries == 3


def test_task_group_argument_puts_a_task_in_a_group_and_nested_groups_prefix() -> None:
    with new_dag("explicit") as dag:
        outer = TaskGroup("outer")
        with TaskGroup("inner", parent_group=outer) as inner:
            EmptyOperator(task_id="deep")
        EmptyOperator(task_id="placed", task_group=outer)
    assert set(dag.task_dict) == {"outer.inner.deep", "outer.placed"}
    assert dag.task_dict["outer.placed"].task_group is outer
    assert inner.parent is outer and outer.task_ids == ["outer.inner.deep", "outer.placed"]
    data = serialize_dag(dag)
    assert {t["task_id"]: t["task_group"] for t in data["tasks"]} == {
        "outer.inner.deep": "outer.inner", "outer.placed": "outer"}
    assert [(g["group_id"], g["parent"]) for g in data["task_groups"]] == [("outer", None), ("outer.inner", "outer")]


def test_a_duplicate_group_id_is_an_error() -> None:
    with new_dag("dup"):
        TaskGroup("g")
        with pytest.raises(DuplicateTaskIdError, match="group_id 'g' is already used"):
            TaskGroup("g")


def test_a_task_and_a_group_may_not_share_an_id() -> None:
    """Either order: the UI keys rows and nodes by id, as Airflow refuses it too."""
    with new_dag("shared"):
        EmptyOperator(task_id="t")
        with pytest.raises(DuplicateTaskIdError, match="group_id 't' is already used"):
            TaskGroup("t")
        TaskGroup("g")
        with pytest.raises(DuplicateTaskIdError, match="task id 'g' is a task group's id"):
            EmptyOperator(task_id="g")


def test_labels_name_edges_in_chains_lists_and_groups() -> None:
    with new_dag("labels") as dag:
        check, save, describe, report = (EmptyOperator(task_id=t) for t in ("check", "save", "describe", "report"))
        check >> Label("no errors") >> save >> report
        check >> Label("errors found") >> describe >> report
        a, b, x, y = (EmptyOperator(task_id=t) for t in ("a", "b", "x", "y"))
        chain(a, [Label("one"), Label("two")], [x, y])
        b << Label("back") << x
    assert dag.get_edge_info("check", "save") == {"label": "no errors"}
    assert dag.get_edge_info("check", "describe") == {"label": "errors found"}
    assert dag.get_edge_info("save", "report") == {}
    assert ("a", "x") in edges(dag) and ("a", "y") in edges(dag) and ("x", "b") in edges(dag)
    labels = {(e["from"], e["to"]): e["label"] for e in serialize_dag(dag)["edge_labels"]}
    assert labels == {("check", "save"): "no errors", ("check", "describe"): "errors found",
                      ("a", "x"): "one", ("a", "y"): "two", ("x", "b"): "back"}


def test_chain_linear_links_every_task_to_every_task_of_the_next_element() -> None:
    with new_dag("linear") as dag:
        t = {n: EmptyOperator(task_id=n) for n in "abcdef"}
        chain_linear(t["a"], [t["b"], t["c"]], [t["d"], t["e"]], t["f"])
    assert edges(dag) == {("a", "b"), ("a", "c"), ("b", "d"), ("b", "e"), ("c", "d"), ("c", "e"),
                          ("d", "f"), ("e", "f")}
    with pytest.raises(DagDefinitionError, match="at least two"):
        chain_linear(t["a"])


# --- mapped task groups ------------------------------------------------------------------------


def test_a_mapped_task_group_runs_each_item_through_its_own_chain(store: Any) -> None:
    with new_dag("mapped_group") as dag:
        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task
        def check(value: int) -> int:
            if value == 12:
                raise ValueError("twelve is refused")
            return value

        @task_group
        def pipeline(x: int, y: int) -> Any:
            return check(add(x, y))

        @task(trigger_rule="all_done")
        def total(values: list[int]) -> int:
            return sum(values)

        total(pipeline.partial(y=10).expand(x=numbers()))
    state, states = run(dag, store)
    assert states == {"numbers": "success", "pipeline.add[0]": "success", "pipeline.add[1]": "success",
                      "pipeline.add[2]": "success", "pipeline.check[0]": "success",
                      "pipeline.check[1]": "failed", "pipeline.check[2]": "success", "total": "success"}
    assert [xcom(store, dag, "pipeline.check", i) for i in (0, 2)] == [11, 13]
    assert xcom(store, dag, "total") == 24
    assert state == "success"


def test_inside_a_mapped_group_a_failure_stops_only_its_own_item(store: Any) -> None:
    with new_dag("mapped_group_fail") as dag:
        @task
        def first(x: int) -> int:
            if x == 2:
                raise RuntimeError("item 2 fails")
            return x

        @task
        def second(x: int) -> int:
            return x * 100

        @task_group
        def item(x: int) -> Any:
            return second(first(x))

        item.expand_kwargs([{"x": 1}, {"x": 2}])
    state, states = run(dag, store)
    assert states == {"item.first[0]": "success", "item.first[1]": "failed",
                      "item.second[0]": "success", "item.second[1]": "upstream_failed"}
    assert xcom(store, dag, "item.second", 0) == 100
    assert state == "failed"


def test_a_mapped_group_over_nothing_skips_all_its_tasks(store: Any) -> None:
    with new_dag("mapped_group_empty") as dag:
        @task
        def nothing() -> list[int]:
            return []

        @task
        def one(x: int) -> int:
            return x

        @task_group
        def group(x: int) -> Any:
            return one(one(x))

        group.expand(x=nothing())
    state, states = run(dag, store)
    assert states == {"nothing": "success", "group.one": "skipped", "group.one__1": "skipped"}
    assert state == "success"


def test_mapping_inside_a_mapped_group_is_refused_clearly() -> None:
    with new_dag("nested_map"):
        @task
        def one(x: int) -> int:
            return x

        @task_group
        def group(x: int) -> Any:
            return one.expand(x=[x])

        with pytest.raises(DagDefinitionError, match="inside a mapped task group is not supported"):
            group.expand(x=[1, 2])
