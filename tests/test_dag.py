"""miniflow.dag: graph order and cycles, load-time validation, and Airflow 2.10 defaults."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from zoneinfo import ZoneInfo

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow.baseoperator import chain
from miniflow.dag import DAG, find_cycle, topological_order
from miniflow.dagbag import DagBag
from miniflow.exceptions import (
    DagCycleError,
    DagDefinitionError,
    DuplicateTaskIdError,
    InvalidIdError,
    InvalidScheduleError,
    InvalidTriggerRuleError,
    TaskAlreadyInDagError,
    UnknownArgumentError,
)
from miniflow.operators.bash import BashOperator
from miniflow.operators.empty import EmptyOperator

THIS_FILE = str(Path(__file__).resolve())
START = dt.datetime(2024, 1, 1)
UTC = dt.timezone.utc


# --- graph helpers -------------------------------------------------------------------


def _reachable(adjacency: dict[str, set[str]], source: str) -> set[str]:
    """Nodes reachable from `source` by one or more edges (plain BFS, independent of miniflow)."""
    seen: set[str] = set()
    todo = list(adjacency[source])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(adjacency[node])
    return seen


def _has_cycle(adjacency: dict[str, set[str]]) -> bool:
    return any(node in _reachable(adjacency, node) for node in adjacency)


def _assert_real_cycle(cycle: list[str], adjacency: dict[str, set[str]]) -> None:
    assert len(cycle) >= 2, cycle
    assert cycle[0] == cycle[-1], f"cycle does not close on itself: {cycle}"
    assert len(set(cycle[:-1])) == len(cycle) - 1, f"cycle repeats a node: {cycle}"
    for up, down in zip(cycle, cycle[1:]):
        assert down in adjacency[up], f"{up} -> {down} is not an edge; cycle {cycle}"


@st.composite
def acyclic_graphs(draw: st.DrawFn) -> tuple[int, set[tuple[int, int]]]:
    n = draw(st.integers(min_value=1, max_value=25))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = draw(st.sets(st.sampled_from(pairs), max_size=60)) if pairs else set()
    return n, edges


@st.composite
def any_graphs(draw: st.DrawFn, self_loops: bool = True) -> tuple[int, set[tuple[int, int]]]:
    n = draw(st.integers(min_value=1, max_value=12))
    pairs = [(i, j) for i in range(n) for j in range(n) if self_loops or i != j]
    edges = draw(st.sets(st.sampled_from(pairs), max_size=30)) if pairs else set()
    return n, edges


def _build_dag(n: int, edges: Iterable[tuple[int, int]], dag_id: str = "random") -> DAG:
    with DAG(dag_id, start_date=START) as dag:
        # Ids sort lexically in another order than by index ("t10" < "t2"), so an
        # order that merely sorts ids would break some edges.
        tasks = [EmptyOperator(task_id=f"t{i}") for i in range(n)]
    for i, j in edges:
        tasks[i] >> tasks[j]
    return dag


# --- topological order and cycles (hypothesis) ---------------------------------------


@settings(max_examples=150, deadline=None)
@given(acyclic_graphs())
def test_topological_sort_respects_every_edge(graph: tuple[int, set[tuple[int, int]]]) -> None:
    n, edges = graph
    dag = _build_dag(n, edges)
    order = [t.task_id for t in dag.topological_sort()]
    assert sorted(order) == sorted(f"t{i}" for i in range(n))
    position = {task_id: k for k, task_id in enumerate(order)}
    for i, j in edges:
        assert position[f"t{i}"] < position[f"t{j}"], f"edge t{i} -> t{j} points backwards in {order}"
    dag.validate()


@settings(max_examples=200, deadline=None)
@given(any_graphs())
def test_find_cycle_reports_a_cycle_exactly_when_one_exists(graph: tuple[int, set[tuple[int, int]]]) -> None:
    n, edges = graph
    adjacency: dict[str, set[str]] = {f"n{i}": set() for i in range(n)}
    for i, j in edges:
        adjacency[f"n{i}"].add(f"n{j}")
    cycle = find_cycle(adjacency, lambda node: adjacency[node])
    order = topological_order(adjacency, lambda node: adjacency[node])
    if _has_cycle(adjacency):
        assert cycle is not None
        _assert_real_cycle(cycle, adjacency)
        assert order is None
    else:
        assert cycle is None
        assert order is not None and sorted(order) == sorted(adjacency)


@settings(max_examples=150, deadline=None)
@given(any_graphs(self_loops=False))
def test_validate_raises_cycle_error_exactly_when_dag_has_a_cycle(
    graph: tuple[int, set[tuple[int, int]]],
) -> None:
    n, edges = graph
    dag = _build_dag(n, edges)
    adjacency = {f"t{i}": set() for i in range(n)}
    for i, j in edges:
        adjacency[f"t{i}"].add(f"t{j}")
    if _has_cycle(adjacency):
        with pytest.raises(DagCycleError) as info:
            dag.validate()
        _assert_real_cycle(info.value.cycle, adjacency)
        assert " -> ".join(info.value.cycle) in str(info.value)
    else:
        dag.validate()


def test_self_loop_is_a_cycle() -> None:
    cycle = find_cycle(["a"], lambda node: ["a"])
    assert cycle == ["a", "a"]


def test_cycle_message_names_cycle_dag_and_file() -> None:
    with DAG("etl", start_date=START) as dag:
        extract = BashOperator(task_id="extract", bash_command="echo e")
        transform = BashOperator(task_id="transform", bash_command="echo t")
        load = BashOperator(task_id="load", bash_command="echo l")
    extract >> transform >> load
    transform >> extract
    with pytest.raises(DagCycleError) as info:
        dag.validate()
    message = str(info.value)
    assert "extract -> transform -> extract" in message or "transform -> extract -> transform" in message
    assert "'etl'" in message
    assert THIS_FILE in message


def test_cycle_in_dag_file_is_an_import_error_naming_cycle_file_and_dag(write_dag, dags_folder: Path) -> None:
    path = write_dag("cyclic.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("cyclic_etl", start_date=datetime(2024, 1, 1)) as dag:
            extract = BashOperator(task_id="extract", bash_command="echo e")
            transform = BashOperator(task_id="transform", bash_command="echo t")
            extract >> transform >> extract
    """)
    bag = DagBag(dags_folder)
    assert "cyclic_etl" not in bag.dags
    error = bag.import_errors[str(path.resolve())]
    assert "extract -> transform -> extract" in error.message
    assert "cyclic_etl" in error.message
    assert str(path.resolve()) in str(error)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6), st.booleans()), min_size=1, max_size=40))
