"""miniflow.email and EmailOperator: mail reaches a local SMTP server the test starts,
and a failing task's alert carries the link to its log."""

from __future__ import annotations

import datetime as dt
import email
import socket
from pathlib import Path
from typing import Any

import pytest

from miniflow import DAG
from miniflow.config import reset_config
from miniflow.dag_test import run_dag_test
from miniflow.email import email_addresses, send_email
from miniflow.operators.email import EmailOperator
from miniflow.operators.python import PythonOperator
from miniflow.state import TaskInstanceState as TIS

DATE = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)


def _body(message: email.message.EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def test_email_addresses_split_on_commas_and_semicolons() -> None:
    assert email_addresses("a@x.org, b@x.org;c@x.org") == ["a@x.org", "b@x.org", "c@x.org"]
    assert email_addresses(["a@x.org", "b@x.org; c@x.org"]) == ["a@x.org", "b@x.org", "c@x.org"]
    assert email_addresses(None) == []


def test_send_email_with_cc_bcc_headers_and_attachment(smtp_server: Any, tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    send_email("to@example.com", "Report", "<b>done</b>", files=[str(report)], cc="cc@example.com",
               bcc=["bcc@example.com"], custom_headers={"X-Run": "42"})
    [(rcpt, message)] = smtp_server.messages
    assert rcpt == ["to@example.com", "cc@example.com", "bcc@example.com"]
    assert message["From"] == "flows@example.com" and message["Subject"] == "Report"
    assert message["CC"] == "cc@example.com" and "bcc" not in message.as_string().lower().split("\n\n")[0]
    assert message["X-Run"] == "42" and "<b>done</b>" in _body(message)
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "report.csv" and attachment.get_content() == b"a,b\n1,2\n"


def test_email_operator_renders_its_templates(smtp_server: Any, store, dags_folder: Path) -> None:
    (dags_folder / "body.html").write_text("<p>Loaded {{ ds }} for {{ params.team }}</p>")
    with DAG("mailer", start_date=DATE, schedule=None, params={"team": "data"},
             template_searchpath=[str(dags_folder)]) as dag:
        EmailOperator(task_id="mail", to="{{ params.team }}@example.com", subject="Load {{ ds }}",
                      html_content="body.html")
    result = run_dag_test(dag, DATE, store=store)
    assert result.state == "success"
    [(rcpt, message)] = smtp_server.messages
    assert rcpt == ["data@example.com"] and message["Subject"] == "Load 2024-01-02"
    assert "<p>Loaded 2024-01-02 for data</p>" in _body(message)


def _boom() -> None:
    raise ValueError("warehouse <down>")


def test_failure_and_retry_alerts_carry_the_log_link(smtp_server: Any, store) -> None:
    with DAG("alerts", start_date=DATE, schedule=None,
             default_args={"email": "oncall@example.com; lead@example.com", "retry_delay": 0}) as dag:
        PythonOperator(task_id="flaky", python_callable=_boom, retries=1)
        PythonOperator(task_id="quiet", python_callable=_boom, email_on_failure=False)
        PythonOperator(task_id="no_retry_mail", python_callable=_boom, retries=1, email_on_retry=False)
    result = run_dag_test(dag, DATE, store=store)
    states = {ti.task_id: ti.state for ti in result.task_instances}
    assert states == {"flaky": TIS.FAILED, "quiet": TIS.FAILED, "no_retry_mail": TIS.FAILED}
    subjects = sorted(m["Subject"] for _, m in smtp_server.messages)
    run_id = result.run_id
    assert subjects == sorted([
        f"Airflow alert: <TaskInstance: alerts.flaky {run_id} [up_for_retry]>",
        f"Airflow alert: <TaskInstance: alerts.flaky {run_id} [failed]>",
        f"Airflow alert: <TaskInstance: alerts.no_retry_mail {run_id} [failed]>",
    ])
    final = next(m for _, m in smtp_server.messages if m["Subject"].endswith("alerts.flaky " + run_id + " [failed]>"))
    body = _body(final)
    quoted_run = run_id.replace(":", "%3A").replace("+", "%2B")
    assert f'href="https://flows.example.com/dags/alerts/runs/{quoted_run}/tasks/flaky?try=2"' in body
    assert "Try 2 out of 2" in body and "warehouse &lt;down&gt;" in body
    assert all(rcpt == ["oncall@example.com", "lead@example.com"] for rcpt, _ in smtp_server.messages)


def test_an_unreachable_smtp_server_does_not_change_the_state(store, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there
    monkeypatch.setenv("MINIFLOW__SMTP__SMTP_PORT", str(port))
    monkeypatch.setenv("MINIFLOW__SMTP__SMTP_RETRY_LIMIT", "1")
    reset_config()
    with DAG("alerts_down", start_date=DATE, schedule=None) as dag:
        PythonOperator(task_id="t", python_callable=_boom, email="oncall@example.com")
    result = run_dag_test(dag, DATE, store=store)
    assert [ti.state for ti in result.task_instances] == [TIS.FAILED]


def test_the_smtp_notifier_mails_from_a_callback(smtp_server: Any, store) -> None:
    from miniflow.operators.email import SmtpNotifier, send_smtp_notification

    with DAG("notified", start_date=DATE, schedule=None) as dag:
        PythonOperator(task_id="breaks", python_callable=_boom, retries=0,
                       on_failure_callback=send_smtp_notification(from_email=None, to="oncall@example.com"))
        PythonOperator(task_id="works", python_callable=lambda: 1, on_success_callback=SmtpNotifier(
            from_email="flows@example.com", to="team@example.com", subject="{{ ti.task_id }} done on {{ ds }}",
            html_content="<p>{{ params.get('note', 'all good') }}</p>"))
    result = run_dag_test(dag, DATE, store=store)
    mails = {message["To"]: message for _, message in smtp_server.messages}
    assert sorted(mails) == ["oncall@example.com", "team@example.com"]
    failed = mails["oncall@example.com"]
    assert failed["Subject"] == f"[failed] notified.breaks, run {result.run_id}"
    assert "warehouse &lt;down&gt;" in _body(failed) and "try 1" in _body(failed)
    done = mails["team@example.com"]
    assert (done["From"], done["Subject"]) == ("flows@example.com", "works done on 2024-01-02")
    assert "<p>all good</p>" in _body(done)
