"""The miniflow CLI on the metadata DB: ``db``, ``dags test``, ``tasks ...``, run inspection.

Everything here is what a user sees from the real process (`run_cli` runs ``python -m
miniflow`` in a subprocess) against the `db_url` fixture, so on SQLite and on
PostgreSQL. Runs that only set the stage are made in this process with `run_dag_test`,
which is faster; what is checked is always the command's output, exit code and effect
on the DB.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from miniflow.dag_test import run_dag_test
from miniflow.dagbag import DagBag
from miniflow.state import TaskInstanceState as TIS
from miniflow.taskinstancekey import TaskInstanceKey

UTC = dt.timezone.utc
DAY1 = dt.datetime(2024, 1, 2, tzinfo=UTC)
DAY2 = dt.datetime(2024, 1, 3, tzinfo=UTC)
RUN1 = f"manual__{DAY1.isoformat()}"
RUN2 = f"manual__{DAY2.isoformat()}"

DAG_FILE = """
    from datetime import datetime, timedelta
    from miniflow import DAG
    from miniflow.operators.bash import BashOperator
    from miniflow.operators.python import PythonOperator

    def boom():
        raise ValueError("boom from the x task")

    with DAG("cli_dag", start_date=datetime(2024, 1, 1), schedule="@daily", params={"msg": "default"}) as dag:
        flaky = BashOperator(
            task_id="flaky",
            bash_command='echo "attempt $AIRFLOW_CTX_TRY_NUMBER"; [ "$AIRFLOW_CTX_TRY_NUMBER" -ge 2 ]',
            retries=1, retry_delay=timedelta(0),
        )
        say = BashOperator(task_id="say", bash_command="echo said {{ params.msg }} on {{ ds }}")
        flaky >> say

    with DAG("cli_fail", start_date=datetime(2024, 1, 1), schedule=None) as failing:
        PythonOperator(task_id="bad", python_callable=boom)

    with DAG("clearme", start_date=datetime(2024, 1, 1), schedule=None) as clearme:
        a = BashOperator(task_id="a", bash_command="echo a")
        b = BashOperator(task_id="b", bash_command="echo b", retries=2)
        c = BashOperator(task_id="c", bash_command="echo c")
        x = PythonOperator(task_id="x", python_callable=boom)
        y = BashOperator(task_id="y", bash_command="echo y")
        a >> b >> c
        x >> y
"""


@pytest.fixture
def dag_file(write_dag) -> Path:
    return write_dag("cli_dags.py", DAG_FILE)


@pytest.fixture
def bag(dag_file: Path, dags_folder: Path) -> DagBag:
    bag = DagBag(dags_folder, include_examples=False)
    assert not bag.import_errors, bag.import_errors
    return bag


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a failed command printed: exactly one line on stderr, no traceback."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def cli_with_input(home: Path, *args: str, answer: str) -> subprocess.CompletedProcess[str]:
    """Like `run_cli`, answering a confirmation prompt with `answer`."""
    return subprocess.run([sys.executable, "-m", "miniflow", *args], capture_output=True, text=True, check=False,
                          input=answer, timeout=120, env={**os.environ, "MINIFLOW_HOME": str(home)})


# For behaviour that does not depend on the database (prompts, argument checks, log
# files): SQLite only, to keep the subprocess count, and the suite's time, down.
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def states(store: Any, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {ti.task_id: (str(ti.state) if ti.state else None) for ti in store.tis_of_run(dag_id, run_id)}


# --- db ----------------------------------------------------------------------------------


@pytest.fixture
def unmigrated_url(db_url: str, miniflow_home: Path) -> str:
    """An empty database of the same kind as `db_url`, never migrated."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{miniflow_home / 'unmigrated.db'}"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"miniflow_unmigrated_{uuid.uuid4().hex[:12]}"
    admin = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def test_commands_on_an_unmigrated_db_say_to_migrate(unmigrated_url: str, dag_file: Path, run_cli) -> None:
    env = {"MINIFLOW_DATABASE_URL": unmigrated_url}
    for args in (("db", "check"), ("dags", "test", "cli_fail", "2024-01-02")):
        result = run_cli(*args, env=env)
        assert result.returncode == 1, args
        assert "miniflow db migrate" in one_line_error(result), args

    migrated = run_cli("initdb", env=env)  # the Airflow 1.x name of 'db migrate'
    assert migrated.returncode == 0, migrated.stderr
    assert "revision" in migrated.stdout
    check = run_cli("db", "check", env=env)
    assert check.returncode == 0, check.stderr
    assert "ready" in check.stdout


