"""miniflow.operators.branch: branching on the datetime and on the day of the week."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.exceptions import AirflowException
from miniflow.operators.branch import (
    BaseBranchOperator,
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    target_times_as_dates,
)
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.python import BranchPythonOperator
from miniflow.state import TaskInstanceState as TIS
from miniflow.task_group import TaskGroup
from miniflow.utils.weekday import WeekDay

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
DATE = dt.datetime(2024, 1, 6, 12, tzinfo=UTC)  # a Saturday, noon


def _states(dag: DAG, store: Any) -> dict[str, str]:
    result = run_dag_test(dag, DATE, store=store)
    assert result.state == "success"
    return {ti.task_id: ti.state for ti in result.task_instances}


def _datetime_dag(dag_id: str, now: dt.datetime, tz: dt.tzinfo = UTC, **kwargs: Any) -> DAG:
    with DAG(dag_id, start_date=dt.datetime(2024, 1, 1, tzinfo=tz), schedule=None) as dag:
        branch = BranchDateTimeOperator(task_id="branch", follow_task_ids_if_true="inside",
                                        follow_task_ids_if_false=["outside"], **kwargs)
        branch >> [EmptyOperator(task_id="inside"), EmptyOperator(task_id="outside")]
    branch.clock = lambda: now
    return dag


@pytest.mark.parametrize(
    ("now", "lower", "upper", "followed"),
    [
        (dt.datetime(2024, 1, 6, 10, tzinfo=UTC), dt.time(9), dt.time(11), "inside"),
        (dt.datetime(2024, 1, 6, 12, tzinfo=UTC), dt.time(9), dt.time(11), "outside"),
        (dt.datetime(2024, 1, 6, 23, tzinfo=UTC), dt.time(22), dt.time(2), "inside"),  # window over midnight
        (dt.datetime(2024, 1, 6, 10, tzinfo=UTC), None, dt.time(11), "inside"),
        (dt.datetime(2024, 1, 6, 10, tzinfo=UTC), dt.time(10, 30), None, "outside"),
        (dt.datetime(2024, 1, 6, 10, tzinfo=UTC), dt.datetime(2024, 1, 1), dt.datetime(2024, 2, 1), "inside"),
    ],
)
def test_branch_datetime_follows_the_window(store, now, lower, upper, followed) -> None:
    dag = _datetime_dag(f"bdt_{followed}", now, target_lower=lower, target_upper=upper)
    other = "outside" if followed == "inside" else "inside"
    assert _states(dag, store) == {"branch": TIS.SUCCESS, followed: TIS.SUCCESS, other: TIS.SKIPPED}


def test_branch_datetime_reads_times_in_the_dags_timezone(store) -> None:
    # 08:30 UTC is 09:30 in Berlin: inside 09:00-10:00 Berlin time
    dag = _datetime_dag("bdt_tz", dt.datetime(2024, 1, 6, 8, 30, tzinfo=UTC), BERLIN,
                        target_lower=dt.time(9), target_upper=dt.time(10))
    assert _states(dag, store)["inside"] == TIS.SUCCESS


def test_branch_datetime_can_use_the_logical_date(store) -> None:
    dag = _datetime_dag("bdt_logical", dt.datetime(2030, 1, 1, tzinfo=UTC), use_task_logical_date=True,
                        target_lower=dt.time(11), target_upper=dt.time(13))
    assert _states(dag, store)["inside"] == TIS.SUCCESS  # DATE is noon


def test_branch_datetime_needs_a_bound() -> None:
    with pytest.raises(AirflowException, match="target_upper and target_lower"):
        _datetime_dag("no_bounds", DATE, target_lower=None, target_upper=None)


@given(base=st.datetimes(), lower=st.times(), upper=st.times())
def test_target_times_make_a_window_that_never_ends_before_it_starts(base, lower, upper) -> None:
    start, end = target_times_as_dates(base, lower, upper)
    assert start.date() == base.date() and start.time() == lower
    assert start <= end < start + dt.timedelta(days=1) and end.time() == upper


@pytest.mark.parametrize("use_logical_date", [True, False])
def test_branch_day_of_week(store, use_logical_date: bool) -> None:
    with DAG(f"bdow_{use_logical_date}", start_date=dt.datetime(2024, 1, 1), schedule=None) as dag:
        branch = BranchDayOfWeekOperator(task_id="branch", week_day={WeekDay.SATURDAY, "sunday"},
                                         follow_task_ids_if_true="weekend", follow_task_ids_if_false="workday",
                                         use_task_logical_date=use_logical_date)
        branch >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="workday")]
    # the clock says Monday; the logical date is a Saturday
    branch.clock = lambda: dt.datetime(2024, 1, 8, 9, tzinfo=UTC)
    states = _states(dag, store)
    assert states["weekend" if use_logical_date else "workday"] == TIS.SUCCESS
    assert states["workday" if use_logical_date else "weekend"] == TIS.SKIPPED


def test_day_of_week_uses_the_dags_timezone(store) -> None:
    with DAG("bdow_tz", start_date=dt.datetime(2024, 1, 1, tzinfo=BERLIN), schedule=None) as dag:
        branch = BranchDayOfWeekOperator(task_id="branch", week_day="Saturday",
                                         follow_task_ids_if_true="weekend", follow_task_ids_if_false="workday")
        branch >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="workday")]
    branch.clock = lambda: dt.datetime(2024, 1, 5, 23, 30, tzinfo=UTC)  # Friday in UTC, Saturday in Berlin
    assert _states(dag, store)["weekend"] == TIS.SUCCESS


def test_base_branch_operator_subclass(store) -> None:
    class Pick(BaseBranchOperator):
        def choose_branch(self, context):
            return ["b", "c"]

    with DAG("base_branch", start_date=dt.datetime(2024, 1, 1), schedule=None) as dag:
        Pick(task_id="pick") >> [EmptyOperator(task_id=t) for t in "abc"]
    assert _states(dag, store) == {"pick": TIS.SUCCESS, "a": TIS.SKIPPED, "b": TIS.SUCCESS, "c": TIS.SUCCESS}


def test_a_branch_that_names_a_task_group_follows_the_groups_first_tasks(store) -> None:
    with DAG("branch_to_group", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        branch = BranchPythonOperator(task_id="branch", python_callable=lambda: "grp")
        with TaskGroup("grp") as grp:
            EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
        branch >> [grp, EmptyOperator(task_id="other")]
    assert _states(dag, store) == {"branch": TIS.SUCCESS, "grp.first": TIS.SUCCESS, "grp.second": TIS.SUCCESS,
                                   "other": TIS.SKIPPED}


def test_a_custom_operator_skips_with_the_skip_mixin(store) -> None:
    from miniflow.baseoperator import BaseOperator
    from miniflow.operators.skip import SkipMixin

    class SkipEveryOther(BaseOperator, SkipMixin):
        def execute(self, context: dict[str, Any]) -> None:
            downstream = sorted(self.get_direct_relatives(upstream=False), key=lambda t: t.task_id)
            self.skip(context["dag_run"], context["logical_date"], downstream[::2])

    class KeepOne(BaseOperator, SkipMixin):
        def execute(self, context: dict[str, Any]) -> None:
            self.skip_all_except(context["ti"], "kept")

    with DAG("skip_mixin", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        SkipEveryOther(task_id="other") >> [EmptyOperator(task_id=f"t{i}") for i in range(4)]
        KeepOne(task_id="one") >> [EmptyOperator(task_id="kept"), EmptyOperator(task_id="dropped")]
    assert _states(dag, store) == {
        "other": TIS.SUCCESS, "t0": TIS.SKIPPED, "t1": TIS.SUCCESS, "t2": TIS.SKIPPED, "t3": TIS.SUCCESS,
        "one": TIS.SUCCESS, "kept": TIS.SUCCESS, "dropped": TIS.SKIPPED}


def test_the_skip_mixin_skips_only_in_the_running_try_s_run(store) -> None:
    from miniflow.baseoperator import BaseOperator
    from miniflow.operators.skip import SkipMixin
    from miniflow.taskinstance import DagRun

    class SkipElsewhere(BaseOperator, SkipMixin):
        def execute(self, context: dict[str, Any]) -> None:
            other = DagRun(dag_id="skip_elsewhere", run_id="another_run", logical_date=DATE)
            self.skip(other, DATE, ["after"])

    with DAG("skip_elsewhere", start_date=dt.datetime(2024, 1, 1, tzinfo=UTC), schedule=None) as dag:
        SkipElsewhere(task_id="skipper", retries=0) >> EmptyOperator(task_id="after")
    result = run_dag_test(dag, DATE, store=store)
    assert {ti.task_id: ti.state for ti in result.task_instances} == {
        "skipper": TIS.FAILED, "after": TIS.UPSTREAM_FAILED}
