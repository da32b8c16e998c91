"""miniflow.runner: one try of one task instance, checked through whole in-process runs.

Runs go through `run_dag_test` on the `store` fixture (SQLite and PostgreSQL); where a
test must look at a try in the middle of a run (a retry's delay, a sensor waiting in
reschedule mode) it queues one task instance and calls `run_task_instance` itself.
The expected outcomes are Airflow 2.10's: retries and their delays, execution_timeout,
the skip and fail-now exceptions, XCom, templating, callbacks, the Bash and Python
operators, sensors, and one log file per try.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from miniflow import DAG, task
from miniflow.context import context_to_airflow_vars
from miniflow.dag_test import run_dag_test, run_until_done
from miniflow.dagbag import DagBag
from miniflow.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException, DagDefinitionError
from miniflow.hooks.subprocess import SubprocessHook
from miniflow.operators.bash import BashOperator
from miniflow.operators.python import PythonOperator
from miniflow.retries import retry_wait
from miniflow.runner import run_task_instance
from miniflow.sensors.filesystem import FileSensor
from miniflow.sensors.python import PythonSensor
from miniflow.serialization import parsed_dag
from miniflow.state import DagRunState
from miniflow.state import TaskInstanceState as TIS
from miniflow.taskinstancekey import TaskInstanceKey
from miniflow.triggering import trigger_dag_run
from miniflow.xcom import deserialize_value

UTC = dt.timezone.utc
START = dt.datetime(2024, 1, 1, tzinfo=UTC)
DATE = dt.datetime(2024, 1, 2, tzinfo=UTC)
RUN_ID = f"manual__{DATE.isoformat()}"
NO_DELAY = dt.timedelta(0)


def new_dag(dag_id: str, **kwargs: Any) -> DAG:
    kwargs.setdefault("schedule", None)
    return DAG(dag_id, start_date=START, **kwargs)


def run(dag: DAG, store: Any, conf: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Run the DAG for DATE; returns the result and its task-instance rows by task id."""
    result = run_dag_test(dag, DATE, conf, store=store)
    return result, {ti.task_id: ti for ti in result.task_instances}


def xcom(store: Any, dag_id: str, task_id: str, key: str = "return_value") -> Any:
    rows = store.xcom_pull(dag_id, RUN_ID, [task_id], key)
    assert len(rows) <= 1
    return deserialize_value(rows[0].value) if rows else None


def xcom_keys(store: Any, dag_id: str, task_id: str) -> set[str]:
    return {r.key for r in store.xcom_pull(dag_id, RUN_ID, [task_id], None)}


def log_file(home: Path, dag_id: str, task_id: str, try_number: int, run_id: str = RUN_ID) -> Path:
    return home / "logs" / dag_id / run_id / task_id / f"attempt={try_number}.log"


def log_text(home: Path, dag_id: str, task_id: str, try_number: int) -> str:
    return log_file(home, dag_id, task_id, try_number).read_text()


def start_run(dag: DAG, store: Any, conf: dict[str, Any] | None = None) -> None:
    """Create the manual run for DATE (as ``miniflow dags trigger`` does); no task started."""
    store.sync_dags([parsed_dag(dag)])
    trigger_dag_run(store, dag.dag_id, conf, RUN_ID, DATE)


def run_one_try(dag: DAG, store: Any, task_id: str) -> TIS | None:
    """Queue one task instance and run one try of it, as a worker would."""
    assert len(store.set_ti_states(dag.dag_id, RUN_ID, [task_id], TIS.QUEUED,
                                   [None, TIS.UP_FOR_RETRY, TIS.UP_FOR_RESCHEDULE])) == 1
    return run_task_instance(store, dag, TaskInstanceKey(dag.dag_id, RUN_ID, task_id))


def ok() -> str:
    return "ok"


def boom() -> None:
    raise ValueError("boom")


# --- retries ---------------------------------------------------------------------------


def test_retries_until_success(store, miniflow_home: Path) -> None:
    tries: list[int] = []

    def flaky(ti) -> str:
        tries.append(ti.try_number)
        if len(tries) < 3:
            raise ValueError(f"flake number {len(tries)}")
        return "finally"

    with new_dag("retry_ok") as dag:
        PythonOperator(task_id="flaky", python_callable=flaky, retries=2, retry_delay=NO_DELAY)
    result, tis = run(dag, store)
    assert result.state == "success"
    assert tis["flaky"].state == TIS.SUCCESS
    assert tis["flaky"].try_number == 3
    assert tries == [1, 2, 3]
    history = store.ti_history(TaskInstanceKey("retry_ok", RUN_ID, "flaky"))
    assert [(h.try_number, h.state) for h in history] == [
        (1, "up_for_retry"), (2, "up_for_retry"), (3, "success")]
    assert "flake number 1" in log_text(miniflow_home, "retry_ok", "flaky", 1)
    assert "flake number 2" in log_text(miniflow_home, "retry_ok", "flaky", 2)
    assert "flake number" not in log_text(miniflow_home, "retry_ok", "flaky", 3)
    assert xcom(store, "retry_ok", "flaky") == "finally"


def test_retries_exhausted_fails(store) -> None:
    with new_dag("retry_fail") as dag:
        bad = PythonOperator(task_id="bad", python_callable=boom, retries=2, retry_delay=NO_DELAY)
        bad >> PythonOperator(task_id="after", python_callable=ok)
    result, tis = run(dag, store)
    assert result.state == "failed"
    assert tis["bad"].state == TIS.FAILED
    assert tis["bad"].try_number == 3
    assert tis["after"].state == TIS.UPSTREAM_FAILED
    assert [h.state for h in store.ti_history(TaskInstanceKey("retry_fail", RUN_ID, "bad"))] == [
        "up_for_retry", "up_for_retry", "failed"]


def test_retries_from_default_args(store) -> None:
    calls = []

    def fails_twice() -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise ValueError("not yet")

    with new_dag("retry_defaults", default_args={"retries": 2, "retry_delay": NO_DELAY}) as dag:
        PythonOperator(task_id="t", python_callable=fails_twice)
        PythonOperator(task_id="own", python_callable=boom, retries=0)
    _, tis = run(dag, store)
    assert tis["t"].state == TIS.SUCCESS
    assert tis["t"].try_number == 3
    assert tis["own"].state == TIS.FAILED
    assert tis["own"].try_number == 1


