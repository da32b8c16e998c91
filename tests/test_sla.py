"""SLA misses (Airflow 2 semantics, `miniflow.sla`) with an injected clock, and DAG
owner links: recorded once, reported once to the callback and by e-mail, shown in the UI."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import pytest
from werkzeug.security import generate_password_hash

from miniflow import DAG
from miniflow.exceptions import DagDefinitionError
from miniflow.operators.empty import EmptyOperator
from miniflow.scheduler import Scheduler
from miniflow.serialization import parsed_dag, task_rows
from miniflow.sla import check_slas
from miniflow.state import DagRunState
from miniflow.timetables import DataInterval

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
HOUR = dt.timedelta(hours=1)
CALLS: list[tuple[Any, ...]] = []


@pytest.fixture(autouse=True)
def _forget() -> None:
    CALLS.clear()


def remember(*args: Any) -> None:
    CALLS.append(args)


def daily(store: Any, **task_args: Any) -> DAG:
    with DAG("nightly", start_date=START, schedule="@daily", sla_miss_callback=remember) as dag:
        EmptyOperator(task_id="load", sla=HOUR, **task_args) >> EmptyOperator(task_id="report")
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    return dag


def run(store: Any, dag: DAG, day: int, states: dict[str, str]) -> None:
    """The run of logical date January `day`, its tasks in `states`."""
    when = START + dt.timedelta(days=day - 1)
    run_id = f"scheduled__{when.isoformat()}"
    store.create_run(dag.dag_id, task_rows(dag, when), run_id, when, DataInterval(when, when + dt.timedelta(days=1)),
                     "scheduled", state=DagRunState.RUNNING)
    for task_id, state in states.items():
        store.mark_tis(dag.dag_id, run_id, [task_id], state)


def test_a_late_task_is_recorded_once_under_its_runs_interval_end_and_reported_once(store: Any) -> None:
    dag = daily(store)
    run(store, dag, 1, {"load": "success", "report": "success"})
    run(store, dag, 2, {})  # due 2024-01-03 00:00; load should succeed by 01:00
    assert check_slas(store, dag, dt.datetime(2024, 1, 3, 0, 30, tzinfo=UTC)) == 0
    assert CALLS == []
    assert check_slas(store, dag, dt.datetime(2024, 1, 3, 1, 30, tzinfo=UTC)) == 1
    [(got_dag, task_list, blocking, misses, blocking_tis)] = CALLS
    assert got_dag is dag
    assert task_list == "load on 2024-01-03T00:00:00+00:00"
    assert [(m.task_id, m.execution_date) for m in misses] == [("load", dt.datetime(2024, 1, 3, tzinfo=UTC))]
    assert blocking == "" and blocking_tis == []  # no run at 2024-01-03 yet: nothing there blocks
    assert check_slas(store, dag, dt.datetime(2024, 1, 3, 2, 0, tzinfo=UTC)) == 0  # known, and reported
    assert len(CALLS) == 1
    [row] = store.sla_misses()
    assert row.notification_sent and not row.email_sent


def test_every_missed_day_since_the_last_success_counts(store: Any) -> None:
    dag = daily(store)
    run(store, dag, 1, {"load": "skipped"})  # a skip counts as done, as in Airflow
    later = dt.datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    assert check_slas(store, dag, later) == 3
    assert [m.execution_date.day for m in store.sla_misses()] == [3, 4, 5]
    run(store, dag, 3, {"load": "failed"})
    assert check_slas(store, dag, later + HOUR) == 0


def test_blocking_task_instances_are_those_not_in_success_at_the_missed_dates(store: Any) -> None:
    dag = daily(store)
    run(store, dag, 1, {"load": "success"})
    run(store, dag, 3, {"load": "failed", "report": "skipped"})
    check_slas(store, dag, dt.datetime(2024, 1, 3, 6, 0, tzinfo=UTC))
    [(_, task_list, blocking, _, blocking_tis)] = CALLS
    assert task_list == "load on 2024-01-03T00:00:00+00:00"
    assert blocking == "load on 2024-01-03T00:00:00+00:00\nreport on 2024-01-03T00:00:00+00:00"
    assert {t.state for t in blocking_tis} == {"failed", "skipped"}


def test_a_failing_callback_leaves_the_miss_to_report_again(store: Any) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("pager down")

    dag = daily(store)
    dag.sla_miss_callback = broken
    run(store, dag, 1, {"load": "success"})
    assert check_slas(store, dag, dt.datetime(2024, 1, 3, 2, 0, tzinfo=UTC)) == 1
    [row] = store.sla_misses()
    assert not row.notification_sent


def test_the_miss_is_mailed_to_the_tasks_email(store: Any, smtp_server: Any) -> None:
    dag = daily(store, email=["oncall@example.com"])
    dag.sla_miss_callback = None
    run(store, dag, 1, {"load": "success"})
    check_slas(store, dag, dt.datetime(2024, 1, 3, 2, 0, tzinfo=UTC))
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["oncall@example.com"]
    assert message["Subject"] == "[miniflow] SLA miss on DAG=nightly"
    assert "load on 2024-01-03T00:00:00+00:00" in message.get_body(("html",)).get_content()
    [row] = store.sla_misses()
    assert row.notification_sent and row.email_sent


def test_unscheduled_and_paused_dags_are_not_checked(store: Any) -> None:
    with DAG("manual_only", start_date=START, schedule=None, sla_miss_callback=remember) as manual:
        EmptyOperator(task_id="load", sla=HOUR)
    dag = daily(store)
    store.sync_dags([parsed_dag(manual)], paused_by_default=False)
    for each in (dag, manual):
        run(store, each, 1, {"load": "success"})
    scheduler = Scheduler(store, executor=None)  # type: ignore[arg-type]
    scheduler.dags = {"nightly": dag, "manual_only": manual}
    store.set_paused("nightly", True)
    assert scheduler.check_slas(dt.datetime(2024, 2, 1, tzinfo=UTC)) == 0
    store.set_paused("nightly", False)
    assert scheduler.check_slas(dt.datetime(2024, 1, 3, 2, 0, tzinfo=UTC)) == 1
    assert {m.dag_id for m in store.sla_misses()} == {"nightly"}


def test_owner_links_must_be_http_or_mailto() -> None:
    DAG("ok", owner_links={"ann": "mailto:ann@example.com", "bob": "https://example.com/bob"})
    for bad in ("javascript://x/alert(1)", "example.com/bob", "ftp://example.com", "mailto:"):
        with pytest.raises(DagDefinitionError, match=r"owner_links\['bob'\] = .* is not an http\(s\) or mailto link"):
            DAG("bad", owner_links={"bob": bad})


def test_owners_are_links_in_the_ui_and_sla_misses_are_listed(store: Any) -> None:
    from miniflow.web import create_app

    with DAG("owned", start_date=START, schedule="@daily", default_args={"owner": "ann, bob"},
             owner_links={"ann": "mailto:ann@example.com"}) as dag:
        EmptyOperator(task_id="load", sla=HOUR)
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    run(store, dag, 1, {"load": "success"})
    check_slas(store, dag, dt.datetime(2024, 1, 3, 2, 0, tzinfo=UTC))
    store.create_user("admin", generate_password_hash("password", "pbkdf2:sha256:1"), "Admin")
    client = create_app(store, testing=True).test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"username": "admin", "password": "password", "csrf_token": token})
    listing = client.get("/").get_data(as_text=True)
    assert '<a href="mailto:ann@example.com" target="_blank" rel="noopener noreferrer">ann</a>, bob' in listing
    page = client.get("/sla-misses").get_data(as_text=True)
    assert re.search(r"owned</a></td><td>load</td><td>2024-01-03", page)


SLA_DAG_FILE = """
import datetime as dt
import os

