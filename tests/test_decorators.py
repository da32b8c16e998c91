"""miniflow.decorators: @task (and its variants) and @dag, as Airflow's TaskFlow API."""

from __future__ import annotations

import datetime as dt
import re
import typing
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow import DAG, TaskGroup
from miniflow.dagbag import DagBag
from miniflow.decorators import dag, task
from miniflow.exceptions import DagDefinitionError
from miniflow.operators.bash import BashOperator
from miniflow.operators.python import BranchPythonOperator, PythonOperator, ShortCircuitOperator
from miniflow.sensors.python import PythonSensor
from miniflow.xcom import XComArg

START = dt.datetime(2024, 1, 1)


def test_bare_task_decorator() -> None:
    @task
    def extract() -> list[int]:
        """Pull the rows."""
        return [1, 2, 3]

    with DAG("bare", start_date=START) as d:
        ref = extract()
    assert isinstance(ref, XComArg)
    op = d.get_task("extract")
    assert ref.operator is op
    assert isinstance(op, PythonOperator)
    assert op.python_callable is extract.function
    assert op.python_callable() == [1, 2, 3]
    assert op.doc_md == "Pull the rows."


def test_task_decorator_with_empty_parentheses() -> None:
    @task()
    def extract() -> int:
        return 1

    with DAG("parens", start_date=START) as d:
        extract()
    assert d.task_ids == ["extract"]
    assert isinstance(d.get_task("extract"), PythonOperator)


def test_task_decorator_with_operator_arguments() -> None:
    @task(task_id="custom_id", retries=3, retry_delay=dt.timedelta(seconds=10), owner="ana")
    def work() -> None:
        pass

    with DAG("args", start_date=START, default_args={"retries": 1, "queue": "etl"}) as d:
        work()
    op = d.get_task("custom_id")
    assert (op.retries, op.retry_delay, op.owner, op.queue) == (3, dt.timedelta(seconds=10), "ana", "etl")


def test_task_call_arguments_become_op_args_and_op_kwargs() -> None:
    @task
    def add(x: int, y: int = 0) -> int:
        return x + y

    with DAG("call_args", start_date=START) as d:
        add(1, y=2)
    op = d.get_task("add")
    assert list(op.op_args) == [1] and op.op_kwargs == {"y": 2}


def test_task_call_with_wrong_arguments_is_a_definition_error() -> None:
    @task
    def add(x: int) -> int:
        return x

    with DAG("bad_call", start_date=START):
        with pytest.raises(DagDefinitionError, match="add"):
            add(1, 2, 3)


def test_override_changes_operator_arguments_only_for_that_call() -> None:
    @task(retries=1)
    def work() -> None:
        pass

    with DAG("override", start_date=START) as d:
        work.override(task_id="work_fast", retries=5, pool="fast")()
        work()
    fast, plain = d.get_task("work_fast"), d.get_task("work")
    assert (fast.retries, fast.pool) == (5, "fast")
    assert (plain.retries, plain.pool) == (1, "default_pool")


def test_repeated_calls_get_unique_task_ids() -> None:
    @task
    def f() -> None:
        pass

    with DAG("repeat", start_date=START) as d:
        refs = [f() for _ in range(3)]
    assert [r.operator.task_id for r in refs] == ["f", "f__1", "f__2"]
    assert sorted(d.task_ids) == ["f", "f__1", "f__2"]


def test_repeated_calls_of_a_function_with_double_underscore_in_its_name() -> None:
    # Airflow only strips a trailing "__<number>" when it looks for the next free id.
    @task
    def extract__rows() -> None:
        pass

    with DAG("dunder", start_date=START) as d:
        refs = [extract__rows() for _ in range(3)]
    assert [r.operator.task_id for r in refs] == ["extract__rows", "extract__rows__1", "extract__rows__2"]
    assert len(d.task_ids) == 3


def test_repeated_calls_inside_a_task_group_get_unique_ids() -> None:
    @task
    def f() -> None:
        pass

    with DAG("group_repeat", start_date=START) as d:
        with TaskGroup("g"):
            f()
            f()
    assert sorted(d.task_ids) == ["g.f", "g.f__1"]