def test_retry_delay_is_waited(store) -> None:
    stamps: list[float] = []

    def fails_once() -> None:
        stamps.append(time.monotonic())
        if len(stamps) == 1:
            raise ValueError("first try fails")

    with new_dag("retry_wait_1s") as dag:
        PythonOperator(task_id="t", python_callable=fails_once, retries=1, retry_delay=dt.timedelta(seconds=1))
    result, tis = run(dag, store)
    assert result.state == "success"
    assert tis["t"].try_number == 2
    assert stamps[1] - stamps[0] >= 0.95
    first, second = store.ti_history(TaskInstanceKey("retry_wait_1s", RUN_ID, "t"))
    assert (second.start_date - first.end_date).total_seconds() >= 0.8


def test_retry_delay_given_in_seconds_and_zero_delay(store) -> None:
    """retry_delay may be a number of seconds, as in Airflow; 0 retries at once."""
    calls: list[float] = []

    def fails_once() -> None:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise ValueError("again")

    with new_dag("retry_zero") as dag:
        PythonOperator(task_id="t", python_callable=fails_once, retries=1, retry_delay=0)
    started = time.monotonic()
    result, tis = run(dag, store)
    assert result.state == "success"
    assert tis["t"].try_number == 2
    assert time.monotonic() - started < 5


def _airflow_backoff(delay_s: float, try_number: int, key: str) -> int:
    """Airflow 2.10's TaskInstance.next_retry_datetime, before the caps."""
    base = max(1, math.ceil(delay_s * 2 ** (try_number - 1)))
    digest = int(hashlib.sha1(f"{key}#{try_number}".encode()).hexdigest(), 16)
    return base + digest % base


@pytest.mark.parametrize("delay_s", [0, 0.3, 1, 10, 300])
@pytest.mark.parametrize("try_number", [1, 2, 3, 6])
def test_retry_wait_exponential_formula(delay_s: float, try_number: int) -> None:
    key = "my_dag#my_task#2024-01-02T00:00:00+00:00"
    wait = retry_wait(dt.timedelta(seconds=delay_s), try_number, True, None, key)
    expected = _airflow_backoff(delay_s, try_number, key)
    assert wait == dt.timedelta(seconds=expected)
    base = max(1, math.ceil(delay_s * 2 ** (try_number - 1)))
    assert base <= wait.total_seconds() < 2 * base
    # deterministic: the same task instance and try always wait the same
    assert retry_wait(dt.timedelta(seconds=delay_s), try_number, True, None, key) == wait


def test_retry_wait_jitter_depends_on_the_key() -> None:
    waits = {retry_wait(dt.timedelta(seconds=100), 3, True, None, f"d#t#{i}") for i in range(20)}
    assert len(waits) > 1
    assert all(dt.timedelta(seconds=400) <= w < dt.timedelta(seconds=800) for w in waits)


def test_retry_wait_caps() -> None:
    key = "d#t#2024-01-02T00:00:00+00:00"
    delay = dt.timedelta(seconds=10)
    # max_retry_delay caps the backoff
    assert retry_wait(delay, 5, True, dt.timedelta(seconds=30), key) == dt.timedelta(seconds=30)
    # ... but never raises a shorter wait
    short = retry_wait(delay, 1, True, None, key)
    assert retry_wait(delay, 1, True, dt.timedelta(hours=1), key) == short
    # Airflow's absolute cap (core.max_task_retry_delay): one day, even after many tries
    assert retry_wait(delay, 40, True, None, key) == dt.timedelta(days=1)
    assert retry_wait(delay, 40, True, dt.timedelta(days=3), key) == dt.timedelta(days=1)


def test_retry_wait_without_backoff_is_the_delay() -> None:
    for n in (1, 2, 7):
        assert retry_wait(dt.timedelta(seconds=7), n) == dt.timedelta(seconds=7)
        assert retry_wait(dt.timedelta(seconds=7), n, False, dt.timedelta(seconds=1)) == dt.timedelta(seconds=7)


def test_runner_schedules_the_retry_with_exponential_backoff(store) -> None:
    with new_dag("backoff") as dag:
        PythonOperator(task_id="t", python_callable=boom, retries=3, retry_delay=dt.timedelta(seconds=10),
                       retry_exponential_backoff=True, max_retry_delay=dt.timedelta(seconds=35))
        PythonOperator(task_id="capped", python_callable=boom, retries=3, retry_delay=dt.timedelta(seconds=100),
                       retry_exponential_backoff=True, max_retry_delay=dt.timedelta(seconds=35))
    start_run(dag, store)
    assert run_one_try(dag, store, "t") == TIS.UP_FOR_RETRY
    row = store.get_ti(TaskInstanceKey("backoff", RUN_ID, "t"))
    assert row.state == TIS.UP_FOR_RETRY
    assert row.try_number == 1
    wait = (row.next_try_at - row.end_date).total_seconds()
    assert 10 - 1 <= wait < 20  # try 1: [retry_delay, 2 * retry_delay)
    assert run_one_try(dag, store, "t") == TIS.UP_FOR_RETRY
    row = store.get_ti(TaskInstanceKey("backoff", RUN_ID, "t"))
    wait = (row.next_try_at - row.end_date).total_seconds()
    assert 20 - 1 <= wait <= 35  # try 2: [20, 40), capped at 35
    assert run_one_try(dag, store, "capped") == TIS.UP_FOR_RETRY
    row = store.get_ti(TaskInstanceKey("backoff", RUN_ID, "capped"))
    assert 35 - 1 <= (row.next_try_at - row.end_date).total_seconds() <= 35


# --- execution_timeout, skip and fail-now --------------------------------------------


def test_execution_timeout_fails_a_python_task_and_counts_as_a_try(store, miniflow_home: Path) -> None:
    with new_dag("timeout_py") as dag:
        PythonOperator(task_id="slow", python_callable=lambda: time.sleep(30), retries=1, retry_delay=NO_DELAY,
                       execution_timeout=dt.timedelta(seconds=0.3))
    started = time.monotonic()
    result, tis = run(dag, store)
    assert time.monotonic() - started < 10
    assert result.state == "failed"
    assert tis["slow"].state == TIS.FAILED
    assert tis["slow"].try_number == 2
    assert [h.state for h in store.ti_history(TaskInstanceKey("timeout_py", RUN_ID, "slow"))] == ["up_for_retry", "failed"]
    assert "timed out" in log_text(miniflow_home, "timeout_py", "slow", 1).lower()


