"""The miniflow command line: listing and showing DAGs, JSON output, errors, Airflow 1.x names.

Output structure is checked in-process with click's CliRunner (fast); what a user sees
from the real process (one-line errors, exit codes, tracebacks with --verbose) is
checked through `run_cli`, which runs ``python -m miniflow`` in a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import miniflow
from miniflow.cli import cli

ETL = """
    from datetime import datetime, timedelta
    from miniflow import DAG
    from miniflow.operators.bash import BashOperator
    from miniflow.operators.python import PythonOperator

    with DAG("etl", start_date=datetime(2024, 1, 1), schedule="@daily", tags=["nightly", "core"]) as dag:
        extract = BashOperator(task_id="extract", bash_command="echo e", owner="ana")
        transform = PythonOperator(task_id="transform", python_callable=print, trigger_rule="all_done")
        load = BashOperator(task_id="load", bash_command="echo l")
        extract >> transform >> load
        extract >> load

    with DAG("every_six_hours", start_date=datetime(2024, 1, 1), schedule=timedelta(hours=6)) as six:
        BashOperator(task_id="only", bash_command="echo")

    with DAG("manual", start_date=datetime(2024, 1, 1), schedule=None) as manual:
        BashOperator(task_id="only", bash_command="echo")
"""


@pytest.fixture
def etl_file(write_dag) -> Path:
    return write_dag("etl.py", ETL)


def invoke(*args: str) -> tuple[int, str]:
    """Run the CLI in this process; returns (exit code, stdout)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


# --- help and version --------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_the_command_groups_and_aliases(flag: str, run_cli) -> None:
    result = run_cli(flag)
    assert result.returncode == 0, result.stderr
    assert "Usage: miniflow" in result.stdout
    for command in ("dags", "tasks", "config", "version", "list_dags", "list_tasks", "show_dag"):
        assert f"  {command} " in result.stdout, command
    assert "--verbose" in result.stdout


def test_no_arguments_prints_usage(run_cli) -> None:
    result = run_cli()
    assert "Usage: miniflow" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_subcommand_help(run_cli) -> None:
    result = run_cli("dags", "--help")
    assert result.returncode == 0
    for command in ("list", "list-import-errors", "show"):
        assert command in result.stdout


def test_version(run_cli) -> None:
    result = run_cli("version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{miniflow.__version__}\n"
    assert result.stderr == ""


def test_unknown_command_is_a_usage_error(run_cli) -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in result.stderr
    assert "Traceback" not in result.stderr


# --- dags list / tasks list ----------------------------------------------------------


def test_dags_list_json_structure(etl_file: Path) -> None:
    code, out = invoke("dags", "list", "--output", "json")
    assert code == 0
    rows = json.loads(out)
    # is_paused (as in Airflow's `dags list`) comes from the metadata DB, which this
    # test does not create: it is null or a bool, everything else is exact.
    for row in rows:
        assert list(row) == ["dag_id", "fileloc", "owners", "is_paused", "schedule", "tags"]
        assert row.pop("is_paused") in (None, True, False)
    fileloc = str(etl_file.resolve())
    assert rows == [
        {"dag_id": "etl", "fileloc": fileloc, "owners": "airflow, ana", "schedule": "@daily",
         "tags": ["core", "nightly"]},
        {"dag_id": "every_six_hours", "fileloc": fileloc, "owners": "airflow", "schedule": "6:00:00",
         "tags": []},
        {"dag_id": "manual", "fileloc": fileloc, "owners": "airflow", "schedule": "None", "tags": []},
    ]


def test_dags_list_json_of_an_empty_folder_is_an_empty_list() -> None:
    code, out = invoke("dags", "list", "-o", "json")
    assert code == 0
    assert json.loads(out) == []


def test_dags_list_table(etl_file: Path, run_cli) -> None:
    result = run_cli("dags", "list")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "dag_id" in line)
    for column in ("dag_id", "fileloc", "owners", "is_paused", "schedule", "tags"):
        assert column in header
    for dag_id in ("etl", "every_six_hours", "manual"):
        assert dag_id in result.stdout
    assert str(etl_file.resolve()) in result.stdout
    assert result.stderr == ""


def test_dags_list_plain(etl_file: Path) -> None:
    code, out = invoke("dags", "list", "-o", "plain")
    assert code == 0
    assert [line.split("\t")[0] for line in out.splitlines()] == ["etl", "every_six_hours", "manual"]