_ID_CHOICES = [None, "f", "f__1", "f__2", "f__10", "f__2__1", "f__x", "ff__3", "other"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_ID_CHOICES), st.booleans()), min_size=1, max_size=25))
def test_the_next_free_id_is_airflows_whatever_ids_came_before(calls: list[tuple[str | None, bool]]) -> None:
    """Each call of a ``@task`` (with its own id or the function's, in a group or not)
    gets the id Airflow's scan of every existing id would give: ``<core>__<n>`` with n
    one above the highest ``<core>__<n>`` in the DAG, or the id itself if it is free."""

    @task
    def f() -> None:
        pass

    def airflow_would_give(ids: set[str], task_id: str, group: str | None) -> str:
        full = f"{group}.{task_id}" if group else task_id
        if full not in ids:
            return full
        core, full_core = re.split(r"__\d+$", task_id)[0], re.split(r"__\d+$", full)[0]
        found = [int(m.group(1)) for t in ids if (m := re.fullmatch(rf"{re.escape(full_core)}__(\d+)", t))]
        return f"{group + '.' if group else ''}{core}__{max(found, default=0) + 1}"

    with DAG("ids", start_date=START) as d:
        group = TaskGroup("g")
        for task_id, in_group in calls:
            expected = airflow_would_give(set(d.task_ids), task_id or "f", "g" if in_group else None)
            made = f.override(task_id=task_id) if task_id else f
            if in_group:
                with group:
                    ref = made()
            else:
                ref = made()
            assert ref.operator.task_id == expected, (calls, sorted(d.task_ids))


def test_same_function_in_two_dags_keeps_its_plain_id() -> None:
    @task
    def f() -> None:
        pass

    with DAG("one", start_date=START) as one:
        f()
    with DAG("two", start_date=START) as two:
        f()
    assert one.task_ids == ["f"] and two.task_ids == ["f"]


def _make(annotation: object):
    def func():
        return {}

    if annotation is not None:
        func.__annotations__ = {"return": annotation}
    return func


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (dict, True),
        (dict[str, int], True),
        (typing.Dict[str, int], True),  # noqa: UP006
        (Mapping[str, int], False),  # Airflow 2.10 infers it for dict only
        (list, False),
        (int, False),
        (None, False),
    ],
)
def test_multiple_outputs_inferred_from_return_annotation(annotation: object, expected: bool) -> None:
    with DAG("infer", start_date=START) as d:
        task(_make(annotation))()
    assert d.get_task("func").multiple_outputs is expected


def test_multiple_outputs_from_dict_annotation_in_source() -> None:
    @task
    def totals() -> dict[str, int]:
        return {"a": 1}

    @task(multiple_outputs=False)
    def raw() -> dict[str, int]:
        return {"a": 1}

    with DAG("annotated", start_date=START) as d:
        ref = totals()
        raw()
    assert d.get_task("totals").multiple_outputs is True
    assert d.get_task("raw").multiple_outputs is False
    assert ref["a"].key == "a" and ref["a"].operator is d.get_task("totals")


def test_task_variants_create_the_right_operator_classes() -> None:
    @task.branch
    def choose() -> str:
        return "left"

    @task.short_circuit()
    def gate() -> bool:
        return True

    @task.bash
    def shell() -> str:
        return "echo hi"

    @task.sensor(poke_interval=5, timeout=60, mode="reschedule")
    def ready() -> bool:
        return True

    @task.python
    def plain() -> None:
        pass

    with DAG("variants", start_date=START) as d:
        choose()
        gate()
        shell()
        ready()
        plain()
    assert isinstance(d.get_task("choose"), BranchPythonOperator)
    assert isinstance(d.get_task("gate"), ShortCircuitOperator)
    assert isinstance(d.get_task("shell"), BashOperator)
    sensor = d.get_task("ready")
    assert isinstance(sensor, PythonSensor)
    assert (sensor.poke_interval, sensor.timeout, sensor.mode) == (5, 60, "reschedule")
    assert type(d.get_task("plain")) is PythonOperator


def test_unsupported_task_variant_names_itself() -> None:
    with pytest.raises(AttributeError, match="docker"):
        task.docker  # noqa: B018