def _process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")  # a zombie is dead, just not reaped


def test_execution_timeout_kills_the_bash_command(store, tmp_path: Path) -> None:
    pid_file = tmp_path / "sleep.pid"
    with new_dag("timeout_bash") as dag:
        BashOperator(task_id="sleepy", bash_command=f"sleep 30 & echo $! > {pid_file}; wait",
                     execution_timeout=dt.timedelta(seconds=1))
    started = time.monotonic()
    result, tis = run(dag, store)
    assert time.monotonic() - started < 10
    assert result.state == "failed"
    assert tis["sleepy"].state == TIS.FAILED
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while not _process_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _process_gone(pid), "the command's child 'sleep 30' still runs after the timeout"


def test_skip_exception_skips(store, miniflow_home: Path) -> None:
    def skip() -> None:
        raise AirflowSkipException("nothing to do today")

    with new_dag("skipper") as dag:
        PythonOperator(task_id="t", python_callable=skip, retries=2, retry_delay=NO_DELAY)
    result, tis = run(dag, store)
    assert result.state == "success"
    assert tis["t"].state == TIS.SKIPPED
    assert tis["t"].try_number == 1
    assert "nothing to do today" in log_text(miniflow_home, "skipper", "t", 1)


def test_fail_exception_fails_without_retry(store) -> None:
    calls = []

    def fail_now() -> None:
        calls.append(1)
        raise AirflowFailException("bad input, retrying will not help")

    with new_dag("fail_now") as dag:
        PythonOperator(task_id="t", python_callable=fail_now, retries=3, retry_delay=NO_DELAY)
    result, tis = run(dag, store)
    assert result.state == "failed"
    assert tis["t"].state == TIS.FAILED
    assert tis["t"].try_number == 1
    assert calls == [1]
    assert [h.state for h in store.ti_history(TaskInstanceKey("fail_now", RUN_ID, "t"))] == ["failed"]


# --- XCom ------------------------------------------------------------------------------


def test_xcom_between_python_operators(store) -> None:
    seen: dict[str, Any] = {}

    def push(ti) -> dict[str, Any]:
        ti.xcom_push(key="rows", value=[1, 2, 3])
        ti.xcom_push(key="meta", value={"source": "api"})
        return {"count": 3}

    def other() -> str:
        return "other value"

    def pull(ti) -> None:
        seen["return"] = ti.xcom_pull(task_ids="push")
        seen["rows"] = ti.xcom_pull(task_ids="push", key="rows")
        seen["meta"] = ti.xcom_pull(task_ids="push", key="meta")
        seen["list"] = ti.xcom_pull(task_ids=["other", "push"])
        seen["missing"] = ti.xcom_pull(task_ids="push", key="nope")
        seen["missing_default"] = ti.xcom_pull(task_ids="push", key="nope", default="dflt")

    with new_dag("xcom_py") as dag:
        [PythonOperator(task_id="push", python_callable=push),
         PythonOperator(task_id="other", python_callable=other)] >> PythonOperator(task_id="pull", python_callable=pull)
    result, _ = run(dag, store)
    assert result.state == "success"
    assert seen == {
        "return": {"count": 3},
        "rows": [1, 2, 3],
        "meta": {"source": "api"},
        "list": ["other value", {"count": 3}],
        "missing": None,
        "missing_default": "dflt",
    }
    assert xcom_keys(store, "xcom_py", "push") == {"return_value", "rows", "meta"}
    assert xcom_keys(store, "xcom_py", "pull") == set()  # returned None: nothing pushed


def test_xcom_of_a_failed_try_is_cleared_before_the_retry(store) -> None:
    seen = {}

    def flaky(ti) -> None:
        if ti.try_number == 1:
            ti.xcom_push(key="partial", value="from try 1")
            raise ValueError("first try fails")

    with new_dag("xcom_retry") as dag:
        first = PythonOperator(task_id="flaky", python_callable=flaky, retries=1, retry_delay=NO_DELAY)
        first >> PythonOperator(task_id="pull", python_callable=lambda ti: seen.update(
            v=ti.xcom_pull(task_ids="flaky", key="partial")))
    result, _ = run(dag, store)
    assert result.state == "success"
    assert seen == {"v": None}


def test_xcom_between_taskflow_functions(store) -> None:
    got: dict[str, Any] = {}

    with new_dag("xcom_taskflow") as dag:
        @task
        def extract() -> dict[str, int]:  # a dict return type: multiple_outputs inferred
            return {"a": 1, "b": 2}

        @task(multiple_outputs=True)
        def pair():
            return {"x": "X", "y": [1, 2]}

        @task
        def add(a: int, b: int) -> int:
            return a + b

        @task
        def collect(total: int, x: str, y: list[int], whole: dict[str, Any]) -> None:
            got.update(total=total, x=x, y=y, whole=whole)

        numbers = extract()
        both = pair()
        collect(add(numbers["a"], numbers["b"]), both["x"], both["y"], both)
    result, tis = run(dag, store)
    assert result.state == "success"
    assert set(tis) == {"extract", "pair", "add", "collect"}
    assert got == {"total": 3, "x": "X", "y": [1, 2], "whole": {"x": "X", "y": [1, 2]}}
    assert xcom_keys(store, "xcom_taskflow", "extract") == {"a", "b", "return_value"}
    assert xcom(store, "xcom_taskflow", "extract", "a") == 1
    assert xcom(store, "xcom_taskflow", "pair", "y") == [1, 2]
    assert xcom(store, "xcom_taskflow", "add") == 3


