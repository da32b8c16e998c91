"""miniflow.sensors.time: the time sensors, with an injected clock (nothing really waits)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.sensors.time import (
    DateTimeSensor,
    DateTimeSensorAsync,
    DayOfWeekSensor,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)
from miniflow.state import TaskInstanceState as TIS
from miniflow.utils.weekday import WeekDay

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)  # a Tuesday


def at(instant: dt.datetime):
    return lambda: instant


def _dag(dag_id: str, tz: dt.tzinfo = UTC) -> DAG:
    return DAG(dag_id, start_date=dt.datetime(2024, 1, 1, tzinfo=tz), schedule="@daily")


def _states(dag: DAG, store: Any) -> dict[str, str]:
    result = run_dag_test(dag, DATE, store=store)
    return {ti.task_id: ti.state for ti in result.task_instances}


def test_time_delta_sensor_waits_past_the_data_interval_end() -> None:
    with _dag("td"):
        sensor = TimeDeltaSensor(task_id="wait", delta=dt.timedelta(hours=2))
    end = dt.datetime(2024, 1, 3, tzinfo=UTC)
    context = {"data_interval_end": end}
    sensor.clock = at(end + dt.timedelta(hours=2))
    assert sensor.poke(context) is False  # strictly after, as in Airflow
    sensor.clock = at(end + dt.timedelta(hours=2, seconds=1))
    assert sensor.poke(context) is True


def test_time_sensor_compares_the_time_of_day_in_the_dags_timezone() -> None:
    with _dag("ts", BERLIN):
        sensor = TimeSensor(task_id="wait", target_time=dt.time(9, 0))
    sensor.clock = at(dt.datetime(2024, 1, 2, 7, 59, tzinfo=UTC))  # 08:59 in Berlin
    assert sensor.poke({}) is False
    sensor.clock = at(dt.datetime(2024, 1, 2, 8, 1, tzinfo=UTC))  # 09:01 in Berlin
    assert sensor.poke({}) is True


def test_date_time_sensor_parses_its_rendered_target() -> None:
    with _dag("dts"):
        sensor = DateTimeSensor(task_id="wait", target_time=dt.datetime(2024, 1, 2, 11, tzinfo=UTC))
        naive = DateTimeSensor(task_id="naive", target_time="2024-01-02T11:00:00")
    assert sensor.target_time == "2024-01-02T11:00:00+00:00" and "target_time" in sensor.template_fields
    for s in (sensor, naive):  # a naive target is UTC
        s.clock = at(dt.datetime(2024, 1, 2, 11, tzinfo=UTC))
        assert s.poke({}) is False
        s.clock = at(dt.datetime(2024, 1, 2, 11, 0, 1, tzinfo=UTC))
        assert s.poke({}) is True
    with pytest.raises(TypeError, match="target_time"):
        DateTimeSensor(task_id="bad", target_time=5, dag=_dag("bad"))


@pytest.mark.parametrize("use_logical_date", [False, True])
def test_day_of_week_sensor(use_logical_date: bool) -> None:
    with _dag(f"dow_{use_logical_date}"):
        sensor = DayOfWeekSensor(task_id="wait", week_day={"Saturday", WeekDay.SUNDAY},
                                 use_task_logical_date=use_logical_date)
    saturday, tuesday = dt.datetime(2024, 1, 6, tzinfo=UTC), dt.datetime(2024, 1, 2, tzinfo=UTC)
    sensor.clock = at(saturday if not use_logical_date else tuesday)
    assert sensor.poke({"logical_date": saturday if use_logical_date else tuesday}) is True
    sensor.clock = at(tuesday if not use_logical_date else saturday)
    assert sensor.poke({"logical_date": tuesday if use_logical_date else saturday}) is False
    with pytest.raises(AttributeError, match="Funday"):
        DayOfWeekSensor(task_id="bad", week_day="Funday", dag=_dag("bad_dow"))


def test_async_names_reschedule_and_poke_again_at_the_target() -> None:
    with _dag("async"):
        delta = TimeDeltaSensorAsync(task_id="delta", delta=dt.timedelta(minutes=5), poke_interval=600,
                                     end_from_trigger=True)
        when = DateTimeSensorAsync(task_id="when", target_time="2024-01-03T00:00:30+00:00", poke_interval=60)
        daily = TimeSensorAsync(task_id="daily", target_time=dt.time(6, 0))
    assert {delta.mode, when.mode, daily.mode} == {"reschedule"}
    end = dt.datetime(2024, 1, 3, tzinfo=UTC)
    context = {"data_interval_end": end, "logical_date": DATE}
    delta.clock = when.clock = at(end)
    assert delta._next_interval(0, context) == 300  # the target, not poke_interval (600 s) later
    assert when._next_interval(0, context) == 30
    assert not delta.poke(context) and not when.poke(context)


def test_time_sensor_async_waits_for_the_time_on_its_first_pokes_day() -> None:
    class FirstPoke:
        def sensor_started_at(self) -> dt.datetime:
            return dt.datetime(2024, 1, 2, 23, 30, tzinfo=UTC)  # already the 3rd in Berlin

    with _dag("tsa", BERLIN):
        sensor = TimeSensorAsync(task_id="wait", target_time=dt.time(6, 0))
    context = {"ti": FirstPoke()}
    assert sensor.target(context) == dt.datetime(2024, 1, 3, 6, tzinfo=BERLIN)
    sensor.clock = at(dt.datetime(2024, 1, 3, 4, 59, tzinfo=UTC))
    assert sensor.poke(context) is False
    sensor.clock = at(dt.datetime(2024, 1, 3, 5, 0, tzinfo=UTC))
    assert sensor.poke(context) is True


def test_time_sensors_in_a_run_succeed_or_time_out_by_the_clock(store) -> None:
    end = DATE  # a manual run of a daily DAG ends its interval at the logical date
    with _dag("sensor_run") as dag:
        done = TimeDeltaSensor(task_id="done", delta=dt.timedelta(hours=1), poke_interval=1)
        waiting = DateTimeSensorAsync(task_id="waiting", target_time="{{ data_interval_end.replace(hour=11) }}",
                                      timeout=0, soft_fail=True)
        failing = TimeSensor(task_id="failing", target_time=dt.time(23, 59), timeout=0, poke_interval=1)
    done.clock = at(end + dt.timedelta(hours=1, seconds=1))
    waiting.clock = failing.clock = at(end + dt.timedelta(hours=10))
    assert _states(dag, store) == {"done": TIS.SUCCESS, "waiting": TIS.SKIPPED, "failing": TIS.FAILED}
