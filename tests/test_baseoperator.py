"""miniflow.baseoperator: default_args, dependency operators, chain(), weights, groups, XComArg."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from miniflow import DAG, TaskGroup
from miniflow.baseoperator import BaseOperator, chain, cross_downstream
from miniflow.decorators import dag, task
from miniflow.exceptions import DagDefinitionError, UnknownArgumentError
from miniflow.operators.bash import BashOperator
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator
from miniflow.sensors.filesystem import FileSensor
from miniflow.xcom import XComArg

START = dt.datetime(2024, 1, 1)


def _edges(d: DAG) -> set[tuple[str, str]]:
    return set(d.edges())


def _bash(task_id: str, **kwargs: Any) -> BashOperator:
    return BashOperator(task_id=task_id, bash_command=f"echo {task_id}", **kwargs)


class PlainOperator(BaseOperator):
    """A user operator that declares no __init__ of its own (like EmptyOperator)."""

    def execute(self, context: dict[str, Any]) -> None:
        return None


class GreetOperator(BaseOperator):
    """A user operator with its own argument."""

    def __init__(self, *, name: str = "world", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.name = name

    def execute(self, context: dict[str, Any]) -> str:
        return f"hello {self.name}"


# --- default_args ------------------------------------------------------------------


def test_default_args_reach_every_task_and_task_values_win() -> None:
    default_args = {"owner": "data-team", "retries": 3, "retry_delay": dt.timedelta(minutes=1)}
    with DAG("defaults", start_date=START, default_args=default_args):
        first = _bash("first")
        second = _bash("second", retries=0, owner="alice")
    assert (first.owner, first.retries, first.retry_delay) == ("data-team", 3, dt.timedelta(minutes=1))
    assert (second.owner, second.retries, second.retry_delay) == ("alice", 0, dt.timedelta(minutes=1))


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: EmptyOperator(task_id="t"), id="EmptyOperator"),
        pytest.param(lambda: PlainOperator(task_id="t"), id="subclass-without-init"),
        pytest.param(lambda: _bash("t"), id="BashOperator"),
        pytest.param(lambda: PythonOperator(task_id="t", python_callable=print), id="PythonOperator"),
        pytest.param(lambda: GreetOperator(task_id="t"), id="subclass-with-init"),
        pytest.param(lambda: FileSensor(task_id="t", filepath="/tmp/x"), id="FileSensor"),
    ],
)
def test_default_args_apply_to_every_operator_class(make) -> None:
    default_args = {"owner": "data-team", "retries": 2, "email_on_failure": False, "queue": "etl"}
    with DAG("classes", start_date=START, default_args=default_args):
        op = make()
    assert op.owner == "data-team"
    assert op.retries == 2
    assert op.email_on_failure is False
    assert op.queue == "etl"


def test_default_args_given_on_the_task_merge_over_the_dags() -> None:
    with DAG("task_defaults", start_date=START, default_args={"owner": "dag", "retries": 1}):
        op = _bash("t", default_args={"retries": 5})
    assert (op.owner, op.retries) == ("dag", 5)


def test_default_args_with_dag_argument_instead_of_context() -> None:
    d = DAG("dag_arg", start_date=START, default_args={"owner": "ops", "retries": 4})
    op = _bash("t", dag=d)
    assert (op.owner, op.retries) == ("ops", 4)


def test_default_args_unknown_to_an_operator_are_ignored() -> None:
    default_args = {"bash_command": "echo default", "email_on_failure": False,
                    "python_callable": print, "filepath": "/data/in.csv"}
    with DAG("ignored", start_date=START, default_args=default_args):
        empty = EmptyOperator(task_id="empty")
        bash = BashOperator(task_id="bash")
        own = BashOperator(task_id="own", bash_command="echo mine")
        python = PythonOperator(task_id="python")
    # (that EmptyOperator also receives email_on_failure is checked per operator class above)
    assert not hasattr(empty, "bash_command")
    assert bash.bash_command == "echo default"
    assert own.bash_command == "echo mine"
    assert python.python_callable is print
    assert not hasattr(python, "bash_command")


def test_default_args_do_not_silence_unknown_task_arguments() -> None:
    with DAG("strict", start_date=START, default_args={"not_an_arg": 1}):
        _bash("fine")
        with pytest.raises(UnknownArgumentError, match="not_an_arg"):
            _bash("bad", not_an_arg=1)


def test_default_args_start_date_is_the_tasks_start_date() -> None:
    with DAG("task_start", default_args={"start_date": dt.datetime(2024, 3, 1)}):
        op = _bash("t")
    assert op.start_date == dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def test_operators_need_keyword_arguments() -> None:
    with DAG("kw", start_date=START):
        with pytest.raises(DagDefinitionError, match="keyword"):
            BashOperator("t", "echo")  # type: ignore[misc]


# --- >> and << -----------------------------------------------------------------------


def test_rshift_and_lshift_with_single_tasks() -> None:
    with DAG("shift", start_date=START) as d:
        a, b, c = _bash("a"), _bash("b"), _bash("c")
        result = a >> b
        assert result is b
        c << b
    assert _edges(d) == {("a", "b"), ("b", "c")}
    assert a.downstream_task_ids == {"b"} and b.upstream_task_ids == {"a"}
    assert [t.task_id for t in c.upstream_list] == ["b"]


def test_lists_on_either_side() -> None:
    with DAG("lists", start_date=START) as d:
        a, b, c, d_, e = (_bash(x) for x in "abcde")
        a >> [b, c] >> d_
        [d_] << e
    assert _edges(d) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("e", "d")}


def test_list_on_the_left_of_rshift_and_lshift() -> None:
    with DAG("left_lists", start_date=START) as d:
        a, b, c, x = (_bash(t) for t in "abcx")
        [a, b] >> c
        [a, b] << x
    assert _edges(d) == {("a", "c"), ("b", "c"), ("x", "a"), ("x", "b")}


def test_set_upstream_and_set_downstream() -> None:
    with DAG("set", start_date=START) as d:
        a, b, c, x = (_bash(t) for t in "abcx")
        a.set_downstream([b, c])
        x.set_upstream(b)
        x.set_upstream([c])
    assert _edges(d) == {("a", "b"), ("a", "c"), ("b", "x"), ("c", "x")}


def test_repeated_edge_is_drawn_once() -> None:
    with DAG("twice", start_date=START) as d:
        a, b = _bash("a"), _bash("b")
        a >> b
        a >> b
        b << a
    assert d.edges() == [("a", "b")]


def test_shift_with_a_non_task_is_a_type_error() -> None:
    with DAG("junk", start_date=START):
        a = _bash("a")
        with pytest.raises(TypeError):
            a >> "b"


# --- chain and cross_downstream ------------------------------------------------------


def test_chain_single_tasks() -> None:
    with DAG("chain", start_date=START) as d:
        tasks = [_bash(x) for x in "abcd"]
        chain(*tasks)
    assert _edges(d) == {("a", "b"), ("b", "c"), ("c", "d")}


def test_chain_with_pairwise_lists() -> None:
    with DAG("chain_lists", start_date=START) as d:
        a, b, c, x, y, z = (_bash(t) for t in "abcxyz")
        chain(a, [b, c], [x, y], z)
    assert _edges(d) == {("a", "b"), ("a", "c"), ("b", "x"), ("c", "y"), ("x", "z"), ("y", "z")}


def test_chain_lists_of_different_lengths_is_an_error() -> None:
    with DAG("chain_bad", start_date=START) as d:
        a, b, c = (_bash(t) for t in "abc")
        with pytest.raises(DagDefinitionError) as info:
            chain([a, b], [c])
    assert "2" in str(info.value) and "1" in str(info.value)
    assert d.edges() == []


def test_cross_downstream() -> None:
    with DAG("cross", start_date=START) as d:
        a, b, x, y, z = (_bash(t) for t in "abxyz")
        cross_downstream([a, b], [x, y])
        cross_downstream([x], z)
    assert _edges(d) == {("a", "x"), ("a", "y"), ("b", "x"), ("b", "y"), ("x", "z")}


# --- authoring styles ----------------------------------------------------------------


def test_three_authoring_styles_build_the_same_dag() -> None:
    with DAG("style", start_date=START, schedule="@daily") as with_dag:
        e, t, l_ = _bash("extract"), _bash("transform"), _bash("load")
        e >> t >> l_

    dag_arg = DAG("style", start_date=START, schedule="@daily")
    e = _bash("extract", dag=dag_arg)
    t = _bash("transform", dag=dag_arg)
    l_ = _bash("load", dag=dag_arg)
    e >> t >> l_

    @dag(dag_id="style", start_date=START, schedule="@daily")
    def build() -> None:
        e, t, l_ = _bash("extract"), _bash("transform"), _bash("load")
        e >> t >> l_

    decorated = build()

    for d in (with_dag, dag_arg, decorated):
        assert isinstance(d, DAG)
        assert d.dag_id == "style"
        assert sorted(d.task_ids) == ["extract", "load", "transform"]
        assert _edges(d) == {("extract", "transform"), ("transform", "load")}
        assert all(t.dag is d for t in d.tasks)


def test_nested_with_dag_blocks_use_the_innermost() -> None:
    with DAG("outer", start_date=START) as outer:
        a = _bash("a")
        with DAG("inner", start_date=START) as inner:
            b = _bash("b")
        c = _bash("c")
    assert a.dag is outer and c.dag is outer and b.dag is inner


def test_task_without_dag_raises_on_dag_access() -> None:
    op = _bash("lonely")
    assert not op.has_dag
    with pytest.raises(DagDefinitionError, match="lonely"):
        _ = op.dag


# --- priority weights --------------------------------------------------------------


def _diamond(weight_rule: str) -> dict[str, BaseOperator]:
    with DAG(f"weights_{weight_rule}", start_date=START):
        ops = {
            name: _bash(name, priority_weight=w, weight_rule=weight_rule)
            for name, w in (("a", 1), ("b", 2), ("c", 3), ("d", 4), ("e", 5))
        }
    ops["a"] >> [ops["b"], ops["c"]] >> ops["d"] >> ops["e"]
    return ops


def test_priority_weight_total_downstream() -> None:
    ops = _diamond("downstream")
    totals = {k: v.priority_weight_total for k, v in ops.items()}
    assert totals == {"a": 1 + 2 + 3 + 4 + 5, "b": 2 + 4 + 5, "c": 3 + 4 + 5, "d": 4 + 5, "e": 5}


def test_priority_weight_total_upstream() -> None:
    ops = _diamond("upstream")
    totals = {k: v.priority_weight_total for k, v in ops.items()}
    assert totals == {"a": 1, "b": 1 + 2, "c": 1 + 3, "d": 1 + 2 + 3 + 4, "e": 1 + 2 + 3 + 4 + 5}


def test_priority_weight_total_absolute() -> None:
    ops = _diamond("absolute")
    assert {k: v.priority_weight_total for k, v in ops.items()} == {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}


def test_default_weight_rule_is_downstream() -> None:
    with DAG("default_weights", start_date=START):
        a, b, c = _bash("a"), _bash("b"), _bash("c")
        a >> b >> c
    assert (a.weight_rule, a.priority_weight) == ("downstream", 1)
    assert [t.priority_weight_total for t in (a, b, c)] == [3, 2, 1]


def test_unknown_weight_rule_is_an_error() -> None:
    with DAG("bad_weight", start_date=START):
        with pytest.raises(DagDefinitionError, match="'sideways'"):
            _bash("a", weight_rule="sideways")


# --- task groups -------------------------------------------------------------------


def test_task_group_prefixes_task_ids() -> None:
    with DAG("groups", start_date=START) as d:
        with TaskGroup("extract") as extract:
            _bash("users")
            with TaskGroup("orders") as orders:
                _bash("fetch")
        _bash("outside")
    assert sorted(d.task_ids) == ["extract.orders.fetch", "extract.users", "outside"]
    assert orders.group_id == "extract.orders"
    assert sorted(extract.task_ids) == ["extract.orders.fetch", "extract.users"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: EmptyOperator(task_id="t"), id="EmptyOperator"),
        pytest.param(lambda: PlainOperator(task_id="t"), id="subclass-without-init"),
        pytest.param(lambda: _bash("t"), id="BashOperator"),
    ],
)
def test_task_group_prefix_applies_to_every_operator_class(make) -> None:
    with DAG("group_classes", start_date=START) as d:
        with TaskGroup("grp") as grp:
            op = make()
    assert op.task_id == "grp.t"
    assert d.task_ids == ["grp.t"]
    assert grp.task_ids == ["grp.t"]


def test_task_group_without_prefix() -> None:
    with DAG("no_prefix", start_date=START) as d:
        with TaskGroup("quiet", prefix_group_id=False):
            _bash("t")
    assert d.task_ids == ["t"]


def test_group_edges_attach_to_the_groups_ends() -> None:
    with DAG("group_edges", start_date=START) as d:
        start = _bash("start")
        with TaskGroup("work") as work:
            a, b, c = _bash("a"), _bash("b"), _bash("c")
            a >> [b, c]
        end = _bash("end")
        start >> work >> end
    assert _edges(d) == {
        ("start", "work.a"),
        ("work.a", "work.b"), ("work.a", "work.c"),
        ("work.b", "end"), ("work.c", "end"),
    }


def test_group_to_group_and_lshift() -> None:
    with DAG("group_group", start_date=START) as d:
        with TaskGroup("one") as one:
            _bash("x")
        with TaskGroup("two") as two:
            _bash("y")
        last = _bash("last")
        two << one
        last << two
    assert _edges(d) == {("one.x", "two.y"), ("two.y", "last")}


def test_group_default_args() -> None:
    with DAG("group_defaults", start_date=START, default_args={"retries": 1, "owner": "dag"}):
        with TaskGroup("g", default_args={"retries": 7}):
            op = _bash("t")
    assert (op.retries, op.owner) == (7, "dag")


# --- XComArg ---------------------------------------------------------------------------


def test_task_output_passed_to_another_task_draws_the_edge() -> None:
    with DAG("outputs", start_date=START) as d:
        produce = _bash("produce")
        consume = PythonOperator(task_id="consume", python_callable=print, op_args=[produce.output])
        PythonOperator(task_id="nested", python_callable=print,
                       op_kwargs={"rows": {"deep": [produce.output["rows"]]}})
    assert isinstance(produce.output, XComArg)
    assert produce.output.operator is produce
    assert produce.output["rows"].key == "rows"
    assert _edges(d) == {("produce", "consume"), ("produce", "nested")}
    assert consume.upstream_task_ids == {"produce"}


def test_xcom_arg_in_bash_command_draws_the_edge() -> None:
    with DAG("bash_output", start_date=START) as d:
        produce = _bash("produce")
        BashOperator(task_id="consume", bash_command=produce.output)
    assert _edges(d) == {("produce", "consume")}


def test_taskflow_call_results_draw_dependencies() -> None:
    with DAG("taskflow", start_date=START) as d:
        @task
        def extract() -> list[int]:
            return [1, 2]

        @task
        def transform(rows: list[int]) -> int:
            return sum(rows)

        @task
        def load(total: int, rows: list[int]) -> None:
            print(total, rows)

        rows = extract()
        load(transform(rows), rows=rows)
    assert _edges(d) == {("extract", "transform"), ("transform", "load"), ("extract", "load")}


def test_xcom_arg_supports_shift_operators() -> None:
    with DAG("xcom_shift", start_date=START) as d:
        @task
        def first() -> int:
            return 1

        @task
        def second() -> int:
            return 2

        after = _bash("after")
        before = _bash("before")
        before >> first() >> [second(), after]
    assert _edges(d) == {("before", "first"), ("first", "second"), ("first", "after")}


# --- render_template (public API) --------------------------------------------------------


def test_render_template_renders_strings_and_collections_with_the_dags_macros() -> None:
    with DAG("render_api", schedule=None, user_defined_macros={"shout": str.upper}) as d:
        t = _bash("t")
    context = {"ds": "2024-01-02", "params": {"x": 3}}
    assert t.render_template("day {{ ds }} {{ shout('hi') }}", context) == "day 2024-01-02 HI"
    assert t.render_template(["{{ params.x }}", 4, {"k": "{{ ds }}"}], context) == ["3", 4, {"k": "2024-01-02"}]
    assert t.render_template("plain", context) == "plain"
    assert d.dag_id == "render_api"


def test_an_operator_s_extra_links_give_urls_for_its_task_instances(store) -> None:
    from miniflow.dag_test import run_dag_test
    from miniflow.operator_links import BaseOperatorLink

    class Console(BaseOperatorLink):
        name = "Console"

        def get_link(self, operator: BaseOperator, *, ti_key: Any) -> str:
            return f"https://console.example/{operator.task_id}?run={ti_key.run_id}"

    class Submit(BaseOperator):
        operator_extra_links = (Console(),)

        def execute(self, context: dict[str, Any]) -> list[Any]:
            return [self.extra_links, self.get_extra_links(context["ti"], "Console"),
                    self.get_extra_links(context["ti"], "Nope")]

    with DAG("links", start_date=dt.datetime(2024, 1, 1), schedule=None) as d:
        Submit(task_id="submit")
    result = run_dag_test(d, dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc), store=store)
    [row] = store.xcom_pull("links", result.run_id, ["submit"], "return_value")
    assert json.loads(row.value) == [
        ["Console"], f"https://console.example/submit?run={result.run_id}", None]
    with pytest.raises(TypeError):
        BaseOperatorLink()  # type: ignore[abstract]