def test_the_line_of_a_call_is_the_line_python_gives(statements: list[tuple[int, int, bool]]) -> None:
    """`caller_location`'s line, found by bisection, is ``f_lineno`` wherever the call is:
    in the module, or in one of several helpers it calls in turn (more than are kept)."""
    import sys

    from miniflow.dag import _line_of

    seen: list[tuple[int | None, int]] = []

    def where() -> None:
        frame = sys._getframe(1)
        seen.append((_line_of(frame), frame.f_lineno))

    helpers = [f"def helper{h}():\n    x = 1\n    where()\n" for h in range(7)]
    body = []
    for blank, helper, split in statements:
        body += ["# a comment"] * blank
        body += [f"helper{helper}()"] if helper < 7 and not split else ["where(", "    )"] if split else ["where()"]
    exec(compile("\n".join([*helpers, *body]), "generated_dag.py", "exec"), {"where": where})
    assert seen and all(found == python for found, python in seen), seen


def test_lines_are_found_in_several_threads_at_once() -> None:
    """DAG files loaded in several threads (the web server's) share the kept line
    tables: no thread finds another's half-made change, and every line is right."""
    import sys
    import threading

    from miniflow.dag import _line_of

    problems: list[str] = []

    def where(seen: list[tuple[int | None, int]]) -> None:
        frame = sys._getframe(1)
        seen.append((_line_of(frame), frame.f_lineno))

    def load(n: int) -> None:  # more threads than tables kept, so they evict each other's
        code = compile("for i in range(300):\n    where(seen)\n    x = 1\n    where(seen)", f"dag{n}.py", "exec")
        seen: list[tuple[int | None, int]] = []
        try:
            for _ in range(10):
                exec(code, {"where": where, "seen": seen})
        except Exception as exc:  # what the test reports
            problems.append(repr(exc))
        problems.extend(f"{found} for line {line}" for found, line in seen if found != line)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as CPython allows
    try:
        threads = [threading.Thread(target=load, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert not problems, problems[:5]


def test_ten_thousand_task_chain_validates_without_recursion_error() -> None:
    with DAG("long_chain", start_date=START) as dag:
        tasks = [EmptyOperator(task_id=f"t{i}") for i in range(10_000)]
    chain(*tasks)
    dag.validate()
    order = dag.topological_sort()
    assert order[0].task_id == "t0" and order[-1].task_id == "t9999"
    assert tasks[0].get_flat_relative_ids() == {f"t{i}" for i in range(1, 10_000)}


def test_ten_thousand_task_cycle_is_found_without_recursion_error() -> None:
    with DAG("long_cycle", start_date=START) as dag:
        tasks = [EmptyOperator(task_id=f"t{i}") for i in range(10_000)]
    chain(*tasks)
    tasks[-1] >> tasks[0]
    with pytest.raises(DagCycleError) as info:
        dag.validate()
    assert len(info.value.cycle) == 10_001


# --- validation errors ---------------------------------------------------------------


def test_duplicate_task_id() -> None:
    with DAG("dupes", start_date=START):
        BashOperator(task_id="extract", bash_command="echo 1")
        with pytest.raises(DuplicateTaskIdError) as info:
            BashOperator(task_id="extract", bash_command="echo 2")
    message = str(info.value)
    assert "'extract'" in message and "'dupes'" in message and THIS_FILE in message


@pytest.mark.parametrize("bad_id", ["bad id!", "", "tab\there", "slash/id", "x" * 251])
def test_invalid_dag_id(bad_id: str) -> None:
    with pytest.raises(InvalidIdError) as info:
        DAG(bad_id, start_date=START)
    message = str(info.value)
    assert "dag_id" in message
    assert repr(bad_id[:40]) in message
    assert THIS_FILE in message


def test_valid_ids_accept_letters_digits_dash_dot_underscore() -> None:
    with DAG("my-dag.v2_final", start_date=START) as dag:
        EmptyOperator(task_id="Task-1.a_b")
    assert dag.task_ids == ["Task-1.a_b"]


def test_invalid_task_id() -> None:
    with DAG("ids", start_date=START):
        with pytest.raises(InvalidIdError) as info:
            BashOperator(task_id="bad id!", bash_command="echo")
    message = str(info.value)
    assert "task_id" in message and "'bad id!'" in message
    assert "'ids'" in message and THIS_FILE in message


def test_dag_id_must_be_a_string() -> None:
    with pytest.raises(InvalidIdError, match="dag_id must be a string"):
        DAG(42, start_date=START)  # type: ignore[arg-type]


@pytest.mark.parametrize("schedule", ["not a cron", "61 * * * *", "* * *", "@fortnightly"])
def test_invalid_cron(schedule: str) -> None:
    with pytest.raises(InvalidScheduleError) as info:
        DAG("crons", schedule=schedule, start_date=START)
    message = str(info.value)
    assert repr(schedule) in message and "'crons'" in message and THIS_FILE in message


def test_schedule_of_wrong_type() -> None:
    with pytest.raises(InvalidScheduleError, match="42"):
        DAG("typed", schedule=42, start_date=START)


def test_unknown_trigger_rule() -> None:
    with DAG("rules", start_date=START):
        with pytest.raises(InvalidTriggerRuleError) as info:
            BashOperator(task_id="t", bash_command="echo", trigger_rule="most_success")
    message = str(info.value)
    assert "'most_success'" in message and "'t'" in message and "'rules'" in message
    assert "all_success" in message  # says what to use instead


def test_start_date_after_end_date() -> None:
    with pytest.raises(DagDefinitionError) as info:
        DAG("backwards", start_date=dt.datetime(2024, 2, 1), end_date=dt.datetime(2024, 1, 1))
    message = str(info.value)
    assert "start_date" in message and "end_date" in message
    assert "2024-02-01" in message and "2024-01-01" in message
    assert "'backwards'" in message and THIS_FILE in message


def test_start_date_equal_to_end_date_is_fine() -> None:
    dag = DAG("one_day", start_date=START, end_date=START)
    assert dag.start_date == dag.end_date


def test_task_added_to_two_dags() -> None:
    first = DAG("first", start_date=START)
    second = DAG("second", start_date=START)
    task = BashOperator(task_id="shared", bash_command="echo", dag=first)
    with pytest.raises(TaskAlreadyInDagError) as info:
        second.add_task(task)
    message = str(info.value)
    assert "'shared'" in message and "'first'" in message and "'second'" in message
    with pytest.raises(TaskAlreadyInDagError):
        task.dag = second
    assert task.dag is first and "shared" not in second.task_dict


def test_dependency_between_tasks_of_two_dags() -> None:
    first = DAG("first", start_date=START)
    second = DAG("second", start_date=START)
    a = BashOperator(task_id="a", bash_command="echo", dag=first)
    b = BashOperator(task_id="b", bash_command="echo", dag=second)
    with pytest.raises(DagDefinitionError) as info:
        a >> b
    message = str(info.value)
    assert "'a'" in message and "'b'" in message and "'first'" in message and "'second'" in message
    assert not a.downstream_task_ids and not b.upstream_task_ids


def test_task_without_dag_adopts_the_dag_of_its_relative() -> None:
    dag = DAG("adopt", start_date=START)
    a = BashOperator(task_id="a", bash_command="echo", dag=dag)
    b = BashOperator(task_id="b", bash_command="echo")
    a >> b
    assert b.dag is dag and dag.task_ids == ["a", "b"]


def test_unknown_operator_argument_names_argument_and_task() -> None:
    with DAG("args", start_date=START):
        with pytest.raises(UnknownArgumentError) as info:
            BashOperator(task_id="say", bash_command="echo", bash_comand_typo="x")
    message = str(info.value)
    assert "bash_comand_typo" in message and "'say'" in message and "BashOperator" in message
    assert isinstance(info.value, TypeError)  # as Airflow's AirflowException-from-TypeError


def test_unknown_operator_argument_on_operator_without_own_init() -> None:
    with DAG("args2", start_date=START):
        with pytest.raises(UnknownArgumentError) as info:
            EmptyOperator(task_id="noop", colour="blue")
    assert "colour" in str(info.value) and "'noop'" in str(info.value)


def test_validation_errors_in_dag_files_are_import_errors_naming_the_file(write_dag, dags_folder: Path) -> None:
    sources = {
        "dup.py": ('DAG("dup", start_date=datetime(2024, 1, 1))',
                   'EmptyOperator(task_id="x"); EmptyOperator(task_id="x")', "'x'"),
        "badid.py": ('DAG("bad id!", start_date=datetime(2024, 1, 1))', "pass", "'bad id!'"),
        "cron.py": ('DAG("cron", schedule="99 99 * * *", start_date=datetime(2024, 1, 1))', "pass", "'99 99 * * *'"),
        "rule.py": ('DAG("rule", start_date=datetime(2024, 1, 1))',
                    'EmptyOperator(task_id="x", trigger_rule="sometimes")', "'sometimes'"),
        "dates.py": ('DAG("dates", start_date=datetime(2024, 2, 1), end_date=datetime(2024, 1, 1))', "pass",
                     "end_date"),
    }
    for name, (dag_call, body, _needle) in sources.items():
        write_dag(name, f"""
            from datetime import datetime
            from miniflow import DAG
            from miniflow.operators.empty import EmptyOperator

            with {dag_call} as dag:
                {body}
        """)
    write_dag("good.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.empty import EmptyOperator

        with DAG("good", start_date=datetime(2024, 1, 1)) as dag:
            EmptyOperator(task_id="x")
    """)
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["good"]
    for name, (_, _, needle) in sources.items():
        path = str((dags_folder / name).resolve())
        assert path in bag.import_errors, f"{name} loaded without an error"
        error = bag.import_errors[path]
        assert needle in error.message, error.message
        assert path in str(error)


# --- defaults ------------------------------------------------------------------------


def test_airflow_2_10_defaults() -> None:
    dag = DAG("defaults", start_date=START)
    assert dag.schedule == dt.timedelta(days=1)
    assert dag.schedule_interval == dt.timedelta(days=1)
    assert dag.catchup is True
    assert dag.max_active_runs == 16
    assert dag.max_active_tasks == 16
    assert dag.params == {}
    assert dag.tags == []
    assert dag.end_date is None


def test_schedule_interval_is_an_alias_of_schedule() -> None:
    dag = DAG("alias", schedule_interval="@daily", start_date=START)
    assert dag.schedule == "@daily"
    assert dag.schedule_interval == "@daily"
    assert dag.timetable.summary == "@daily"


def test_schedule_none_is_manual_only() -> None:
    dag = DAG("manual", schedule=None, start_date=START)
    assert dag.schedule is None
    dag = DAG("manual2", schedule_interval=None, start_date=START)
    assert dag.schedule is None


def test_schedule_and_schedule_interval_together_is_an_error() -> None:
    with pytest.raises(DagDefinitionError, match="schedule"):
        DAG("both", schedule="@daily", schedule_interval="@hourly", start_date=START)


def test_concurrency_is_the_old_name_of_max_active_tasks() -> None:
    assert DAG("old", start_date=START, concurrency=3).max_active_tasks == 3


def test_naive_start_date_means_utc() -> None:
    dag = DAG("naive", start_date=dt.datetime(2024, 1, 1, 6))
    assert dag.start_date == dt.datetime(2024, 1, 1, 6, tzinfo=UTC)
    assert dag.timezone.utcoffset(dt.datetime(2024, 7, 1)) == dt.timedelta(0)


def _tz_name(tz: dt.tzinfo) -> str:
    return getattr(tz, "key", None) or getattr(tz, "name", None) or str(tz)


def test_timezone_from_zoneinfo_start_date() -> None:
    paris = ZoneInfo("Europe/Paris")
    dag = DAG("paris", schedule="0 2 * * *", start_date=dt.datetime(2024, 3, 1, tzinfo=paris))
    assert _tz_name(dag.timezone) == "Europe/Paris"
    assert dag.start_date == dt.datetime(2024, 2, 29, 23, 0, tzinfo=UTC)  # stored in UTC
    assert dag.start_date.utcoffset() == dt.timedelta(0)


def test_timezone_from_pendulum_start_date() -> None:
    dag = DAG("ny", start_date=pendulum.datetime(2024, 1, 1, tz="America/New_York"))
    assert _tz_name(dag.timezone) == "America/New_York"
    assert dag.start_date == dt.datetime(2024, 1, 1, 5, 0, tzinfo=UTC)


def test_pendulum_utc_start_date() -> None:
    dag = DAG("pend_utc", start_date=pendulum.datetime(2021, 1, 1, tz="UTC"))
    assert dag.timezone.utcoffset(dt.datetime(2024, 7, 1)) == dt.timedelta(0)
    assert dag.start_date == dt.datetime(2021, 1, 1, tzinfo=UTC)


def test_naive_end_date_is_taken_in_the_dag_timezone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    dag = DAG("tokyo", start_date=dt.datetime(2024, 1, 1, tzinfo=tokyo), end_date=dt.datetime(2024, 1, 31))
    assert dag.end_date == dt.datetime(2024, 1, 30, 15, 0, tzinfo=UTC)


def test_default_args_start_date_used_when_start_date_not_given() -> None:
    dag = DAG("da", default_args={"start_date": dt.datetime(2024, 5, 1, tzinfo=ZoneInfo("Europe/Berlin"))})
    assert dag.start_date == dt.datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    assert _tz_name(dag.timezone) == "Europe/Berlin"


def test_default_args_start_date_as_string() -> None:
    dag = DAG("da_str", default_args={"start_date": "2024-05-01"})
    assert dag.start_date == dt.datetime(2024, 5, 1, tzinfo=UTC)
    dag = DAG("da_str_tz", default_args={"start_date": "2024-05-01T06:00:00+02:00"})
    assert dag.start_date == dt.datetime(2024, 5, 1, 4, 0, tzinfo=UTC)


def test_a_string_date_in_default_args_reaches_the_tasks_as_a_date() -> None:
    """Airflow's DAG parses it in its default_args, so its tasks inherit a datetime."""
    with DAG("str_dates", default_args={"start_date": "2024-08-01", "end_date": "2024-09-01T12:00:00"}):
        task = EmptyOperator(task_id="t")
    assert (task.start_date, task.end_date) == (dt.datetime(2024, 8, 1, tzinfo=UTC),
                                                dt.datetime(2024, 9, 1, 12, tzinfo=UTC))


def test_a_tasks_own_date_that_is_not_a_datetime_is_ignored_with_a_warning() -> None:
    with DAG("own_str", start_date=dt.datetime(2024, 1, 1)), \
            pytest.warns(UserWarning, match="task 't': start_date '2024-02-01' is not a datetime; it is ignored"):
        task = EmptyOperator(task_id="t", start_date="2024-02-01")  # type: ignore[arg-type]
    assert task.start_date == dt.datetime(2024, 1, 1, tzinfo=UTC)  # the DAG's, as in Airflow


def test_explicit_start_date_wins_over_default_args() -> None:
    dag = DAG("both_dates", start_date=dt.datetime(2024, 1, 1),
              default_args={"start_date": dt.datetime(2020, 1, 1)})
    assert dag.start_date == dt.datetime(2024, 1, 1, tzinfo=UTC)


def test_bad_start_date_string_is_an_error() -> None:
    with pytest.raises(DagDefinitionError, match="start_date"):
        DAG("bad_date", start_date="yesterday")  # type: ignore[arg-type]


def test_a_task_runs_within_its_dags_window_as_well_as_its_own() -> None:
    """Airflow's DAG.add_task: a task keeps the later start_date and the earlier end_date."""
    with DAG("window", start_date=dt.datetime(2024, 1, 1), end_date=dt.datetime(2024, 12, 31)) as dag:
        plain = EmptyOperator(task_id="plain")
        later = EmptyOperator(task_id="later", start_date=dt.datetime(2024, 6, 1), end_date=dt.datetime(2025, 6, 1))
        earlier = EmptyOperator(task_id="earlier", start_date=dt.datetime(2023, 1, 1),
                                end_date=dt.datetime(2024, 3, 1))
    assert (plain.start_date, plain.end_date) == (dag.start_date, dag.end_date)
    assert (later.start_date, later.end_date) == (dt.datetime(2024, 6, 1, tzinfo=UTC), dag.end_date)
    assert (earlier.start_date, earlier.end_date) == (dag.start_date, dt.datetime(2024, 3, 1, tzinfo=UTC))
    no_dates = EmptyOperator(task_id="no_dates", dag=DAG("open_ended"))
    assert (no_dates.start_date, no_dates.end_date) == (None, None)
    # Dates from default_args reach the tasks through default_args, not through the DAG:
    # a task's own earlier start_date stands, as in Airflow (whose DAG has no start_date then).
    with DAG("by_default_args", default_args={"start_date": dt.datetime(2024, 1, 1)}):
        own = EmptyOperator(task_id="own", start_date=dt.datetime(2023, 1, 1))
        inherited = EmptyOperator(task_id="inherited")
    assert own.start_date == dt.datetime(2023, 1, 1, tzinfo=UTC)
    assert inherited.start_date == dt.datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "when", "following", "previous"), [
    ("0 6 * * *", dt.datetime(2024, 3, 1, 6), dt.datetime(2024, 3, 2, 6), dt.datetime(2024, 2, 29, 6)),
    ("0 6 * * *", dt.datetime(2024, 3, 1, 3), dt.datetime(2024, 3, 1, 6), dt.datetime(2024, 2, 29, 6)),
    ("@monthly", dt.datetime(2024, 3, 1), dt.datetime(2024, 4, 1), dt.datetime(2024, 2, 1)),
    (dt.timedelta(hours=5), dt.datetime(2024, 3, 1, 1), dt.datetime(2024, 3, 1, 6), dt.datetime(2024, 2, 29, 20)),
    (None, dt.datetime(2024, 3, 1), None, None),
    ("@once", dt.datetime(2024, 3, 1), None, None),
])
def test_following_and_previous_schedule_are_the_deprecated_neighbouring_ticks(
        schedule: object, when: dt.datetime, following: dt.datetime | None, previous: dt.datetime | None) -> None:
    from miniflow.exceptions import RemovedInAirflow3Warning

    dag = DAG("ticks", start_date=START, schedule=schedule)
    expect = [d.replace(tzinfo=UTC) if d else None for d in (following, previous)]
    with pytest.warns(RemovedInAirflow3Warning, match="following_schedule"):
        assert dag.following_schedule(when) == expect[0]
    with pytest.warns(RemovedInAirflow3Warning, match="previous_schedule"):
        assert dag.previous_schedule(when.replace(tzinfo=UTC)) == expect[1]


def test_dag_params_and_tags() -> None:
    dag = DAG("meta", start_date=START, params={"n": 1}, tags=["b", "a", "b"],
              default_args={"params": {"n": 0, "m": 2}})
    assert dag.params == {"n": 1, "m": 2}
    assert dag.tags == ["a", "b"]


def test_roots_leaves_and_edges() -> None:
    with DAG("shape", start_date=START) as dag:
        a, b, c = (EmptyOperator(task_id=x) for x in "abc")
    a >> [b, c]
    assert [t.task_id for t in dag.roots] == ["a"]
    assert sorted(t.task_id for t in dag.leaves) == ["b", "c"]
    assert sorted(dag.edges()) == [("a", "b"), ("a", "c")]
    assert dag.partial_subset(["b"], include_upstream=True) == {"a", "b"}


@settings(max_examples=60, deadline=None)
@given(edges=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=30),
       weights=st.lists(st.integers(-3, 5), min_size=12, max_size=12),
       rules=st.lists(st.sampled_from(["downstream", "upstream", "absolute"]), min_size=12, max_size=12))
def test_priority_weights_sum_each_relative_once(edges: list[tuple[int, int]], weights: list[int],
                                                 rules: list[str]) -> None:
    """The bitset computation agrees with the definition: own weight plus each
    distinct relative's, whatever the diamonds."""
    from miniflow.serialization import priority_weights

    with DAG("weights", start_date=START) as dag:
        tasks = [EmptyOperator(task_id=f"t{i}", priority_weight=w, weight_rule=r)
                 for i, (w, r) in enumerate(zip(weights, rules))]
        for a, b in edges:
            if a < b:  # forward edges only: acyclic
                tasks[a] >> tasks[b]
    expected = {}
    for t in tasks:
        relatives = (dag.get_flat_relative_ids(t.task_id, upstream=t.weight_rule == "upstream")
                     if t.weight_rule != "absolute" else set())
        expected[t.task_id] = t.priority_weight + sum(dag.task_dict[r].priority_weight for r in relatives)
    assert priority_weights(dag) == expected