def test_taskflow_output_feeds_a_classic_operator(store) -> None:
    got = {}
    with new_dag("xcom_mixed") as dag:
        @task
        def make() -> str:
            return "made"

        PythonOperator(task_id="use", python_callable=lambda v, w: got.update(v=v, w=w),
                       op_kwargs={"v": make(), "w": "{{ ds }}"})
        classic = PythonOperator(task_id="classic", python_callable=lambda: [7, 8])
        PythonOperator(task_id="use_classic", python_callable=lambda v: got.update(c=v), op_args=[classic.output])
    result, _ = run(dag, store)
    assert result.state == "success"
    assert got == {"v": "made", "w": "2024-01-02", "c": [7, 8]}
    assert "make" in dag.get_task("use").upstream_task_ids
    assert "classic" in dag.get_task("use_classic").upstream_task_ids


def test_bash_last_line_is_the_xcom_and_do_xcom_push_false(store) -> None:
    with new_dag("xcom_bash") as dag:
        BashOperator(task_id="lines", bash_command="echo first; echo second; echo 'the last line'")
        BashOperator(task_id="silent", bash_command="echo nothing to keep", do_xcom_push=False)
        PythonOperator(task_id="py_silent", python_callable=lambda: "x", do_xcom_push=False)
    result, _ = run(dag, store)
    assert result.state == "success"
    assert xcom(store, "xcom_bash", "lines") == "the last line"
    assert xcom_keys(store, "xcom_bash", "silent") == set()
    assert xcom_keys(store, "xcom_bash", "py_silent") == set()


def test_a_return_value_that_is_not_json_fails_with_a_clear_message(store, miniflow_home: Path) -> None:
    class Opaque:
        pass

    with new_dag("xcom_bad") as dag:
        PythonOperator(task_id="bad", python_callable=lambda: Opaque())
        PythonOperator(task_id="bad_push", python_callable=lambda ti: ti.xcom_push(key="k", value=Opaque()))
    result, tis = run(dag, store)
    assert result.state == "failed"
    assert tis["bad"].state == TIS.FAILED
    assert tis["bad_push"].state == TIS.FAILED
    for task_id in ("bad", "bad_push"):
        text = log_text(miniflow_home, "xcom_bad", task_id, 1)
        assert "JSON" in text and "Opaque" in text
        assert xcom_keys(store, "xcom_bad", task_id) == set()


# --- templating ------------------------------------------------------------------------


def test_templates_render_airflow_context(store) -> None:
    got: dict[str, Any] = {}
    templates = {
        "ds": "{{ ds }}",
        "ds_nodash": "{{ ds_nodash }}",
        "ts": "{{ ts }}",
        "ts_nodash": "{{ ts_nodash }}",
        "logical_date": "{{ logical_date.isoformat() }}",
        "execution_date": "{{ execution_date | ds }}",
        "start": "{{ data_interval_start.isoformat() }}",
        "end": "{{ data_interval_end.isoformat() }}",
        "param_x": "{{ params.x }}",
        "param_y": "{{ params['y'] }}",
        "conf": "{{ dag_run.conf }}",
        "conf_x": "{{ dag_run.conf['x'] }}",
        "run_id": "{{ run_id }}",
        "ds_add": "{{ macros.ds_add(ds, 5) }}",
        "ds_sub": "{{ macros.ds_add(ds, -2) }}",
        "pulled": "{{ ti.xcom_pull(task_ids='push') }}",
        "ids": "{{ dag.dag_id }}.{{ task.task_id }}",
    }

    with new_dag("templating", schedule="@daily", params={"x": "from dag", "y": "kept"}) as dag:
        push = PythonOperator(task_id="push", python_callable=lambda: "pushed value")
        push >> PythonOperator(task_id="show", python_callable=lambda templates_dict: got.update(templates_dict),
                               templates_dict=templates)
    result, tis = run(dag, store, conf={"x": "from conf"})
    assert result.state == "success", tis
    assert got == {
        "ds": "2024-01-02",
        "ds_nodash": "20240102",
        "ts": "2024-01-02T00:00:00+00:00",
        "ts_nodash": "20240102T000000",
        "logical_date": "2024-01-02T00:00:00+00:00",
        "execution_date": "2024-01-02",
        # a manual run of a daily DAG covers the day that ended at its logical date
        "start": "2024-01-01T00:00:00+00:00",
        "end": "2024-01-02T00:00:00+00:00",
        "param_x": "from conf",
        "param_y": "kept",
        "conf": "{'x': 'from conf'}",
        "conf_x": "from conf",
        "run_id": RUN_ID,
        "ds_add": "2024-01-07",
        "ds_sub": "2023-12-31",
        "pulled": "pushed value",
        "ids": "templating.show",
    }
    assert tis["show"].rendered_fields["templates_dict"]["ds"] == "2024-01-02"


def test_context_dates_are_pendulum_and_prev_success_values_come_from_the_last_successful_run(store) -> None:
    """As in Airflow: the dates are pendulum DateTimes, so templates call ``in_timezone``
    and ``add``; ``prev_*_success`` are those of the latest successful earlier run (None
    before there is one), read only when used."""
    got: list[dict[str, Any]] = []
    templates = {
        "paris": "{{ data_interval_end.in_timezone('Europe/Paris').isoformat() }}",
        "next_day": "{{ logical_date.add(days=1) | ds }}",
        "prev_start": "{{ prev_data_interval_start_success }}",
        "prev_end": "{{ prev_data_interval_end_success | ds if prev_data_interval_end_success else 'none' }}",
        "prev_date": "{{ prev_execution_date_success }}",
        "prev_started": "{{ 'yes' if prev_start_date_success and prev_end_date_success else 'no' }}",
    }
    with new_dag("prev_success", schedule="@daily") as dag:
        PythonOperator(task_id="show", python_callable=lambda templates_dict: got.append(templates_dict),
                       templates_dict=templates)
    for day in (DATE, DATE + dt.timedelta(days=1)):
        assert run_dag_test(dag, day, store=store).state == "success"
    assert got[0] == {"paris": "2024-01-02T01:00:00+01:00", "next_day": "2024-01-03", "prev_start": "None",
                      "prev_end": "none", "prev_date": "None", "prev_started": "no"}
    assert got[1] == {"paris": "2024-01-03T01:00:00+01:00", "next_day": "2024-01-04",
                      "prev_start": "2024-01-01 00:00:00+00:00", "prev_end": "2024-01-02",
                      "prev_date": "2024-01-02 00:00:00+00:00", "prev_started": "yes"}


