"""Deferral (`miniflow.triggers`): a deferred try waits for its trigger's first event in
its own process and resumes in the method it named, as Airflow's ``dags test`` runs
triggers inline; a trigger that fails, ends without an event or times out fails it."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from miniflow import DAG
from miniflow.baseoperator import BaseOperator
from miniflow.dag_test import run_dag_test
from miniflow.sensors.base import BaseSensorOperator
from miniflow.triggers import BaseTrigger, DateTimeTrigger, TimeDeltaTrigger, TriggerEvent
from miniflow.xcom import deserialize_value

UTC = dt.timezone.utc
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)


class Payload(BaseTrigger):
    """Fires `payload` after `delay` seconds, or raises `error` instead."""

    def __init__(self, payload: Any = None, delay: float = 0.0, error: str | None = None, fire: bool = True) -> None:
        super().__init__()
        self.payload, self.delay, self.error, self.fire = payload, delay, error, fire

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{__name__}.Payload", {"payload": self.payload, "delay": self.delay}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        import asyncio

        await asyncio.sleep(self.delay)
        if self.error:
            raise ValueError(self.error)
        if self.fire:
            yield TriggerEvent(self.payload)


class Deferring(BaseOperator):
    """Defers twice (the second time from the resumed method), then returns what it got."""

    def __init__(self, trigger: BaseTrigger, timeout: dt.timedelta | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trigger, self.timeout = trigger, timeout

    def execute(self, context: dict[str, Any]) -> Any:
        try:
            self.defer(trigger=self.trigger, method_name="halfway", kwargs={"note": "first"}, timeout=self.timeout)
        except Exception:  # a deferral is no error: task code's own handlers let it through
            raise AssertionError("TaskDeferred was caught as an Exception") from None

    def halfway(self, context: dict[str, Any], event: Any, note: str) -> Any:
        self.defer(trigger=Payload("second"), method_name="done", kwargs={"before": [note, event]})

    def done(self, context: dict[str, Any], event: Any, before: list[Any]) -> Any:
        return [*before, event]


class ReturnsEvent(BaseOperator):
    def __init__(self, trigger: BaseTrigger, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.trigger = trigger

    def execute(self, context: dict[str, Any]) -> Any:
        self.defer(trigger=self.trigger, method_name="done")

    def done(self, context: dict[str, Any], event: Any = None) -> Any:
        return event.isoformat() if isinstance(event, dt.datetime) else event


def _run(store: Any, task: BaseOperator, dag: DAG) -> tuple[str, Any, str]:
    """The try's state, its return value and its log."""
    from miniflow.config import get_config

    result = run_dag_test(dag, DATE, store=store)
    ti = result.task_instances[0]
    rows = store.xcom_pull(dag.dag_id, result.run_id, [task.task_id], "return_value")
    log = (Path(get_config().get("logging", "base_log_folder")) / dag.dag_id / result.run_id / task.task_id
           / f"attempt={ti.try_number}.log")
    return ti.state, deserialize_value(rows[0].value) if rows else None, log.read_text()


def test_a_deferred_try_resumes_with_each_events_payload_and_its_kwargs(store: Any, miniflow_home: Any) -> None:
    with DAG("deferring", start_date=DATE, schedule=None) as dag:
        task = Deferring(task_id="wait", trigger=Payload({"n": 2}, delay=0.05))
    started = time.monotonic()
    state, value, log = _run(store, task, dag)
    assert (state, value) == ("success", ["first", {"n": 2}, "second"])
    assert time.monotonic() - started >= 0.05
    assert "Deferring: waiting for <test_triggers.Payload payload={'n': 2}, delay=0.05> in this process" in log


@pytest.mark.parametrize(("trigger", "timeout", "message"), [
    (Payload(delay=5), dt.timedelta(seconds=0.1), "Trigger/execution timeout"),
    (Payload(error="no route to host"), None, "Trigger failure: ValueError: no route to host"),
    (Payload(fire=False), None, "ended without an event"),
], ids=["timeout", "raises", "no event"])
def test_a_trigger_that_cannot_fire_fails_the_try(store: Any, miniflow_home: Any, trigger: BaseTrigger,
                                                  timeout: dt.timedelta | None, message: str) -> None:
    with DAG("deferral_fails", start_date=DATE, schedule=None) as dag:
        task = Deferring(task_id="wait", trigger=trigger, timeout=timeout)
    state, value, log = _run(store, task, dag)
    assert (state, value) == ("failed", None)
    assert message in log and "TaskDeferralError" in log