def test_migrate_again_is_harmless_and_reset_empties_the_db(db_url: str, store, bag: DagBag, run_cli,
                                                             miniflow_home: Path) -> None:
    assert run_cli("db", "check").returncode == 0
    again = run_cli("db", "migrate")
    assert again.returncode == 0, again.stderr
    assert "revision" in again.stdout
    run_dag_test(bag.get_dag("cli_fail"), DAY1, store=store)
    assert len(store.list_runs("cli_fail")) == 1

    refused = cli_with_input(miniflow_home, "db", "reset", answer="n\n")
    assert refused.returncode != 0
    assert len(store.list_runs("cli_fail")) == 1

    reset = run_cli("db", "reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert store.list_runs("cli_fail") == []
    assert store.get_dag_row("cli_fail") is None


# --- dags test ---------------------------------------------------------------------------


def test_dags_test_prints_a_table_and_exits_0_on_success(store, dag_file: Path, run_cli) -> None:
    result = run_cli("dags", "test", "cli_dag", "2024-01-02", "--conf", '{"msg": "hello"}')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for column in ("task_id", "state", "try_number", "duration"):
        assert column in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()[:1] in (["flaky"], ["say"])}
    assert "success" in rows["flaky"] and " 2 " in rows["flaky"]  # needed its retry
    assert "success" in rows["say"] and " 1 " in rows["say"]
    assert f"Run {RUN1}: success" in out
    assert states(store, "cli_dag", RUN1) == {"flaky": "success", "say": "success"}
    assert store.get_run("cli_dag", RUN1).conf == {"msg": "hello"}
    said = store.xcom_pull("cli_dag", RUN1, ["say"], "return_value")
    assert [json.loads(r.value) for r in said] == ["said hello on 2024-01-02"]


def test_dags_test_exits_1_when_the_run_fails(store, dag_file: Path, run_cli) -> None:
    result = run_cli("dags", "test", "cli_fail", "2024-01-02")
    assert result.returncode == 1
    assert "failed" in result.stdout
    assert f"Run {RUN1}: failed" in result.stdout
    assert states(store, "cli_fail", RUN1) == {"bad": "failed"}


@sqlite_only
def test_dags_test_refuses_bad_input_in_one_line(store, dag_file: Path, run_cli) -> None:
    assert "not valid JSON" in one_line_error(run_cli("dags", "test", "cli_dag", "2024-01-02", "--conf", "{nope"))
    assert "nope_dag" in one_line_error(run_cli("dags", "test", "nope_dag", "2024-01-02"))
    assert store.list_runs("cli_dag") == []