def test_params_without_conf_use_the_dag_defaults(store) -> None:
    with new_dag("params_default", params={"x": "from dag"}) as dag:
        BashOperator(task_id="echo", bash_command="echo {{ params.x }}-{{ dag_run.conf.get('x', 'none') }}")
    result, _ = run(dag, store)
    assert result.state == "success"
    assert xcom(store, "params_default", "echo") == "from dag-none"


def test_template_file_next_to_the_dag_file(store, write_dag, dags_folder: Path) -> None:
    (dags_folder / "scripts").mkdir()
    (dags_folder / "scripts" / "report.sh").write_text(
        'echo "report for {{ ds }} by {{ params.who }} in {{ task.task_id }}"\n')
    write_dag("templated_file.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("templated_file", start_date=datetime(2024, 1, 1), schedule=None,
                 params={"who": "nobody"}) as dag:
            BashOperator(task_id="report", bash_command="scripts/report.sh")
    """)
    bag = DagBag(dags_folder, include_examples=False)
    assert not bag.import_errors
    result, _ = run(bag.get_dag("templated_file"), store, conf={"who": "ana"})
    assert result.state == "success"
    assert xcom(store, "templated_file", "report") == "report for 2024-01-02 by ana in report"


def test_a_bad_op_kwargs_fails_the_try_not_the_file(store, miniflow_home: Path) -> None:
    with new_dag("bad_kwargs") as dag:  # a set where a dict belongs: Airflow loads it too
        PythonOperator(task_id="t", python_callable=ok, op_kwargs={11}, retries=0)
    result, tis = run(dag, store)
    assert tis["t"].state == TIS.FAILED
    assert "'set' object is not a mapping" in log_text(miniflow_home, "bad_kwargs", "t", 1)


def test_undefined_template_variable_fails_the_task_with_a_message(store, miniflow_home: Path) -> None:
    ran = []
    with new_dag("undefined") as dag:
        BashOperator(task_id="bad", bash_command="echo {{ no_such_name }}", retries=0)
        PythonOperator(task_id="bad_py", python_callable=lambda: ran.append(1), op_args=["{{ params.missing.x }}"])
    result, tis = run(dag, store)
    assert result.state == "failed"
    assert tis["bad"].state == TIS.FAILED
    assert tis["bad_py"].state == TIS.FAILED
    assert ran == []
    assert "'no_such_name' is undefined" in log_text(miniflow_home, "undefined", "bad", 1)
    assert "bash_command" in log_text(miniflow_home, "undefined", "bad", 1)
    assert "missing" in log_text(miniflow_home, "undefined", "bad_py", 1)


def test_rendering_does_not_change_the_loaded_dag(store) -> None:
    with new_dag("render_copy") as dag:
        BashOperator(task_id="echo", bash_command="echo {{ ds }}")
    run(dag, store)
    assert dag.get_task("echo").bash_command == "echo {{ ds }}"


# --- callbacks -------------------------------------------------------------------------


def test_callbacks_receive_the_context(store) -> None:
    events: list[tuple[Any, ...]] = []

    def on_success(context) -> None:
        events.append(("success", context["ti"].task_id, context["ds"], context["task"].task_id,
                       context.get("exception")))

    def on_retry(context) -> None:
        exc = context["exception"]
        events.append(("retry", context["ti"].task_id, context["ti"].try_number, type(exc).__name__, str(exc)))

    def on_failure(context) -> None:
        exc = context["exception"]
        events.append(("failure", context["ti"].task_id, context["ti"].try_number, type(exc).__name__, str(exc)))

    def fail_now() -> None:
        raise AirflowFailException("stop here")

    with new_dag("callbacks") as dag:
        PythonOperator(task_id="now", python_callable=fail_now, retries=2, on_failure_callback=on_failure,
                       on_retry_callback=on_retry)
        PythonOperator(task_id="good", python_callable=ok, on_success_callback=on_success,
                       on_failure_callback=on_failure, on_retry_callback=on_retry)
        PythonOperator(task_id="bad", python_callable=boom, retries=1, retry_delay=NO_DELAY,
                       on_success_callback=on_success, on_failure_callback=on_failure,
                       on_retry_callback=on_retry)
    result, _ = run(dag, store)
    assert result.state == "failed"
    assert sorted(events, key=str) == sorted([
        ("success", "good", "2024-01-02", "good", None),
        ("retry", "bad", 1, "ValueError", "boom"),
        ("failure", "bad", 2, "ValueError", "boom"),
        ("failure", "now", 1, "TaskFailNow", "stop here"),
    ], key=str)


def test_callbacks_given_as_a_list_all_run(store) -> None:
    calls = []
    with new_dag("callback_list") as dag:
        PythonOperator(task_id="t", python_callable=ok,
                       on_success_callback=[lambda c: calls.append("one"), lambda c: calls.append("two")])
    run(dag, store)
    assert calls == ["one", "two"]


def test_a_callback_that_raises_is_logged_and_changes_nothing(store, miniflow_home: Path) -> None:
    def broken(context) -> None:
        raise RuntimeError(f"callback broke in {context['ti'].task_id}")

    with new_dag("callback_raises") as dag:
        good = PythonOperator(task_id="good", python_callable=ok, on_success_callback=broken)
        PythonOperator(task_id="bad", python_callable=boom, on_failure_callback=broken)
        good >> PythonOperator(task_id="after", python_callable=ok)
    result, tis = run(dag, store)
    assert tis["good"].state == TIS.SUCCESS
    assert tis["after"].state == TIS.SUCCESS
    assert tis["bad"].state == TIS.FAILED
    assert result.state == "failed"
    assert "callback broke in good" in log_text(miniflow_home, "callback_raises", "good", 1)
    assert "callback broke in bad" in log_text(miniflow_home, "callback_raises", "bad", 1)


# --- BashOperator ----------------------------------------------------------------------


def test_bash_env_append_env_and_cwd(store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MF_OUTER", "outer")
    command = 'echo "${FOO:-nofoo}/${MF_OUTER:-noouter}/$AIRFLOW_CTX_TASK_ID/$AIRFLOW_CTX_DAG_ID"'
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    with new_dag("bash_env") as dag:
        BashOperator(task_id="replaced", bash_command=command, env={"FOO": "bar"})
        BashOperator(task_id="appended", bash_command=command, env={"FOO": "{{ ds }}"}, append_env=True)
        BashOperator(task_id="inherited", bash_command=command)
        BashOperator(task_id="in_cwd", bash_command="pwd", cwd=str(workdir))
    result, _ = run(dag, store)
    assert result.state == "success"
    assert xcom(store, "bash_env", "replaced") == "bar/noouter/replaced/bash_env"
    assert xcom(store, "bash_env", "appended") == "2024-01-02/outer/appended/bash_env"
    assert xcom(store, "bash_env", "inherited") == "nofoo/outer/inherited/bash_env"
    assert xcom(store, "bash_env", "in_cwd") == str(workdir)


def test_bash_without_cwd_runs_in_a_temporary_directory_it_removes(store) -> None:
    with new_dag("bash_tmp") as dag:
        BashOperator(task_id="where", bash_command="touch left-behind; pwd")
    result, _ = run(dag, store)
    assert result.state == "success"
    where = Path(xcom(store, "bash_tmp", "where"))
    assert where.name.startswith("airflowtmp")
    assert where.parent == Path(tempfile.gettempdir())
    assert not where.exists()


def test_bash_exports_the_whole_try_identity(store) -> None:
    names = ["DAG_ID", "TASK_ID", "DAG_RUN_ID", "TRY_NUMBER", "EXECUTION_DATE", "DAG_OWNER", "DAG_EMAIL"]
    command = "echo " + "/".join(f"$AIRFLOW_CTX_{name}" for name in names)
    with new_dag("bash_ids") as dag:
        BashOperator(task_id="ids", bash_command=command, owner="ana", email=["a@x.org", "b@x.org"])
    run(dag, store)
    assert xcom(store, "bash_ids", "ids") == \
        f"bash_ids/ids/{RUN_ID}/1/2024-01-02T00:00:00+00:00/ana/a@x.org,b@x.org"


def test_every_try_exports_its_identity_to_the_environment(store, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAG_ID", "TASK_ID", "TRY_NUMBER"):
        monkeypatch.delenv(f"AIRFLOW_CTX_{name}", raising=False)
    with new_dag("py_ids") as dag:
        PythonOperator(task_id="ids", python_callable=lambda: "/".join(
            os.environ[f"AIRFLOW_CTX_{name}"] for name in ("DAG_ID", "TASK_ID", "TRY_NUMBER")))
    run(dag, store)
    assert xcom(store, "py_ids", "ids") == "py_ids/ids/1"


def test_task_code_runs_commands_with_the_subprocess_hook(store, tmp_path: Path) -> None:
    def call(**context: Any) -> list[Any]:
        hook = SubprocessHook()
        done = hook.run_command(["bash", "-c", "echo one; echo \"two $X\"  ; exit 3"], env={"X": "x"})
        here = hook.run_command(["pwd"], cwd=str(tmp_path))
        return [*done, here.output, context_to_airflow_vars(context)]

    with new_dag("hook_calls") as dag:
        PythonOperator(task_id="call", python_callable=call)
    run(dag, store)
    code, last, where, ids = xcom(store, "hook_calls", "call")
    assert (code, last, where) == (3, "two x", str(tmp_path))
    assert ids == {"airflow.ctx.dag_id": "hook_calls", "airflow.ctx.task_id": "call", "airflow.ctx.dag_run_id": RUN_ID,
                   "airflow.ctx.try_number": "1", "airflow.ctx.execution_date": "2024-01-02T00:00:00+00:00",
                   "airflow.ctx.dag_owner": "airflow"}


def test_a_bash_script_file_runs_from_a_file(store, write_dag, dags_folder: Path) -> None:
    (dags_folder / "name.sh").write_text('echo "{{ ds }} $(basename $0)"\n')
    write_dag("script_file.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("script_file", start_date=datetime(2024, 1, 1), schedule=None) as dag:
            BashOperator(task_id="script", bash_command="name.sh")
    """)
    bag = DagBag(dags_folder, include_examples=False)
    run(bag.get_dag("script_file"), store)
    day, script = xcom(store, "script_file", "script").split()
    assert day == "2024-01-02"
    assert script.endswith(".sh") and script != "name.sh"  # the rendered copy, not the template