def test_time_triggers_and_ending_the_try_from_the_trigger(store: Any, miniflow_home: Any) -> None:
    moment = dt.datetime.now(UTC) + dt.timedelta(seconds=0.1)
    with DAG("time_triggers", start_date=DATE, schedule=None) as dag:
        ReturnsEvent(task_id="at", trigger=DateTimeTrigger(moment))
        ReturnsEvent(task_id="ended", trigger=TimeDeltaTrigger(dt.timedelta(seconds=0.05), end_from_trigger=True))
    result = run_dag_test(dag, DATE, store=store)
    assert {t.task_id: t.state for t in result.task_instances} == {"at": "success", "ended": "success"}
    assert dt.datetime.now(UTC) >= moment
    rows = store.xcom_pull(dag.dag_id, result.run_id, ["at"], "return_value")
    assert deserialize_value(rows[0].value) == moment.isoformat()
    assert store.xcom_pull(dag.dag_id, result.run_id, ["ended"], "return_value") == []  # it never resumed
    with pytest.raises(ValueError, match="naive"):
        DateTimeTrigger(dt.datetime(2024, 1, 1))


def test_a_sensor_with_soft_fail_skips_when_its_deferral_fails(store: Any, miniflow_home: Any) -> None:
    class DeferringSensor(BaseSensorOperator):  # no poke: as in Airflow, a deferring sensor needs none
        def execute(self, context: dict[str, Any]) -> Any:
            self.defer(trigger=Payload(error="gone"), method_name="done")

    with DAG("sensor_deferral", start_date=DATE, schedule=None) as dag:
        DeferringSensor(task_id="soft", soft_fail=True)
        DeferringSensor(task_id="hard")
    result = run_dag_test(dag, DATE, store=store)
    assert {t.task_id: t.state for t in result.task_instances} == {"soft": "skipped", "hard": "failed"}


def test_an_airflow_dag_file_with_its_own_trigger_loads_and_runs(write_dag, run_cli) -> None:
    write_dag("deferrable.py", """
        import asyncio
        from datetime import datetime, timedelta
        from airflow import DAG
        from airflow.models.baseoperator import BaseOperator
        from airflow.triggers.base import BaseTrigger, TriggerEvent
        from airflow.triggers.temporal import TimeDeltaTrigger


        class Ready(BaseTrigger):
            def serialize(self):
                return ("deferrable.Ready", {})

            async def run(self):
                await asyncio.sleep(0.01)
                yield TriggerEvent("ready")


        class WaitThenSay(BaseOperator):
            def execute(self, context):
                self.defer(trigger=Ready(), method_name="then")

            def then(self, context, event=None):
                self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0.01)), method_name="say",
                           kwargs={"first": event})

            def say(self, context, event=None, first=None):
                print("got", first)
                return first


        with DAG("deferrable", start_date=datetime(2024, 1, 1), schedule=None):
            WaitThenSay(task_id="wait")
    """)
    assert run_cli("db", "migrate").returncode == 0
    done = run_cli("dags", "test", "deferrable", "2024-01-05")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "got ready" in done.stdout


def test_a_deferral_outside_execute_fails_the_try(store: Any, miniflow_home: Any) -> None:
    class DefersTooEarly(Deferring):
        def pre_execute(self, context: dict[str, Any]) -> None:
            self.defer(trigger=Payload(1), method_name="done")

    with DAG("defers_early", start_date=DATE, schedule=None) as dag:
        task = DefersTooEarly(task_id="early", trigger=Payload(1))
    state, value, log = _run(store, task, dag)
    assert (state, value) == ("failed", None)
    assert "defer() was called outside execute() and the methods it resumes" in log