from miniflow import DAG
from miniflow.operators.empty import EmptyOperator


def missed(dag, task_list, blocking, misses, blocking_tis):
    with open(__OUT__, "a") as out:
        out.write(f"{os.getpid()} {task_list}\\n")


with DAG("nightly", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule="@daily",
         sla_miss_callback=missed) as dag:
    EmptyOperator(task_id="load", sla=dt.timedelta(hours=1)) >> EmptyOperator(task_id="report")
"""


def test_the_scheduler_checks_a_rebuilt_dags_slas_in_a_child_that_imports_its_file(store: Any, write_dag: Any,
                                                                                  tmp_path: Any) -> None:
    from miniflow.dagbag import DagBag
    from miniflow.serialized_dag import deserialize_dag

    out = tmp_path / "missed.txt"
    path = write_dag("nightly.py", SLA_DAG_FILE.replace("__OUT__", repr(str(out))))
    parsed = DagBag(path, include_examples=False, serialized=True).parsed["nightly"]
    store.sync_dags([parsed], paused_by_default=False)
    dag = deserialize_dag(parsed.data, import_timeout=30)
    run(store, dag, 1, {"load": "success", "report": "success"})
    run(store, dag, 2, {})
    scheduler = Scheduler(store, executor=None)  # type: ignore[arg-type]
    scheduler.dags = {"nightly": dag}
    assert scheduler.check_slas(dt.datetime(2024, 1, 3, 1, 30, tzinfo=UTC)) == 1
    [line] = out.read_text().splitlines()
    pid, task_list = line.split(" ", 1)
    assert int(pid) != os.getpid() and task_list == "load on 2024-01-03T00:00:00+00:00"
    [row] = store.sla_misses()
    assert row.notification_sent