def test_bash_exit_codes(store, miniflow_home: Path) -> None:
    with new_dag("bash_exit") as dag:
        BashOperator(task_id="skip99", bash_command="echo skipping; exit 99")
        BashOperator(task_id="fail1", bash_command="echo failing; exit 1")
        BashOperator(task_id="fail2", bash_command="false")
        BashOperator(task_id="custom_skip", bash_command="exit 3", skip_on_exit_code=[3, 4])
        BashOperator(task_id="no_skip_code", bash_command="exit 99", skip_on_exit_code=None)
    result, tis = run(dag, store)
    assert {t: str(r.state) for t, r in tis.items()} == {
        "skip99": "skipped", "fail1": "failed", "fail2": "failed", "custom_skip": "skipped",
        "no_skip_code": "failed"}
    assert result.state == "failed"
    text = log_text(miniflow_home, "bash_exit", "fail1", 1)
    assert "failing" in text
    assert "exit code 1" in text


def test_bash_cwd_that_does_not_exist_fails(store, tmp_path: Path) -> None:
    with new_dag("bash_bad_cwd") as dag:
        BashOperator(task_id="t", bash_command="pwd", cwd=str(tmp_path / "nope"))
    _, tis = run(dag, store)
    assert tis["t"].state == TIS.FAILED


def test_one_log_file_per_try(store, miniflow_home: Path) -> None:
    with new_dag("bash_logs") as dag:
        BashOperator(task_id="t", bash_command='echo "this is try $AIRFLOW_CTX_TRY_NUMBER"; exit 1',
                     retries=1, retry_delay=NO_DELAY)
    _, tis = run(dag, store)
    assert tis["t"].try_number == 2
    first = log_text(miniflow_home, "bash_logs", "t", 1)
    second = log_text(miniflow_home, "bash_logs", "t", 2)
    assert "this is try 1" in first and "this is try 2" not in first
    assert "this is try 2" in second and "this is try 1" not in second
    assert not log_file(miniflow_home, "bash_logs", "t", 3).exists()
    assert sorted(p.name for p in log_file(miniflow_home, "bash_logs", "t", 1).parent.iterdir()) == [
        "attempt=1.log", "attempt=2.log"]


