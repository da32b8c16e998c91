"""The scheduler schedules DAGs rebuilt from their serialized form (see
`miniflow.serialized_dag`): everything it decides by must come back as the DAG file
defined it -- the graph, trigger rules, retries, pools, weights, limits, mapping and
the timetable -- while nothing of the file's code does."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from miniflow.dag import DAG
from miniflow.dagbag import EXAMPLES_FOLDER, DagBag
from miniflow.dagrun import evaluate_run
from miniflow.datasets import Dataset, DatasetAlias, DatasetOrTimeSchedule
from miniflow.decorators import task, task_group
from miniflow.mapping import expand_input_of, expansion_length, is_mapped
from miniflow.operators.bash import BashOperator
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import PythonOperator
from miniflow.retries import task_retry_wait
from miniflow.serialization import serialize_dag, task_rows
from miniflow.serialized_dag import SerializedDAG, TimetableUnavailable, deserialize_dag
from miniflow.setup_teardown import indirect_setups
from miniflow.state import TaskInstanceState as TIS
from miniflow.timetables import (
    CronTimetable,
    CronTriggerTimetable,
    DeltaTimetable,
    DeltaTriggerTimetable,
    EventsTimetable,
    MultipleCronTriggerTimetable,
    NullTimetable,
    OnceTimetable,
    timetable_from_json,
    timetable_to_json,
    upcoming_runs,
)
from miniflow.trigger_rules import TriggerRule

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


def rebuilt(dag: DAG) -> SerializedDAG:
    """`dag` as the scheduler gets it: serialized, through JSON, and rebuilt."""
    return deserialize_dag(json.loads(json.dumps(serialize_dag(dag))), import_timeout=30)


def decisions(dag: DAG, states: dict[tuple[str, int], TIS | None]) -> tuple:
    found = evaluate_run(dag, states, START)
    return (sorted(found.runnable), sorted(found.skip), sorted(found.upstream_failed), sorted(found.expand),
            found.outcome)


def test_every_example_dag_comes_back_as_the_scheduler_needs_it() -> None:
    bag = DagBag(EXAMPLES_FOLDER, include_examples=False, isolate=False)
    assert bag.dags and not bag.import_errors
    for dag in bag.dags.values():
        new = rebuilt(dag)
        assert (new.dag_id, new.fileloc, new.max_active_runs, new.max_active_tasks, new.catchup) == \
            (dag.dag_id, dag.fileloc, dag.max_active_runs, dag.max_active_tasks, dag.catchup)
        assert new.time_restriction == dag.time_restriction
        assert sorted(task_rows(new), key=str) == sorted(task_rows(dag), key=str)
        assert new.timetable.summary == dag.timetable.summary
        assert upcoming_runs(new.timetable, new.time_restriction, START, 5) == \
            upcoming_runs(dag.timetable, dag.time_restriction, START, 5), dag.dag_id
        assert indirect_setups(new) == indirect_setups(dag)
        for task_id, original in dag.task_dict.items():
            copy = new.task_dict[task_id]
            assert (copy.trigger_rule, copy.upstream_task_ids, copy.downstream_task_ids, is_mapped(copy),
                    copy.depends_on_past, copy.max_active_tis_per_dag, copy.max_active_tis_per_dagrun,
                    copy.nothing_to_run, copy.sla) == \
                (original.trigger_rule, original.upstream_task_ids, original.downstream_task_ids,
                 is_mapped(original), original.depends_on_past, original.max_active_tis_per_dag,
                 original.max_active_tis_per_dagrun, original.nothing_to_run, original.sla)
            assert task_retry_wait(copy, 2, START) == task_retry_wait(original, 2, START)
        states: dict[tuple[str, int], TIS | None] = {(t, -1): None for t in dag.task_dict}
        while True:  # a whole run, every task succeeding as soon as it may run
            found = decisions(dag, states)
            assert decisions(new, states) == found, dag.dag_id
            runnable, skip, upstream_failed, expand, outcome = found
            if outcome is not None or not (runnable or skip or upstream_failed or expand):
                break
            states.update({key: TIS.SUCCESS for key in runnable} | {(t, -1): TIS.SUCCESS for t in expand})
            states.update({key: TIS.SKIPPED for key in skip} | {key: TIS.UPSTREAM_FAILED for key in upstream_failed})


def test_a_rebuilt_task_names_its_operator_but_does_not_run() -> None:
    with DAG("ops", schedule=None, start_date=START) as dag:
        BashOperator(task_id="echo", bash_command="echo hi", retries=3, retry_delay=dt.timedelta(seconds=7),
                     retry_exponential_backoff=True, max_retry_delay=dt.timedelta(minutes=2), pool="p",
                     pool_slots=2, priority_weight=5, weight_rule="upstream", queue="q")
        EmptyOperator(task_id="nothing")
        EmptyOperator(task_id="announces", on_success_callback=print)
    new = rebuilt(dag)
    echo = new.task_dict["echo"]
    assert type(echo).__name__ == "BashOperator"
    assert (echo.retries, echo.retry_delay, echo.retry_exponential_backoff, echo.max_retry_delay, echo.pool,
            echo.pool_slots, echo.priority_weight, echo.weight_rule, echo.queue) == \
        (3, dt.timedelta(seconds=7), True, dt.timedelta(minutes=2), "p", 2, 5, "upstream", "q")
    assert new.task_dict["nothing"].nothing_to_run and not new.task_dict["announces"].nothing_to_run
    with pytest.raises(RuntimeError, match="rebuilt from its serialized form"):
        echo.execute({})


@st.composite
def graphs(draw: st.DrawFn) -> tuple[DAG, dict[tuple[str, int], TIS | None]]:
    n = draw(st.integers(1, 10))
    dag = DAG(f"g{n}", schedule=None, start_date=START)
    tasks = [EmptyOperator(task_id=f"t{i}", dag=dag, trigger_rule=draw(st.sampled_from(list(TriggerRule))))
             for i in range(n)]
    for j in range(1, n):
        for i in draw(st.sets(st.integers(0, j - 1), max_size=3)):
            tasks[i] >> tasks[j]
    if n > 2 and draw(st.booleans()):
        tasks[0].as_setup() >> tasks[-1].as_teardown()
    states = [None, TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED, TIS.UPSTREAM_FAILED, TIS.RUNNING, TIS.UP_FOR_RETRY]
    return dag, {(f"t{i}", -1): draw(st.sampled_from(states)) for i in range(n)}


@settings(max_examples=200, deadline=None)
@given(graphs())
def test_a_rebuilt_dag_decides_every_run_state_as_the_original(case) -> None:
    dag, states = case
    assert decisions(rebuilt(dag), states) == decisions(dag, states)


@pytest.mark.parametrize("timetable", [
    CronTimetable("@daily"),
    CronTimetable("30 2 * * 1-5", ZoneInfo("Europe/Paris")),
    CronTimetable("0 6 * * *", dt.timezone(dt.timedelta(hours=-5))),
    DeltaTimetable(dt.timedelta(hours=6)),
    DeltaTimetable(relativedelta(months=1, day=15)),
    DeltaTimetable(relativedelta(days=1, hour=0, minute=0)),  # absolute fields at 0 still count
    CronTimetable("0 6 * * *", dt.timezone(dt.timedelta(hours=2), "CEST")),  # a named fixed offset
    OnceTimetable(),
    NullTimetable(),
    CronTriggerTimetable("0 6 * * *", timezone="America/New_York", interval=dt.timedelta(hours=1)),
    MultipleCronTriggerTimetable("0 6 * * *", "30 18 * * *", timezone="Asia/Tokyo"),
    DeltaTriggerTimetable(dt.timedelta(minutes=90)),
    EventsTimetable([START + dt.timedelta(days=d) for d in (3, 1, 40)], restrict_to_events=True,
                    description="board meetings"),
    DatasetOrTimeSchedule(timetable=CronTimetable("@weekly"),
                          datasets=(Dataset("s3://a") & Dataset("s3://b")) | DatasetAlias("late")),
], ids=lambda t: type(t).__name__)
def test_every_built_in_timetable_comes_back_from_json(timetable) -> None:
    copy = timetable_from_json(json.loads(json.dumps(timetable_to_json(timetable))))
    assert type(copy) is type(timetable) and copy.summary == timetable.summary
    for catchup in (True, False):
        dag = DAG("t", schedule=timetable, start_date=START, catchup=catchup)
        for now in (START + dt.timedelta(days=2), START + dt.timedelta(days=100)):
            assert upcoming_runs(copy, dag.time_restriction, now, 6) == \
                upcoming_runs(timetable, dag.time_restriction, now, 6)
    assert copy.infer_manual_data_interval(START + dt.timedelta(days=5)) == \
        timetable.infer_manual_data_interval(START + dt.timedelta(days=5))
    condition = getattr(timetable, "dataset_condition", None)
    if condition is not None:
        updated = {"s3://a": True, "s3://b": True}
        assert copy.dataset_condition.evaluate(updated) == condition.evaluate(updated)
        assert copy.dataset_condition.evaluate({"s3://a": True}) == condition.evaluate({"s3://a": True})
        assert copy.dataset_condition.evaluate({}, {"late": ["s3://c"]}) is False
        assert copy.dataset_condition.evaluate({"s3://c": True}, {"late": ["s3://c"]}) is True


def test_a_zone_without_an_iana_name_leaves_the_timetable_to_the_dag_file() -> None:
    from dateutil import tz

    for zone in (tz.gettz("Europe/Paris"), dt.timezone(dt.timedelta(seconds=3601))):
        assert timetable_to_json(CronTimetable("0 6 * * *", zone))["type"] == "other"
        assert timetable_to_json(CronTriggerTimetable("0 6 * * *", timezone=zone))["type"] == "other"


def test_mapped_tasks_count_their_items_as_the_original() -> None:
    with DAG("mapped", schedule=None, start_date=START) as dag:
        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def letters() -> list[str]:
            return ["a", "b"]

        @task
        def add(x: int, y: int) -> int:
            return x + y

        @task_group
        def per_letter(letter: str) -> None:
            add.override(task_id="inner")(x=1, y=2)

        n, chars = numbers(), letters()
        add.override(task_id="product").expand(x=n, y=[10, 20])
        add.override(task_id="zipped").expand(x=n.zip(chars, fillvalue=None), y=n.map(str))
        BashOperator.partial(task_id="literal").expand(bash_command=["a", "b", "c", "d"])
        per_letter.expand(letter=chars)
    new = rebuilt(dag)
    pushed = {("numbers", "return_value"): 3, ("letters", "return_value"): 2}

    def length_of(arg) -> int | None:
        return pushed.get((arg.operator.task_id, arg.key))

    for task_id in ("product", "zipped", "literal", "per_letter.inner"):
        assert is_mapped(new.task_dict[task_id])
        assert expansion_length(expand_input_of(new.task_dict[task_id]), length_of) == \
            expansion_length(expand_input_of(dag.task_dict[task_id]), length_of), task_id
    assert expansion_length(expand_input_of(new.task_dict["product"]), length_of) == 6


CUSTOM_TIMETABLE = '''
import datetime as dt
from miniflow import DAG
from miniflow.datasets import Dataset, DatasetOrTimeSchedule
from miniflow.timetables import DagRunInfo, DataInterval, Timetable


class Workdays(Timetable):
    summary = "workdays"

    def next_dagrun_info(self, *, last_automated_data_interval, restriction):
        start = last_automated_data_interval.end if last_automated_data_interval else restriction.earliest
        while start.weekday() >= 5:
            start += dt.timedelta(days=1)
        return DagRunInfo.interval(start, start + dt.timedelta(days=1))


dag = DAG("workdays", timetable=Workdays(), start_date=dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc))
also = DAG("workdays_or_data", schedule=DatasetOrTimeSchedule(timetable=Workdays(), datasets=[Dataset("s3://x")]),
           start_date=dt.datetime(2024, 1, 5, tzinfo=dt.timezone.utc))
'''


def test_a_timetable_class_of_the_dag_file_is_asked_in_a_child(sqlite_url, write_dag) -> None:
    path = write_dag("workdays.py", CUSTOM_TIMETABLE)
    bag = DagBag(path, include_examples=False, serialized=True)
    assert not bag.dags, "the DAG file was imported in this process"
    new = deserialize_dag(bag.parsed["workdays"].data, import_timeout=30)
    assert new.timetable.summary == "workdays"
    runs = upcoming_runs(new.timetable, new.time_restriction, START + dt.timedelta(days=10), 3)
    assert [r.logical_date.day for r in runs] == [5, 8, 9]  # Friday, then Monday and Tuesday
    both = deserialize_dag(bag.parsed["workdays_or_data"].data, import_timeout=30)
    assert isinstance(both.timetable, DatasetOrTimeSchedule)  # its own time part, asked in a child
    assert both.timetable.dataset_condition.evaluate({"s3://x": True})
    assert upcoming_runs(both.timetable, both.time_restriction, START + dt.timedelta(days=10), 3) == runs
    path.write_text("raise RuntimeError('broken now')\n")
    with pytest.raises(TimetableUnavailable, match="DAG .workdays. not found"):  # the scheduler asks again later
        new.timetable.next_dagrun_info(None, new.time_restriction, START)


def test_per_run_and_per_dag_task_limits_come_back() -> None:
    with DAG("limits", start_date=START, schedule=None) as dag:
        PythonOperator.partial(task_id="m", python_callable=print, max_active_tis_per_dagrun=2,
                               max_active_tis_per_dag=3).expand(op_args=[[1], [2]])
    task = rebuilt(dag).task_dict["m"]
    assert (task.max_active_tis_per_dagrun, task.max_active_tis_per_dag) == (2, 3)
