"""miniflow.operators.virtualenv: callables run in a cached virtual environment or in
another interpreter, with a package miniflow's own environment does not have."""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import require_service

from miniflow import DAG
from miniflow.dag_test import run_dag_test
from miniflow.decorators import task
from miniflow.exceptions import AirflowException
from miniflow.operators.empty import EmptyOperator
from miniflow.operators.virtualenv import (
    BranchExternalPythonOperator,
    BranchPythonVirtualenvOperator,
    ExternalPythonOperator,
    PythonVirtualenvOperator,
    callable_source,
    is_venv_installed,
)
from miniflow.state import TaskInstanceState as TIS
from miniflow.xcom import deserialize_value

DATE = dt.datetime(2024, 1, 2, tzinfo=dt.timezone.utc)
PACKAGE = "tabulate"  # small, pure Python, and not a dependency of miniflow


@pytest.fixture(scope="module")
def venv_cache(tmp_path_factory: pytest.TempPathFactory):
    """One cache folder for the module's environments (built once), removed at the end."""
    assert importlib.util.find_spec(PACKAGE) is None, f"{PACKAGE} must not be installed beside miniflow"
    folder = tmp_path_factory.mktemp("venvs")
    probe = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(folder / "probe"),
                            PACKAGE], capture_output=True, text=True, timeout=120)
    require_service("PyPI", probe.returncode == 0, f"pip cannot download {PACKAGE}: {probe.stderr[-300:]}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _run(dag: DAG, store: Any) -> dict[str, Any]:
    result = run_dag_test(dag, DATE, store=store)
    return {ti.task_id: ti for ti in result.task_instances}


def _xcom(store: Any, dag_id: str, task_id: str, run_id: str = f"manual__{DATE.isoformat()}") -> Any:
    rows = store.xcom_pull(dag_id, run_id, [task_id], "return_value")
    return deserialize_value(rows[0].value) if rows else None


def tabulate_rows(rows, ds, params, title="t"):
    import tabulate  # only inside the virtual environment

    return {"table": tabulate.tabulate(rows, tablefmt="plain"), "ds": ds, "who": params["who"],
            "title": title, "strings": virtualenv_string_args}  # noqa: F821 -- set by the script


def test_is_venv_installed() -> None:
    assert is_venv_installed()


def test_callable_source_drops_decorators() -> None:
    @task.virtualenv(requirements=["x"])
    def decorated(a, b=2):
        return a + b

    source = callable_source(decorated.function)
    assert source.startswith("def decorated(a, b=2):") and "@task" not in source


def test_only_plain_functions_are_accepted() -> None:
    with DAG("lambdas", start_date=DATE, schedule=None):
        with pytest.raises(AirflowException, match="functions defined with def"):
            PythonVirtualenvOperator(task_id="l", python_callable=lambda: 1)
        with pytest.raises(AirflowException, match="serializer"):
            PythonVirtualenvOperator(task_id="s", python_callable=tabulate_rows, serializer="yaml")


def test_a_serializer_not_installed_fails_the_try_not_the_dag_file(store, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dill", None)  # import dill raises ImportError
    with DAG("venv_dill", start_date=DATE, schedule=None) as dag:
        ExternalPythonOperator(task_id="t", python=sys.executable, python_callable=tabulate_rows, serializer="dill")
    tis = _run(dag, store)
    assert tis["t"].state == TIS.FAILED
    assert "serializer 'dill' needs the dill package installed" in Path(store_log(tis["t"])).read_text()


def test_virtualenv_runs_a_callable_needing_a_package_miniflow_lacks(store, venv_cache: Path, caplog) -> None:
    def build() -> DAG:
        with DAG("venv_dag", start_date=DATE, schedule=None, params={"who": "ops"}) as dag:
            PythonVirtualenvOperator(
                task_id="table", python_callable=tabulate_rows, requirements=[PACKAGE],
                system_site_packages=False, venv_cache_path=str(venv_cache),
                op_args=[[["a", 1], ["b", 22]]], op_kwargs={"title": "{{ ds_nodash }}"},
                string_args=["one", "two"])
        return dag

    tis = _run(build(), store)
    assert tis["table"].state == TIS.SUCCESS
    assert _xcom(store, "venv_dag", "table") == {
        "table": "a   1\nb  22", "ds": "2024-01-02", "who": "ops", "title": "20240102", "strings": ["one", "two"]}
    venvs = [p for p in venv_cache.glob("venv-*") if p.is_dir()]
    assert len(venvs) == 1
    built = (venvs[0] / "miniflow_venv_complete.json").stat().st_mtime_ns

    tis = _run(build(), store)  # the second run reuses the environment
    assert tis["table"].state == TIS.SUCCESS
    assert [p for p in venv_cache.glob("venv-*") if p.is_dir()] == venvs
    assert (venvs[0] / "miniflow_venv_complete.json").stat().st_mtime_ns == built
    log = Path(store_log(tis["table"])).read_text()
    assert "Reusing the cached virtual environment" in log


def store_log(ti: Any) -> str:
    from miniflow.config import get_config

    return str(Path(get_config().get("logging", "base_log_folder")) / ti.dag_id / ti.run_id / ti.task_id
               / f"attempt={ti.try_number}.log")


def test_external_python_and_the_branch_operators(store, venv_cache: Path) -> None:
    """ExternalPythonOperator runs in an existing interpreter: here the cached environment
    of the test above (which has the package), found through the operator's cache key."""
    probe = PythonVirtualenvOperator(task_id="probe", python_callable=tabulate_rows, requirements=[PACKAGE],
                                     system_site_packages=False, venv_cache_path=str(venv_cache),
                                     dag=DAG("probe", start_date=DATE, schedule=None))
    python = str(probe.python_path())

    def which(ds):
        import tabulate  # noqa: F401 -- proves the interpreter is the environment's

        return "left" if ds.endswith("02") else "right"

    def v_which(ds):
        import tabulate  # noqa: F401

        return "v_left" if ds.endswith("02") else "v_right"

    def fails():
        raise ValueError("no good")

    def exits():
        import sys

        sys.exit(3)

    with DAG("external_dag", start_date=DATE, schedule=None) as dag:
        branch = BranchExternalPythonOperator(task_id="branch", python=python, python_callable=which)
        branch >> [EmptyOperator(task_id="left"), EmptyOperator(task_id="right")]
        ExternalPythonOperator(task_id="fails", python=python, python_callable=fails)
        ExternalPythonOperator(task_id="skips", python=python, python_callable=exits, skip_on_exit_code=3)
        vbranch = BranchPythonVirtualenvOperator(task_id="vbranch", python_callable=v_which, requirements=[PACKAGE],
                                                 system_site_packages=False, venv_cache_path=str(venv_cache))
        vbranch >> [EmptyOperator(task_id="v_left"), EmptyOperator(task_id="v_right")]
    tis = _run(dag, store)
    assert {k: v.state for k, v in tis.items()} == {
        "branch": TIS.SUCCESS, "left": TIS.SUCCESS, "right": TIS.SKIPPED, "fails": TIS.FAILED,
        "skips": TIS.SKIPPED, "vbranch": TIS.SUCCESS, "v_left": TIS.SUCCESS, "v_right": TIS.SKIPPED,
    }
    assert "ValueError: no good" in Path(store_log(tis["fails"])).read_text()


def test_context_objects_that_need_miniflow_are_refused(store) -> None:
    def wants_ti(ti):
        return 1

    with DAG("venv_ti", start_date=DATE, schedule=None) as dag:
        ExternalPythonOperator(task_id="t", python=sys.executable, python_callable=wants_ti)
    tis = _run(dag, store)
    assert tis["t"].state == TIS.FAILED
    assert "context entries ti cannot be passed" in Path(store_log(tis["t"])).read_text()


def test_task_virtualenv_in_an_airflow_dag_file(write_dag, run_cli, miniflow_home: Path) -> None:
    """No requirements: the environment is made without pip, under $MINIFLOW_HOME/venvs."""
    write_dag("venv_flow.py", """
        import pendulum
        from airflow.decorators import dag, task


        @dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
        def venv_flow():
            @task.virtualenv(system_site_packages=False)
            def where(logical_date=None):
                import sys

                return {"prefix": sys.prefix, "day": logical_date.day}

            @task
            def show(info: dict):
                print("ran in", info["prefix"], "on day", info["day"])
                return info["day"]

            show(where())


        venv_flow()
    """)
    assert run_cli("db", "migrate").returncode == 0
    done = run_cli("dags", "test", "venv_flow", "2024-01-05")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"ran in {miniflow_home}/venvs/venv-" in done.stdout and "on day 5" in done.stdout
