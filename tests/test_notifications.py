"""miniflow.notifications: Airflow's BaseNotifier as task, DAG and SLA-miss callbacks."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.notifications import BaseNotifier
from miniflow.operators.python import PythonOperator

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)


class Collect(BaseNotifier):
    """Keeps its rendered message and the context's keys; no super().__init__(), as
    Airflow's own example has it."""

    template_fields = ("message", "channel")
    sent: list[tuple[str, str]] = []

    def __init__(self, message: str, channel: str = "#ops") -> None:
        self.message = message
        self.channel = channel

    def notify(self, context: dict[str, Any]) -> None:
        Collect.sent.append((self.message, self.channel))


class Broken(BaseNotifier):
    def notify(self, context: dict[str, Any]) -> None:
        raise ConnectionError("chat service down")


@pytest.fixture(autouse=True)
def _clear() -> None:
    Collect.sent = []


def boom() -> None:
    raise ValueError("boom")


def test_a_notifier_renders_its_fields_afresh_for_every_call(store: Any) -> None:
    notifier = Collect("{{ ti.task_id }} failed on {{ ds }} ({{ channel }})", channel="#{{ dag.dag_id }}")
    with DAG("notified", start_date=START, schedule=None,
             on_failure_callback=Collect("run {{ run_id }} failed")) as dag:
        PythonOperator(task_id="load", python_callable=boom, on_failure_callback=notifier)
    for day in (2, 3):
        assert run_dag_test(dag, dt.datetime(2024, 1, day, tzinfo=UTC), store=store).state == "failed"
    assert Collect.sent == [
        ("load failed on 2024-01-02 (#{{ dag.dag_id }})", "#notified"),  # a field sees the others unrendered
        ("run manual__2024-01-02T00:00:00+00:00 failed", "#ops"),
        ("load failed on 2024-01-03 (#{{ dag.dag_id }})", "#notified"),
        ("run manual__2024-01-03T00:00:00+00:00 failed", "#ops"),
    ]
    assert notifier.message.startswith("{{ ti.task_id }}")  # the DAG's notifier is never rendered in place


def test_a_notifier_that_fails_is_logged_and_changes_nothing(store: Any, caplog: pytest.LogCaptureFixture) -> None:
    with DAG("notify_broken", start_date=START, schedule=None, on_success_callback=Broken()) as dag:
        PythonOperator(task_id="load", python_callable=lambda: None, on_success_callback=Broken())
    with caplog.at_level(logging.ERROR, logger="miniflow.task"):
        result = run_dag_test(dag, dt.datetime(2024, 1, 2, tzinfo=UTC), store=store)
    assert result.state == "success"
    assert [t.state for t in result.task_instances] == ["success"]
    assert "notifier Broken failed to send its notification" in caplog.text
    assert "chat service down" in caplog.text


def test_a_notifier_as_sla_miss_callback_gets_the_misses_in_its_context() -> None:
    seen: dict[str, Any] = {}

    class Remember(BaseNotifier):
        template_fields = ("subject",)
        subject = "SLA missed in {{ dag.dag_id }}: {{ task_list }}"

        def notify(self, context: dict[str, Any]) -> None:
            seen.update(context, subject=self.subject)

    dag = DAG("sla_notified", start_date=START, schedule="@daily")
    Remember()(dag, "load on 2024-01-02", "", ["miss"], [])
    assert seen["subject"] == "SLA missed in sla_notified: load on 2024-01-02"
    assert (seen["dag"], seen["slas"], seen["blocking_tis"]) == (dag, ["miss"], [])


def test_a_template_error_in_a_notifier_is_logged_naming_it(caplog: pytest.LogCaptureFixture) -> None:
    dag = DAG("bad_template", start_date=START, schedule=None)
    with caplog.at_level(logging.ERROR, logger="miniflow.task"):
        Collect("{{ no_such_name }}")({"dag": dag})
    assert Collect.sent == []
    assert "notifier Collect: cannot render field 'message'" in caplog.text