def test_expand_of_a_string_or_an_unknown_argument_is_a_clear_error() -> None:
    @task
    def f(x: int) -> int:
        return x

    with DAG("mapped", start_date=START):
        with pytest.raises(DagDefinitionError, match="expand\\(\\) got a str for 'x'"):
            f.expand(x="abc")
        with pytest.raises(DagDefinitionError, match="unexpected argument 'y'"):
            f.expand(y=[1])


# --- @dag --------------------------------------------------------------------------


def test_dag_decorator_params_and_doc_md() -> None:
    @dag(schedule="@daily", start_date=START, tags=["etl"], params={"limit": 10})
    def nightly(source: str = "s3://bucket", retries_wanted: int = 2):
        """Load the nightly files.

        More text.
        """
        @task
        def load(src: str) -> None:
            pass

        load(source)

    d = nightly()
    assert isinstance(d, DAG)
    assert d.dag_id == "nightly"
    assert d.schedule == "@daily"
    assert d.tags == ["etl"]
    assert d.params == {"limit": 10, "source": "s3://bucket", "retries_wanted": 2}
    assert d.doc_md is not None and d.doc_md.startswith("Load the nightly files.")
    assert d.task_ids == ["load"]


def test_dag_decorator_arguments_given_at_call_override_defaults() -> None:
    @dag(start_date=START)
    def tuned(batch: int = 100):
        pass

    assert tuned(batch=5).params == {"batch": 5}


def test_dag_decorator_explicit_doc_md_and_dag_id() -> None:
    @dag(dag_id="renamed", start_date=START, doc_md="explicit")
    def original():
        """Docstring."""

    d = original()
    assert (d.dag_id, d.doc_md) == ("renamed", "explicit")


def test_bare_dag_decorator_uses_airflow_defaults() -> None:
    @dag
    def plain():
        pass

    d = plain()
    assert d.dag_id == "plain"
    assert d.schedule == dt.timedelta(days=1)
    assert d.catchup is True


def test_package_face_exports_task_and_the_dag_class() -> None:
    # `miniflow.dag` is the module holding the DAG class, so the @dag decorator is
    # imported from miniflow.decorators (as Airflow's from airflow.decorators).
    from miniflow import DAG as DagClass
    from miniflow import task as task_from_package
    from miniflow.dag import DAG

    assert DagClass is DAG
    assert task_from_package is task
    assert "dag" not in __import__("miniflow").__all__


def test_dag_factory_is_discovered_without_a_global(write_dag, dags_folder: Path) -> None:
    path = write_dag("taskflow_etl.py", """
        from datetime import datetime
        from miniflow.decorators import dag, task

        @dag(schedule="@daily", start_date=datetime(2024, 1, 1))
        def taskflow_etl():
            @task
            def extract() -> list[int]:
                return [1, 2, 3]

            @task
            def load(rows: list[int]) -> None:
                print(sum(rows))

            load(extract())

        taskflow_etl()
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    d = bag.get_dag("taskflow_etl")
    assert d.fileloc == str(path.resolve())
    assert set(d.edges()) == {("extract", "load")}


def test_dag_factory_assigned_to_a_global_is_loaded_once(write_dag, dags_folder: Path) -> None:
    write_dag("assigned.py", """
        from datetime import datetime
        from airflow.decorators import dag, task

        @dag(start_date=datetime(2024, 1, 1), schedule=None)
        def assigned():
            @task
            def only() -> None:
                pass

            only()

        the_dag = assigned()
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["assigned"]
    assert bag.get_dag("assigned").schedule is None


def test_dag_decorator_with_auto_register_false_needs_a_global(write_dag, dags_folder: Path) -> None:
    write_dag("not_registered.py", """
        from datetime import datetime
        from miniflow.decorators import dag

        @dag(start_date=datetime(2024, 1, 1), auto_register=False)
        def hidden():
            pass

        @dag(start_date=datetime(2024, 1, 1), auto_register=False)
        def shown():
            pass

        hidden()
        kept = shown()
    """)
    assert DagBag(dags_folder).dag_ids == ["shown"]