@sqlite_only
def test_dags_test_freezes_what_it_loaded_in_its_own_process_only(store, dag_file: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The ``miniflow`` script (`main`) owns its process, so ``dags test`` moves what it
    loaded out of the collector's sight; run by a test in the test's process, it must not."""
    import gc

    from click.testing import CliRunner

    from miniflow.cli import cli, main

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert CliRunner().invoke(cli, ["dags", "test", "cli_fail", "2024-01-02"]).exit_code == 1
    assert frozen == []
    with pytest.raises(SystemExit):
        main(["dags", "test", "cli_fail", "2024-01-03"])
    assert frozen == [True]


# --- tasks test, tasks run --------------------------------------------------------------------


@sqlite_only
def test_tasks_test_logs_to_the_terminal_and_records_nothing(store, dag_file: Path, run_cli,
                                                             miniflow_home: Path) -> None:
    result = run_cli("tasks", "test", "cli_dag", "say", "2024-01-02")
    assert result.returncode == 0, result.stderr
    assert "said default on 2024-01-02" in result.stdout
    assert "success" in result.stdout

    alias = run_cli("test", "cli_dag", "say", "2024-01-02", "-t", '{"msg": "from params"}')
    assert alias.returncode == 0, alias.stderr
    assert "said from params on 2024-01-02" in alias.stdout

    failing = run_cli("tasks", "test", "cli_fail", "bad", "2024-01-02")
    assert failing.returncode == 1
    assert "boom from the x task" in failing.stdout + failing.stderr

    assert store.list_runs("cli_dag") == [] and store.list_runs("cli_fail") == []
    assert store.get_dag_row("cli_dag") is None
    assert not (miniflow_home / "logs").exists() or not any((miniflow_home / "logs").rglob("*.log"))


@pytest.fixture
def triggered(store, dag_file: Path, run_cli) -> str:
    """A queued manual run of cli_dag for 2024-01-02, made with ``dags trigger``."""
    result = run_cli("dags", "trigger", "cli_dag", "-r", "my_run", "-e", "2024-01-02")
    assert result.returncode == 0, result.stderr
    assert states(store, "cli_dag", "my_run") == {"flaky": None, "say": None}
    return "my_run"


def test_tasks_run_runs_a_queued_task_instance(store, triggered: str, run_cli, miniflow_home: Path) -> None:
    store.set_ti_states("cli_dag", triggered, ["say"], TIS.QUEUED, [None])
    result = run_cli("tasks", "run", "cli_dag", "say", triggered)
    assert result.returncode == 0, result.stderr
    row = store.get_ti(TaskInstanceKey("cli_dag", triggered, "say"))
    assert (row.state, row.try_number) == ("success", 1)
    log = miniflow_home / "logs" / "cli_dag" / triggered / "say" / "attempt=1.log"
    assert "said default on 2024-01-02" in log.read_text()

    # a failing try exits 1 and leaves the task instance waiting for its retry
    store.set_ti_states("cli_dag", triggered, ["flaky"], TIS.QUEUED, [None])
    failed = run_cli("tasks", "run", "cli_dag", "flaky", triggered)
    assert failed.returncode == 1
    row = store.get_ti(TaskInstanceKey("cli_dag", triggered, "flaky"))
    assert (row.state, row.try_number) == ("up_for_retry", 1)


def test_tasks_run_refuses_a_task_instance_that_is_not_queued(store, triggered: str, run_cli) -> None:
    refused = run_cli("tasks", "run", "cli_dag", "say", triggered)
    message = one_line_error(refused)
    assert "not queued" in message and "--force" in message
    assert store.get_ti(TaskInstanceKey("cli_dag", triggered, "say")).state is None

    forced = run_cli("run", "cli_dag", "say", triggered, "--force")  # the Airflow 1.x name
    assert forced.returncode == 0, forced.stderr
    assert store.get_ti(TaskInstanceKey("cli_dag", triggered, "say")).state == "success"

    # a finished task instance is not run again without --force either
    again = run_cli("tasks", "run", "cli_dag", "say", triggered)
    assert "not queued" in one_line_error(again)


# --- tasks clear -----------------------------------------------------------------------------


@pytest.fixture
def two_runs(store, bag: DagBag) -> Any:
    """Two finished runs of `clearme`: a, b, c succeed; x fails; y is upstream_failed."""
    dag = bag.get_dag("clearme")
    for day in (DAY1, DAY2):
        assert run_dag_test(dag, day, store=store).state == "failed"
    done = {"a": "success", "b": "success", "c": "success", "x": "failed", "y": "upstream_failed"}
    assert states(store, "clearme", RUN1) == states(store, "clearme", RUN2) == done
    return done


def run_state(store: Any, run_id: str) -> str:
    return str(store.get_run("clearme", run_id).state)


def test_clear_by_regex_and_date_range(store, two_runs: dict[str, str], run_cli) -> None:
    result = run_cli("tasks", "clear", "clearme", "-t", "^b$", "-s", "2024-01-03", "-e", "2024-01-03", "--yes")
    assert result.returncode == 0, result.stderr
    assert states(store, "clearme", RUN1) == two_runs
    assert states(store, "clearme", RUN2) == {**two_runs, "b": None}
    assert run_state(store, RUN1) == "failed"
    assert run_state(store, RUN2) == "queued"
    b = store.get_ti(TaskInstanceKey("clearme", RUN2, "b"))
    assert b.try_number == 1  # the count of tries goes on
    assert b.max_tries == 1 + 2  # and the task gets its retries anew


def test_clear_downstream_and_upstream(store, two_runs: dict[str, str], run_cli) -> None:
    down = run_cli("tasks", "clear", "clearme", "-t", "^b$", "--downstream", "-s", "2024-01-02",
                   "-e", "2024-01-02", "--yes")
    assert down.returncode == 0, down.stderr
    assert states(store, "clearme", RUN1) == {**two_runs, "b": None, "c": None}
    assert states(store, "clearme", RUN2) == two_runs

    up = run_cli("clear", "clearme", "-t", "^b$", "--upstream", "-s", "2024-01-03", "-e", "2024-01-03", "--yes")
    assert up.returncode == 0, up.stderr
    assert states(store, "clearme", RUN2) == {**two_runs, "a": None, "b": None}


def test_clear_only_failed(store, two_runs: dict[str, str], run_cli) -> None:
    result = run_cli("tasks", "clear", "clearme", "--only-failed", "--yes")
    assert result.returncode == 0, result.stderr
    for run_id in (RUN1, RUN2):
        assert states(store, "clearme", run_id) == {**two_runs, "x": None, "y": None}
        assert run_state(store, run_id) == "queued"


@sqlite_only
def test_clear_asks_first(store, two_runs: dict[str, str], miniflow_home: Path) -> None:
    result = cli_with_input(miniflow_home, "tasks", "clear", "clearme", "-t", "^c$", answer="n\n")
    assert result.returncode != 0
    assert RUN1 in result.stdout and RUN2 in result.stdout
    assert states(store, "clearme", RUN1) == states(store, "clearme", RUN2) == two_runs

    result = cli_with_input(miniflow_home, "tasks", "clear", "clearme", "-t", "^c$", answer="y\n")
    assert result.returncode == 0, result.stderr
    assert states(store, "clearme", RUN1)["c"] is None


# --- inspecting runs -------------------------------------------------------------------------


@pytest.fixture
def finished_run(store, bag: DagBag) -> str:
    """A successful run of cli_dag for 2024-01-02 in which 'flaky' needed two tries."""
    result = run_dag_test(bag.get_dag("cli_dag"), DAY1, {"msg": "hi"}, store=store)
    assert result.state == "success"
    return result.run_id


def test_task_state_and_dag_state(finished_run: str, run_cli) -> None:
    by_date = run_cli("tasks", "state", "cli_dag", "say", "2024-01-02")
    assert (by_date.returncode, by_date.stdout) == (0, "success\n")

    dag_state = run_cli("dags", "state", "cli_dag", "2024-01-02")
    assert dag_state.returncode == 0, dag_state.stderr
    assert dag_state.stdout.strip() == "success"

    missing = run_cli("tasks", "state", "cli_dag", "flaky", "no_such_run")
    assert "list-runs" in one_line_error(missing)


def test_states_for_dag_run_json(finished_run: str, run_cli) -> None:
    result = run_cli("tasks", "states-for-dag-run", "cli_dag", finished_run, "--output", "json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [list(r) for r in rows] == [["task_id", "map_index", "state", "try_number", "start_date", "end_date",
                                       "duration"]] * 2
    assert {r["map_index"] for r in rows} == {-1}
    by_task = {r["task_id"]: r for r in rows}
    assert set(by_task) == {"flaky", "say"}
    assert (by_task["flaky"]["state"], by_task["flaky"]["try_number"]) == ("success", 2)
    assert (by_task["say"]["state"], by_task["say"]["try_number"]) == ("success", 1)
    for r in rows:
        start, end = dt.datetime.fromisoformat(r["start_date"]), dt.datetime.fromisoformat(r["end_date"])
        assert start.tzinfo is not None and start <= end
        assert isinstance(r["duration"], float) and r["duration"] >= 0


def test_list_runs(finished_run: str, store, bag: DagBag, run_cli) -> None:
    run_dag_test(bag.get_dag("cli_dag"), DAY2, store=store)
    table = run_cli("dags", "list-runs", "cli_dag")
    assert table.returncode == 0, table.stderr
    assert finished_run in table.stdout and RUN2 in table.stdout
    as_json = run_cli("dags", "list-runs", "-d", "cli_dag", "--output", "json")
    assert as_json.returncode == 0, as_json.stderr
    runs = json.loads(as_json.stdout)
    assert [r["run_id"] for r in runs] == [RUN2, RUN1]  # newest first
    assert {r["state"] for r in runs} == {"success"}


@sqlite_only
def test_tasks_logs_by_try(finished_run: str, run_cli) -> None:
    run_id = finished_run
    first = run_cli("tasks", "logs", "cli_dag", "flaky", run_id, "--try", "1")
    assert first.returncode == 0, first.stderr
    assert "attempt 1" in first.stdout and "attempt 2" not in first.stdout
    second = run_cli("tasks", "logs", "cli_dag", "flaky", run_id, "--try", "2")
    assert "attempt 2" in second.stdout and "attempt 1" not in second.stdout
    latest = run_cli("tasks", "logs", "cli_dag", "flaky", run_id)
    assert latest.stdout == second.stdout
    assert "try 3" in one_line_error(run_cli("tasks", "logs", "cli_dag", "flaky", run_id, "--try", "3"))


def test_list_tasks_alias(dag_file: Path, run_cli) -> None:
    result = run_cli("list_tasks", "cli_dag", "--output", "plain")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["flaky", "say"]