def test_dags_list_notes_import_errors_on_stderr(etl_file: Path, write_dag, run_cli) -> None:
    write_dag("broken.py", "from miniflow import DAG\nraise RuntimeError('nope')\n")
    result = run_cli("dags", "list")
    assert result.returncode == 0
    assert "etl" in result.stdout
    assert "1 file(s) failed to load" in result.stderr
    assert "list-import-errors" in result.stderr
    as_json = run_cli("dags", "list", "-o", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert [row["dag_id"] for row in json.loads(as_json.stdout)] == ["etl", "every_six_hours", "manual"]


def test_dags_list_subdir(tmp_path: Path, etl_file: Path) -> None:
    other = tmp_path / "other_dags"
    other.mkdir()
    (other / "solo.py").write_text(
        "from datetime import datetime\nfrom miniflow import DAG\n"
        "dag = DAG('solo', start_date=datetime(2024, 1, 1))\n"
    )
    code, out = invoke("dags", "list", "--subdir", str(other), "-o", "json")
    assert code == 0
    assert [row["dag_id"] for row in json.loads(out)] == ["solo"]


def test_tasks_list_json_structure(etl_file: Path) -> None:
    code, out = invoke("tasks", "list", "etl", "--output", "json")
    assert code == 0
    assert json.loads(out) == [
        {"task_id": "extract", "operator": "BashOperator", "trigger_rule": "all_success",
         "upstream": [], "downstream": ["load", "transform"]},
        {"task_id": "transform", "operator": "PythonOperator", "trigger_rule": "all_done",
         "upstream": ["extract"], "downstream": ["load"]},
        {"task_id": "load", "operator": "BashOperator", "trigger_rule": "all_success",
         "upstream": ["extract", "transform"], "downstream": []},
    ]


def test_tasks_list_plain_and_tree(etl_file: Path) -> None:
    code, out = invoke("tasks", "list", "etl", "-o", "plain")
    assert code == 0 and out.splitlines() == ["extract", "transform", "load"]
    code, out = invoke("tasks", "list", "etl", "--tree")
    assert code == 0
    assert out.splitlines()[0] == "<Task(BashOperator): extract>"


# --- dags show and import errors -----------------------------------------------------


def test_dags_show_text_tree(etl_file: Path) -> None:
    code, out = invoke("dags", "show", "etl")
    assert code == 0
    assert out.splitlines() == [
        "<Task(BashOperator): extract>",
        "    <Task(BashOperator): load>",
        "    <Task(PythonOperator): transform>",
        "        <Task(BashOperator): load>",
    ]


def test_dags_show_tree_marks_a_task_met_again(write_dag) -> None:
    write_dag("diamond.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("diamond", start_date=datetime(2024, 1, 1)) as dag:
            a, b, c, d, e = (BashOperator(task_id=x, bash_command="echo") for x in "abcde")
            a >> [b, c] >> d >> e
    """)
    code, out = invoke("dags", "show", "diamond")
    assert code == 0
    assert out.splitlines() == [
        "<Task(BashOperator): a>",
        "    <Task(BashOperator): b>",
        "        <Task(BashOperator): d>",
        "            <Task(BashOperator): e>",
        "    <Task(BashOperator): c>",
        "        <Task(BashOperator): d> ...",
    ]


def test_dags_show_dot(etl_file: Path) -> None:
    code, out = invoke("dags", "show", "etl", "--dot")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == 'digraph "etl" {'
    assert lines[-1] == "}"
    for task_id in ("extract", "transform", "load"):
        assert any(line.startswith(f'"{task_id}" [') for line in lines), task_id
    edges = {line for line in lines if "->" in line}
    assert edges == {'"extract" -> "transform";', '"extract" -> "load";', '"transform" -> "load";'}


def test_dags_list_import_errors(write_dag, etl_file: Path) -> None:
    broken = write_dag("broken.py", """
        from miniflow import DAG

        raise RuntimeError("cannot reach the warehouse")
    """)
    code, out = invoke("dags", "list-import-errors", "--output", "json")
    assert code == 0
    assert json.loads(out) == [
        {"filepath": str(broken.resolve()), "lineno": 4, "error": "RuntimeError: cannot reach the warehouse"},
    ]


def test_dags_list_import_errors_table(write_dag, run_cli) -> None:
    broken = write_dag("broken.py", "from miniflow import DAG\nraise RuntimeError('warehouse down')\n")
    result = run_cli("dags", "list-import-errors")
    assert result.returncode == 0
    assert str(broken.resolve()) in result.stdout
    assert "warehouse down" in result.stdout


def test_dags_list_import_errors_when_there_are_none(etl_file: Path) -> None:
    code, out = invoke("dags", "list-import-errors", "-o", "json")
    assert code == 0 and json.loads(out) == []


# --- errors ------------------------------------------------------------------------


ERRORS = {
    "unknown-dag": (("dags", "show", "no_such_dag"), "no_such_dag"),
    "unknown-dag-tasks": (("tasks", "list", "no_such_dag"), "no_such_dag"),
    "bad-at-date": (("dags", "due", "etl", "--at", "not-a-date"), "not-a-date"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_are_one_line_on_stderr_without_traceback(case: str, etl_file: Path, run_cli) -> None:
    args, needle = ERRORS[case]
    result = run_cli(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_show_a_traceback_with_verbose(case: str, etl_file: Path, run_cli) -> None:
    args, needle = ERRORS[case]
    result = run_cli("--verbose", *args)
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr, result.stderr
    assert needle in result.stderr


def test_unknown_dag_error_exit_code_and_hint(etl_file: Path, write_dag, run_cli) -> None:
    write_dag("broken.py", "from miniflow import DAG\nraise RuntimeError('x')\n")
    result = run_cli("dags", "show", "no_such_dag")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ")
    assert "list-import-errors" in result.stderr  # says what to do next


# --- Airflow 1.x names ---------------------------------------------------------------


def test_list_dags_alias(etl_file: Path, run_cli) -> None:
    alias = run_cli("list_dags", "-o", "json")
    assert alias.returncode == 0, alias.stderr
    assert json.loads(alias.stdout) == json.loads(run_cli("dags", "list", "-o", "json").stdout)


def test_list_tasks_alias(etl_file: Path, run_cli) -> None:
    alias = run_cli("list_tasks", "etl", "-o", "json")
    assert alias.returncode == 0, alias.stderr
    assert [row["task_id"] for row in json.loads(alias.stdout)] == ["extract", "transform", "load"]
    tree = run_cli("list_tasks", "etl", "--tree")
    assert tree.returncode == 0 and "<Task(BashOperator): extract>" in tree.stdout


def test_show_dag_alias(etl_file: Path, run_cli) -> None:
    alias = run_cli("show_dag", "etl")
    assert alias.returncode == 0, alias.stderr
    assert alias.stdout == run_cli("dags", "show", "etl").stdout
    assert alias.stdout.startswith("<Task(BashOperator): extract>")


def test_standalone_makes_its_examples_visible_to_every_command_of_its_home(tmp_path: Path) -> None:
    """`standalone` writes load_examples into the home's miniflow.toml, keeping what is there."""
    import tomllib

    from miniflow.cli.daemons import _load_examples_in

    _load_examples_in(tmp_path)
    assert tomllib.loads((tmp_path / "miniflow.toml").read_text())["core"]["load_examples"] is True
    other = tmp_path / "other"
    other.mkdir()
    (other / "miniflow.toml").write_text("# mine\n[core]\nparallelism = 4\n\n[webserver]\nport = 9090\n")
    _load_examples_in(other)
    _load_examples_in(other)  # a second start changes nothing
    settings = tomllib.loads((other / "miniflow.toml").read_text())
    assert settings == {"core": {"load_examples": True, "parallelism": 4}, "webserver": {"port": 9090}}
    assert (other / "miniflow.toml").read_text().startswith("# mine\n")


def test_cli_edges_a_new_user_meets(run_cli, sqlite_url: str, miniflow_home: Path) -> None:
    """Airflow 1.x's clear -c, conf printed as JSON, list-runs saying it cut the list,
    dags reserialize and config init."""
    (miniflow_home / "dags" / "edge.py").write_text(
        "import datetime\nfrom miniflow import DAG\nfrom miniflow.operators.empty import EmptyOperator\n"
        "with DAG('edge', start_date=datetime.datetime(2024, 1, 1), schedule=None):\n"
        "    EmptyOperator(task_id='t')\n")
    assert "Serialized 1 DAG(s)" in run_cli("dags", "reserialize").stdout
    for day in ("2024-01-01", "2024-01-02", "2024-01-03"):
        result = run_cli("dags", "trigger", "edge", "-e", day, "-c", '{"a": 1}', "-o", "plain")
        assert result.returncode == 0 and '{"a": 1}' in result.stdout
    listed = run_cli("dags", "list-runs", "edge", "--limit", "2")
    assert listed.returncode == 0 and "Showing the newest 2 runs" in listed.stderr
    assert run_cli("tasks", "clear", "edge", "-c").returncode == 0
    assert run_cli("config", "init").returncode == 0
    assert "# parallelism = 32" in (miniflow_home / "miniflow.toml").read_text()
    assert run_cli("config", "init").returncode == 1


def test_cli_inputs_at_the_edges_get_a_one_line_error_not_a_hang(run_cli, sqlite_url: str,
                                                                 miniflow_home: Path) -> None:
    (miniflow_home / "dags" / "daily.py").write_text(
        "import datetime\nfrom miniflow import DAG\nfrom miniflow.operators.empty import EmptyOperator\n"
        "with DAG('daily', start_date=datetime.datetime(2024, 1, 1), schedule='@daily'):\n"
        "    EmptyOperator(task_id='t')\n")
    cases = [
        (("dags", "next-execution", "daily", "-n", "100000000"), 2, "10000"),
        (("backfill", "daily", "-s", "0001-01-01", "-e", "9999-12-31", "--dry-run"), 1, "narrower range"),
        (("users", "create", "-u", "", "-r", "Admin", "-p", "long-enough"), 2, "--username"),
        (("dags", "trigger", "daily", "-e", ""), 2, "is empty"),
    ]
    for args, code, says in cases:
        result = run_cli(*args, timeout=60)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert says in result.stderr and len(result.stderr.strip().splitlines()) <= 3, (args, result.stderr)


def test_a_pool_that_does_not_exist_holds_no_test_run_and_stops_a_backfill_before_it_starts(
        run_cli, sqlite_url: str, miniflow_home: Path) -> None:
    """Airflow's ``dags test`` ignores pools; its backfill stops on an unknown pool. Here
    the backfill says so in one line before making a run, instead of waiting forever."""
    from miniflow.db.store import Store

    (miniflow_home / "dags" / "pooled.py").write_text(
        "import datetime\nfrom miniflow import DAG\nfrom miniflow.operators.bash import BashOperator\n"
        "with DAG('pooled', start_date=datetime.datetime(2024, 1, 1), schedule='@daily'):\n"
        "    BashOperator(task_id='t', bash_command='true', pool='not_here')\n")
    tested = run_cli("dags", "test", "pooled", "2024-01-01")
    assert tested.returncode == 0 and "success" in tested.stdout, tested.stderr
    refused = run_cli("backfill", "pooled", "-s", "2024-01-02", "-e", "2024-01-03", timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("Error: DAG 'pooled': unknown pool(s) 'not_here', used by t; "
                                      "create them with 'miniflow pools set NAME SLOTS'")
    assert [r.run_type for r in Store.from_url(sqlite_url).list_runs("pooled")] == ["manual"]


@pytest.mark.parametrize("paused_at_creation", [True, False])
def test_every_path_that_registers_a_dag_honours_dags_are_paused_at_creation(
        run_cli, sqlite_url: str, miniflow_home: Path, paused_at_creation: bool) -> None:
    from miniflow.db.store import Store

    paths = {
        "by_trigger": ("dags", "trigger", "by_trigger", "-S", "{file}"),
        "by_backfill": ("backfill", "by_backfill", "-s", "2024-01-01", "-e", "2024-01-01", "-S", "{file}"),
        "by_test": ("dags", "test", "by_test", "2024-01-01", "-S", "{file}"),
        "by_reserialize": ("dags", "reserialize", "-S", "{file}"),
    }
    store = Store.from_url(sqlite_url)
    env = {"MINIFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(paused_at_creation).lower()}
    for dag_id, args in paths.items():
        file = miniflow_home / "dags" / f"{dag_id}.py"
        file.write_text(
            "import datetime\nfrom miniflow import DAG\nfrom miniflow.operators.empty import EmptyOperator\n"
            f"with DAG('{dag_id}', start_date=datetime.datetime(2024, 1, 1), schedule='@daily', catchup=False):\n"
            "    EmptyOperator(task_id='t')\n")
        result = run_cli(*(str(file) if a == "{file}" else a for a in args), env=env)
        assert result.returncode == 0, (args, result.stderr)
        row = store.get_dag_row(dag_id)
        assert row is not None and row.is_paused == paused_at_creation, dag_id


def test_a_table_lines_up_its_columns_and_a_cell_of_several_lines_makes_its_row_as_tall() -> None:
    from miniflow.cli.output import _table

    lines = [click.unstyle(line) for line in _table(
        [["a", "one\ntwo", "x"], ["long_task", "", "y"]], ["task_id", "note", "state"], "Run r").splitlines()]
    assert lines == [
        "Run r",
        "task_id    note  state",
        "---------  ----  -----",
        "a          one   x",
        "           two",
        "long_task        y",
    ]


def test_the_script_leaves_quickly_but_cleanly(sqlite_url: str, miniflow_home: Path, run_cli) -> None:
    """`leave` skips the interpreter's teardown, not what an exit must do: the database
    connections are closed (SQLite removes its write-ahead log when the last one closes),
    and the output and the exit code arrive."""
    assert run_cli("pools", "set", "etl", "3", "ETL pool").returncode == 0
    assert not list(miniflow_home.glob("miniflow.db-*"))
    listed = run_cli("pools", "list", "-o", "json")
    assert listed.returncode == 0
    assert {"pool": "etl", "slots": 3, "description": "ETL pool"} in json.loads(listed.stdout)
    missing = run_cli("pools", "delete", "nowhere")
    assert missing.returncode == 1 and missing.stderr.startswith("Error:")
