"""
### Monitoring: retries, alerts and an SLA check

- **Retries with exponential backoff.** `call_flaky_service` fails its first try (a
  simulated connection error; the param `failures_before_success` sets how many tries
  fail). With `retries=3`, `retry_delay=1s` and `retry_exponential_backoff=True` the
  waits double per try (1 s, 2-4 s, 4-8 s with Airflow's deterministic jitter), capped
  by `max_retry_delay`. The delays are short so the demo ends quickly; use minutes in
  production.
- **Alerts.** Every task has `on_failure_callback=send_alert` (through `default_args`):
  when a task fails for good, the callback writes an ALERT line to the task log and,
  if the environment variable `MONITORING_WEBHOOK_URL` or the Variable
  `monitoring_webhook_url` is set, POSTs the alert as JSON to that URL (5 s timeout;
  an unreachable webhook is logged, never fatal). `on_retry_callback` logs each retry.
- **SLA check.** `check_sla` compares the time since the run started
  (`dag_run.start_date`) with the param `sla_seconds`. Over it, `sla_action="warn"`
  (the default) logs a warning; `sla_action="fail"` fails the task, which sends the
  alert. Try it: `miniflow dags test monitoring -c '{"sla_seconds": 0, "sla_action": "fail"}'`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import urllib.request
from typing import Any

from miniflow import Param
from miniflow.decorators import dag, task
from miniflow.exceptions import TaskFailNow

# A child of the task logger, so these lines land in the task's log file.
log = logging.getLogger("miniflow.task.monitoring")

WEBHOOK_TIMEOUT_SECONDS = 5


def webhook_url() -> str | None:
    """``MONITORING_WEBHOOK_URL`` from the environment, else the Variable."""
    from miniflow.variables import Variable

    return os.environ.get("MONITORING_WEBHOOK_URL") or Variable.get("monitoring_webhook_url", default_var=None)


def post_json(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_SECONDS) -> int:
    """POST `payload` as JSON; returns the HTTP status."""
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "miniflow-example-monitoring"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status


def send_alert(context: dict[str, Any]) -> None:
    """on_failure_callback: log the failure and POST it to the webhook, if one is set."""
    ti = context["ti"]
    payload = {
        "event": "task_failed",
        "dag_id": ti.dag_id,
        "task_id": ti.task_id,
        "run_id": ti.run_id,
        "logical_date": context["logical_date"].isoformat(),
        "try_number": ti.try_number,
        "error": repr(context.get("exception")),
    }
    log.error("ALERT %s", json.dumps(payload))
    url = webhook_url()
    if not url:
        return
    try:
        status = post_json(url, payload)
        log.info("Alert sent to the webhook (HTTP %s)", status)
    except OSError as exc:  # unreachable, timed out, HTTP error: the alert is in the log anyway
        log.warning("Could not send the alert to the webhook: %s", exc)


def log_retry(context: dict[str, Any]) -> None:
    """on_retry_callback: one line per failed try that will be retried."""
    ti = context["ti"]
    log.warning("Try %s of %s.%s failed (%r); it will be retried", ti.try_number, ti.dag_id, ti.task_id,
                context.get("exception"))


@dag(
    dag_id="monitoring",
    doc_md=__doc__,
    schedule="@hourly",
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "ops",
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(seconds=30),
        "on_failure_callback": send_alert,
        "on_retry_callback": log_retry,
    },
    params={
        "failures_before_success": Param(1, type="integer", minimum=0,
                                         description="How many tries of call_flaky_service fail"),
        "sla_seconds": Param(300, type="number", minimum=0, description="Longest acceptable run, in seconds"),
        "sla_action": Param("warn", enum=["warn", "fail"], description="What a missed SLA does"),
    },
    tags=["example", "monitoring"],
)
def monitoring() -> None:
    @task
    def call_flaky_service(ti: Any = None, params: Any = None) -> str:
        """Fails its first tries, as a service that is briefly down would."""
        if ti.try_number <= params["failures_before_success"]:
            raise ConnectionError(f"service unavailable (try {ti.try_number})")
        return f"answered on try {ti.try_number}"

    @task
    def process(answer: str) -> int:
        time.sleep(0.2)  # stands in for real work
        log.info("Processing the answer: %s", answer)
        return len(answer)

    @task
    def check_sla(size: int, dag_run: Any = None, params: Any = None) -> float:
        """How long the run has taken so far, against the SLA."""
        started = dag_run.start_date or dt.datetime.now(dt.timezone.utc)
        elapsed = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
        limit = params["sla_seconds"]
        if elapsed <= limit:
            log.info("SLA met: the run took %.1f s of %s s allowed", elapsed, limit)
            return elapsed
        message = f"SLA missed: the run took {elapsed:.1f} s, more than the {limit} s allowed"
        if params["sla_action"] == "fail":
            raise TaskFailNow(message)
        log.warning(message)
        return elapsed

    check_sla(process(call_flaky_service()))


monitoring()