def test_bash_output_is_streamed_to_the_log_while_it_runs(store, miniflow_home: Path, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    path = log_file(miniflow_home, "bash_stream", "t", 1)
    seen_while_running = []

    def watch() -> None:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if path.exists() and "first line out" in path.read_text():
                seen_while_running.append(True)
                break
            time.sleep(0.02)
        flag.touch()

    with new_dag("bash_stream") as dag:
        BashOperator(task_id="t", bash_command=f"echo first line out; while [ ! -e {flag} ]; do sleep 0.02; done; "
                                               "echo second line out")
    watcher = threading.Thread(target=watch)
    watcher.start()
    result, _ = run(dag, store)
    watcher.join()
    assert result.state == "success"
    assert seen_while_running == [True]
    assert "second line out" in path.read_text()


# --- PythonOperator --------------------------------------------------------------------


def test_python_op_args_op_kwargs_templates_dict_and_context_by_name(store) -> None:
    got: dict[str, Any] = {}

    def fn(a, b, c, ds, ti, templates_dict, params, missing_name=None):
        got.update(a=a, b=b, c=c, ds=ds, task_id=ti.task_id, templates_dict=templates_dict,
                   params=params, missing_name=missing_name)

    def with_kwargs(first, **context):
        got["first"] = first
        got["context_keys"] = {"ds", "ti", "dag_run", "params", "run_id", "logical_date"} <= set(context)
        got["extra"] = context["extra"]

    with new_dag("python_args", params={"p": "P"}) as dag:
        PythonOperator(task_id="fn", python_callable=fn, op_args=[1, "{{ ds_nodash }}"],
                       op_kwargs={"c": "{{ params.p }}"}, templates_dict={"q": "{{ ds }}", "n": ["{{ run_id }}"]})
        PythonOperator(task_id="kw", python_callable=with_kwargs, op_args=["one"], op_kwargs={"extra": 5})
    result, _ = run(dag, store)
    assert result.state == "success"
    assert got == {
        "a": 1, "b": "20240102", "c": "P", "ds": "2024-01-02", "task_id": "fn",
        "templates_dict": {"q": "2024-01-02", "n": [RUN_ID]}, "params": {"p": "P"}, "missing_name": None,
        "first": "one", "context_keys": True, "extra": 5,
    }


def test_get_current_context_inside_a_task(store) -> None:
    from miniflow.operators.python import get_current_context

    got = {}
    with new_dag("current_context") as dag:
        @task
        def inner() -> None:
            context = get_current_context()
            got.update(ds=context["ds"], task_id=context["ti"].task_id)

        inner()
    run(dag, store)
    assert got == {"ds": "2024-01-02", "task_id": "inner"}


# --- sensors ---------------------------------------------------------------------------


def _appear_later(path: Path, seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, path.touch)
    timer.start()
    return timer


def test_python_sensor_succeeds_once_the_file_appears(store, tmp_path: Path) -> None:
    target = tmp_path / "ready.flag"
    pokes = []

    def check() -> bool:
        pokes.append(time.monotonic())
        return target.exists()

    with new_dag("py_sensor") as dag:
        sensor = PythonSensor(task_id="wait", python_callable=check, poke_interval=0.05, timeout=10)
        sensor >> PythonOperator(task_id="after", python_callable=ok)
    timer = _appear_later(target, 0.2)
    result, tis = run(dag, store)
    timer.join()
    assert result.state == "success"
    assert tis["wait"].state == TIS.SUCCESS
    assert tis["wait"].try_number == 1
    assert tis["after"].state == TIS.SUCCESS
    assert len(pokes) >= 2


def test_file_sensor_succeeds_once_the_file_appears(store, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "incoming" / "data.csv"
    target.parent.mkdir()
    monkeypatch.setenv("AIRFLOW_CONN_LANDING", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
    with new_dag("file_sensor") as dag:
        FileSensor(task_id="wait", filepath=str(target), poke_interval=0.05, timeout=10)
        FileSensor(task_id="glob", filepath=str(tmp_path / "incoming" / "*.csv"), poke_interval=0.05, timeout=10)
        # a relative path starts at the path of the fs connection
        FileSensor(task_id="relative", filepath="incoming/data.csv", fs_conn_id="landing", poke_interval=0.05,
                   timeout=10)
        FileSensor(task_id="no_conn", filepath="incoming/data.csv", fs_conn_id="nowhere", poke_interval=0.05,
                   timeout=10)
    timer = _appear_later(target, 0.2)
    result, tis = run(dag, store)
    timer.join()
    assert result.state == "failed"
    assert {t: tis[t].state for t in ("wait", "glob", "relative", "no_conn")} == {
        "wait": TIS.SUCCESS, "glob": TIS.SUCCESS, "relative": TIS.SUCCESS, "no_conn": TIS.FAILED}


def test_sensor_timeout_fails_without_retry(store, miniflow_home: Path) -> None:
    with new_dag("sensor_timeout") as dag:
        PythonSensor(task_id="never", python_callable=lambda: False, poke_interval=0.05, timeout=0.3,
                     retries=2, retry_delay=NO_DELAY)
    started = time.monotonic()
    result, tis = run(dag, store)
    assert time.monotonic() - started < 5
    assert result.state == "failed"
    assert tis["never"].state == TIS.FAILED
    assert tis["never"].try_number == 1
    assert "timed out" in log_text(miniflow_home, "sensor_timeout", "never", 1).lower()


def test_sensor_soft_fail_skips(store) -> None:
    with new_dag("sensor_soft") as dag:
        sensor = PythonSensor(task_id="never", python_callable=lambda: False, poke_interval=0.05, timeout=0.2,
                              soft_fail=True)
        sensor >> PythonOperator(task_id="after", python_callable=ok)
    result, tis = run(dag, store)
    assert tis["never"].state == TIS.SKIPPED
    assert tis["after"].state == TIS.SKIPPED
    assert result.state == "success"


def _raise(exc: BaseException) -> Any:
    raise exc


@pytest.mark.parametrize(("raised", "flags", "expected"), [
    (RuntimeError("down"), {}, TIS.FAILED),
    (RuntimeError("down"), {"never_fail": True}, TIS.SKIPPED),
    (RuntimeError("down"), {"soft_fail": True}, TIS.FAILED),  # soft_fail covers timeouts, not any error
    (AirflowFailException("no"), {"soft_fail": True}, TIS.SKIPPED),
    (AirflowFailException("no"), {"never_fail": True}, TIS.SKIPPED),
    (AirflowSensorTimeout("late"), {"soft_fail": True}, TIS.SKIPPED),
], ids=["error", "error never_fail", "error soft_fail", "fail-now soft_fail", "fail-now never_fail",
        "sensor timeout soft_fail"])
def test_a_poke_that_raises_fails_or_skips_as_in_airflow(store, raised: BaseException, flags: dict[str, bool],
                                                         expected: TIS) -> None:
    with new_dag("sensor_raises") as dag:
        PythonSensor(task_id="poke", python_callable=lambda: _raise(raised), poke_interval=0, timeout=30, **flags)
    _, tis = run(dag, store)
    assert tis["poke"].state == expected


def test_silent_fail_pokes_again_after_an_error_and_never_fail_does_not_cover_the_timeout(store) -> None:
    calls: list[int] = []

    def flaky() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first poke fails")
        return True

    with new_dag("sensor_silent") as dag:
        PythonSensor(task_id="silent", python_callable=flaky, poke_interval=0, timeout=30, silent_fail=True)
        PythonSensor(task_id="late", python_callable=lambda: False, poke_interval=0.05, timeout=0.1, never_fail=True)
    _, tis = run(dag, store)
    assert tis["silent"].state == TIS.SUCCESS and len(calls) == 2
    assert tis["late"].state == TIS.FAILED  # as in Airflow 2.10: never_fail is about exceptions a poke raises


def test_soft_fail_and_never_fail_together_are_refused() -> None:
    with new_dag("sensor_both"), pytest.raises(DagDefinitionError, match="mutually exclusive"):
        PythonSensor(task_id="both", python_callable=lambda: True, soft_fail=True, never_fail=True)


def test_reschedule_mode_frees_the_slot_and_keeps_the_try_number(store, tmp_path: Path, miniflow_home: Path) -> None:
    target = tmp_path / "ready.flag"
    pokes: list[int] = []

    def check(ti) -> bool:
        pokes.append(ti.try_number)
        return target.exists()

    with new_dag("reschedule") as dag:
        PythonSensor(task_id="wait", python_callable=check, mode="reschedule", poke_interval=0.1, timeout=30,
                     retries=1, retry_delay=NO_DELAY)
    start_run(dag, store)
    # the condition is false: the try ends up_for_reschedule, without using up the try
    assert run_one_try(dag, store, "wait") == TIS.UP_FOR_RESCHEDULE
    row = store.get_ti(TaskInstanceKey("reschedule", RUN_ID, "wait"))
    assert row.state == TIS.UP_FOR_RESCHEDULE
    assert row.next_try_at is not None
    assert row.try_number == 1  # Airflow 2.10 keeps the try number while the sensor waits
    assert run_one_try(dag, store, "wait") == TIS.UP_FOR_RESCHEDULE
    assert store.get_ti(TaskInstanceKey("reschedule", RUN_ID, "wait")).state == TIS.UP_FOR_RESCHEDULE
    # the file appears: the next poke succeeds, still in try 1
    target.touch()
    assert run_until_done(store, dag, RUN_ID) == DagRunState.SUCCESS
    row = store.get_ti(TaskInstanceKey("reschedule", RUN_ID, "wait"))
    assert row.state == TIS.SUCCESS
    assert row.try_number == 1
    assert pokes == [1, 1, 1]
    assert [h.state for h in store.ti_history(TaskInstanceKey("reschedule", RUN_ID, "wait"))] == ["success"]
    assert log_file(miniflow_home, "reschedule", "wait", 1).exists()
    assert not log_file(miniflow_home, "reschedule", "wait", 2).exists()


def test_reschedule_mode_in_a_whole_run(store, tmp_path: Path) -> None:
    target = tmp_path / "ready.flag"
    pokes: list[int] = []

    def check(ti) -> bool:  # not ready at the first poke, ready at the next: no race with the clock
        pokes.append(ti.try_number)
        ready = target.exists()
        target.touch()
        return ready

    with new_dag("reschedule_run") as dag:
        PythonSensor(task_id="wait", python_callable=check, mode="reschedule", poke_interval=0.1, timeout=30)
    result, tis = run(dag, store)
    assert result.state == "success"
    assert tis["wait"].state == TIS.SUCCESS
    assert tis["wait"].try_number == 1
    assert len(pokes) >= 2 and set(pokes) == {1}


def test_reschedule_mode_timeout_counts_from_the_first_poke(store) -> None:
    with new_dag("reschedule_timeout") as dag:
        PythonSensor(task_id="never", python_callable=lambda: False, mode="reschedule", poke_interval=0.1,
                     timeout=0.4, retries=2, retry_delay=NO_DELAY)
    started = time.monotonic()
    result, tis = run(dag, store)
    assert time.monotonic() - started < 5
    assert result.state == "failed"
    assert tis["never"].state == TIS.FAILED
    assert tis["never"].try_number == 1


def test_a_log_folder_that_cannot_be_written_fails_the_try_with_the_reason(store, miniflow_home: Path,
                                                                           monkeypatch, caplog) -> None:
    from miniflow.config import reset_config

    blocker = miniflow_home / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    monkeypatch.setenv("MINIFLOW__LOGGING__BASE_LOG_FOLDER", str(blocker))
    reset_config()
    with new_dag("unwritable_log") as dag:
        PythonOperator(task_id="t", python_callable=ok, retries=1, retry_delay=dt.timedelta(hours=1))
    start_run(dag, store)
    assert run_one_try(dag, store, "t") == TIS.UP_FOR_RETRY
    assert "cannot write its log file" in caplog.text and "not-a-folder" in caplog.text
    store.set_ti_states("unwritable_log", RUN_ID, ["t"], TIS.QUEUED, [TIS.UP_FOR_RETRY])
    assert run_task_instance(store, dag, TaskInstanceKey("unwritable_log", RUN_ID, "t")) == TIS.FAILED
    assert xcom(store, "unwritable_log", "t") is None
