"""miniflow.dagbag: loading a DAG folder, where a broken file never stops the others."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from miniflow.config import reset_config
from miniflow.dagbag import DagBag, list_dag_files
from miniflow.exceptions import DagNotFoundError

GOOD = """
    from datetime import datetime
    from miniflow import DAG
    from miniflow.operators.bash import BashOperator

    with DAG("{dag_id}", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:
        BashOperator(task_id="hello", bash_command="echo hello")
"""


def _good(dag_id: str) -> str:
    return GOOD.replace("{dag_id}", dag_id)


def _key(path: Path) -> str:
    return str(path.resolve())


# --- broken files beside a good one --------------------------------------------------


def test_good_dag_loads_beside_broken_files(write_dag, dags_folder: Path) -> None:
    good = write_dag("good.py", _good("good"))
    syntax = write_dag("syntax_error.py", """
        from miniflow import DAG

        with DAG("syntax") as dag:
            x = (
    """)
    raising = write_dag("raises.py", """
        from datetime import datetime
        from miniflow import DAG

        with DAG("raises", start_date=datetime(2024, 1, 1)) as dag:
            pass

        raise RuntimeError("cannot reach the warehouse")
    """)
    cyclic = write_dag("cycle.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("cycle", start_date=datetime(2024, 1, 1)) as dag:
            a = BashOperator(task_id="a", bash_command="echo a")
            b = BashOperator(task_id="b", bash_command="echo b")
            a >> b >> a
    """)
    unsupported = write_dag("amazon.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator

        with DAG("amazon", start_date=datetime(2024, 1, 1)) as dag:
            S3CreateBucketOperator(task_id="bucket", bucket_name="b")
    """)

    bag = DagBag(dags_folder)

    assert bag.dag_ids == ["good"]
    assert bag.get_dag("good").fileloc == _key(good)
    assert set(bag.import_errors) == {_key(p) for p in (syntax, raising, cyclic, unsupported)}

    error = bag.import_errors[_key(syntax)]
    assert error.lineno == 5  # the unclosed "(" line (line 1 is the blank line of the dedent)
    assert "SyntaxError" in error.message

    error = bag.import_errors[_key(raising)]
    assert error.lineno == 8
    assert "RuntimeError" in error.message and "cannot reach the warehouse" in error.message

    error = bag.import_errors[_key(cyclic)]
    assert "a -> b -> a" in error.message and "'cycle'" in error.message

    error = bag.import_errors[_key(unsupported)]
    assert "airflow.providers.amazon" in error.message
    assert error.lineno == 4

    for path in (syntax, raising, cyclic, unsupported):
        error = bag.import_errors[_key(path)]
        assert error.filepath == _key(path)
        assert _key(path) in str(error)
        if error.lineno:
            assert f"{_key(path)}:{error.lineno}" in str(error)


def test_a_scheduled_dag_whose_params_do_not_validate_is_an_import_error(write_dag, dags_folder: Path) -> None:
    """As in Airflow 2.10: its scheduled runs have no conf to give the missing value."""
    path = write_dag("needs_conf.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.models.param import Param
        from airflow.operators.empty import EmptyOperator

        for dag_id, schedule in (("scheduled", "@daily"), ("by_hand", None)):
            with DAG(dag_id, start_date=datetime(2024, 1, 1), schedule=schedule,
                     params={"who": Param(type="string")}):
                EmptyOperator(task_id="t")
    """)
    bag = DagBag(dags_folder)
    error = bag.import_errors[_key(path)]
    assert "DAG 'scheduled': a DAG with a schedule needs a valid default for every param" in error.message
    assert "param 'who' has no value" in error.message


@pytest.mark.parametrize("isolate", [True, False], ids=["parsed in a child", "parsed here"])
def test_a_dag_file_imports_a_timetable_kept_in_the_plugins_folder(write_dag, dags_folder: Path,
                                                                    miniflow_home: Path, isolate: bool) -> None:
    """As in Airflow, whose plugins folder is on sys.path: a custom timetable kept there."""
    module = f"weekdays_at_nine_{isolate}"
    (miniflow_home / "plugins").mkdir()
    (miniflow_home / "plugins" / f"{module}.py").write_text(textwrap.dedent("""
        from airflow.timetables.trigger import CronTriggerTimetable

        class WeekdaysAtNine(CronTriggerTimetable):
            def __init__(self):
                super().__init__("0 9 * * 1-5", timezone="UTC")
    """))
    write_dag("custom_timetable.py", f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.empty import EmptyOperator
        from {module} import WeekdaysAtNine

        with DAG("custom_timetable", start_date=datetime(2024, 1, 1), schedule=WeekdaysAtNine()):
            EmptyOperator(task_id="t")
    """)
    bag = DagBag(dags_folder, isolate=isolate)
    assert bag.import_errors == {}
    assert type(bag.get_dag("custom_timetable").timetable).__name__ == "WeekdaysAtNine"


def test_dag_file_calling_sys_exit_is_an_import_error(write_dag, dags_folder: Path) -> None:
    write_dag("good.py", _good("good"))
    path = write_dag("exits.py", """
        import sys
        from miniflow import DAG
        sys.exit(3)
    """)
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["good"]
    assert _key(path) in bag.import_errors


def test_error_deep_in_a_helper_names_the_dag_file_line(write_dag, dags_folder: Path) -> None:
    helper = f"helper_{uuid.uuid4().hex[:8]}"
    write_dag(f"{helper}.py", """
        def explode():
            raise ValueError("bad helper")
    """)
    path = write_dag("uses_helper.py", f"""
        from miniflow import DAG
        from {helper} import explode

        explode()
    """)
    bag = DagBag(dags_folder)
    error = bag.import_errors[_key(path)]
    assert error.lineno == 5
    assert "bad helper" in error.message


def test_import_timeout(write_dag, dags_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT", "1")
    reset_config()
    write_dag("good.py", _good("good"))
    slow = write_dag("slow.py", """
        import time
        from datetime import datetime
        from miniflow import DAG

        time.sleep(30)

        with DAG("slow", start_date=datetime(2024, 1, 1)) as dag:
            pass
    """)
    started = time.monotonic()
    bag = DagBag(dags_folder)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the 1 s import timeout did not stop the file ({elapsed:.1f} s)"
    assert bag.import_timeout == 1.0
    assert bag.dag_ids == ["good"]
    error = bag.import_errors[_key(slow)]
    assert "dagbag_import_timeout" in error.message
    assert "1" in error.message
    assert _key(slow) in str(error)


def test_dags_of_a_failed_file_are_not_kept(write_dag, dags_folder: Path) -> None:
    path = write_dag("half.py", """
        from datetime import datetime
        from miniflow import DAG

        first = DAG("first_half", start_date=datetime(2024, 1, 1))
        raise RuntimeError("boom")
    """)
    bag = DagBag(dags_folder)
    assert bag.dags == {}
    assert _key(path) in bag.import_errors


def test_get_dag_unknown_id_mentions_import_errors(write_dag, dags_folder: Path) -> None:
    write_dag("broken.py", "from miniflow import DAG\nraise RuntimeError('x')\n")
    bag = DagBag(dags_folder)
    with pytest.raises(DagNotFoundError) as info:
        bag.get_dag("nope")
    assert "'nope'" in str(info.value)
    assert "list-import-errors" in str(info.value)


def test_reprocessing_a_fixed_file_clears_its_error(write_dag, dags_folder: Path) -> None:
    path = write_dag("flaky.py", "from miniflow import DAG\nraise RuntimeError('x')\n")
    bag = DagBag(dags_folder)
    assert _key(path) in bag.import_errors
    write_dag("flaky.py", _good("flaky"))
    assert [d.dag_id for d in bag.process_file(path)] == ["flaky"]
    assert bag.import_errors == {}
    assert bag.dag_ids == ["flaky"]


# --- which files are loaded ----------------------------------------------------------


def test_miniflowignore_patterns(write_dag, dags_folder: Path) -> None:
    write_dag("keep.py", _good("keep"))
    write_dag("scratch_one.py", _good("scratch_one"))
    write_dag("old/legacy.py", _good("legacy"))
    write_dag("notes/draft_v2.py", _good("draft_v2"))
    (dags_folder / ".miniflowignore").write_text("# comment lines are ignored\n\nscratch_.*\n^old\n_v\\d+\\.py$\n")
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["keep"]
    assert bag.import_errors == {}


def test_miniflowignore_in_a_subfolder_applies_below_it_only(write_dag, dags_folder: Path) -> None:
    write_dag("skip_top.py", _good("skip_top"))
    write_dag("team/skip_me.py", _good("skip_me"))
    write_dag("team/keep_me.py", _good("keep_me"))
    write_dag("team/deeper/skip_deep.py", _good("skip_deep"))
    (dags_folder / "team" / ".miniflowignore").write_text("skip\n")
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["keep_me", "skip_top"]


def test_airflowignore_is_honoured_too(write_dag, dags_folder: Path) -> None:
    write_dag("keep.py", _good("keep"))
    write_dag("ignored.py", _good("ignored"))
    (dags_folder / ".airflowignore").write_text("ignored\n")
    assert DagBag(dags_folder).dag_ids == ["keep"]


def test_dag_file_imports_a_helper_module_beside_it(write_dag, dags_folder: Path) -> None:
    helper = f"commands_{uuid.uuid4().hex[:8]}"
    write_dag(f"{helper}.py", """
        def greeting(name):
            return f"echo hello {name}"
    """)
    write_dag("uses_helper.py", f"""
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator
        from {helper} import greeting

        with DAG("uses_helper", start_date=datetime(2024, 1, 1)) as dag:
            BashOperator(task_id="hello", bash_command=greeting("world"))
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["uses_helper"]
    assert bag.get_dag("uses_helper").get_task("hello").bash_command == "echo hello world"


def test_dag_file_in_a_subfolder_imports_its_sibling_helper(write_dag, dags_folder: Path) -> None:
    helper = f"sibling_{uuid.uuid4().hex[:8]}"
    write_dag(f"team/{helper}.py", "VALUE = 'echo sibling'\n")
    write_dag("team/etl.py", f"""
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator
        from {helper} import VALUE

        with DAG("team_etl", start_date=datetime(2024, 1, 1)) as dag:
            BashOperator(task_id="t", bash_command=VALUE)
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.get_dag("team_etl").get_task("t").bash_command == "echo sibling"


def test_files_without_dag_text_are_not_imported(write_dag, dags_folder: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "imported.marker"
    monkeypatch.setenv("SIDE_EFFECT_MARKER", str(marker))
    # Mentions miniflow but never the word d-a-g: a helper, not a DAG file.
    write_dag("side_effects.py", """
        # miniflow helper module
        import os
        open(os.environ["SIDE_EFFECT_MARKER"], "w").close()
        raise RuntimeError("a helper was run as a workflow file")
    """)
    # Mentions dags but neither engine name.
    write_dag("not_an_engine_file.py", """
        import os
        # dag-like words only
        open(os.environ["SIDE_EFFECT_MARKER"], "w").close()
    """)
    write_dag("good.py", _good("good"))
    files = [p.name for p in list_dag_files(dags_folder)]
    assert files == ["good.py"]
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["good"]
    assert bag.import_errors == {}
    assert not marker.exists()


def test_non_python_files_and_hidden_folders_are_skipped(write_dag, dags_folder: Path) -> None:
    write_dag("good.py", _good("good"))
    write_dag("readme.txt", _good("txt"))
    write_dag(".hidden/secret.py", _good("secret"))
    write_dag("__pycache__/cached.py", _good("cached"))
    assert DagBag(dags_folder).dag_ids == ["good"]


def test_duplicate_dag_id_across_two_files(write_dag, dags_folder: Path) -> None:
    first = write_dag("a_first.py", _good("shared_id"))
    second = write_dag("b_second.py", _good("shared_id"))
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["shared_id"]
    assert bag.get_dag("shared_id").fileloc == _key(first)
    assert list(bag.import_errors) == [_key(second)]
    error = bag.import_errors[_key(second)]
    assert "'shared_id'" in error.message
    assert _key(first) in error.message
    assert _key(second) in str(error)


def test_same_basename_in_different_subfolders(write_dag, dags_folder: Path) -> None:
    one = write_dag("team_one/etl.py", _good("etl_one"))
    two = write_dag("team_two/etl.py", _good("etl_two"))
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.dag_ids == ["etl_one", "etl_two"]
    assert bag.get_dag("etl_one").fileloc == _key(one)
    assert bag.get_dag("etl_two").fileloc == _key(two)


def test_two_dags_in_one_file(write_dag, dags_folder: Path) -> None:
    path = write_dag("pair.py", """
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.empty import EmptyOperator

        with DAG("pair_a", start_date=datetime(2024, 1, 1)) as a:
            EmptyOperator(task_id="x")
        with DAG("pair_b", start_date=datetime(2024, 1, 1)) as b:
            EmptyOperator(task_id="y")
        also_a = a
    """)
    bag = DagBag(dags_folder)
    assert bag.dag_ids == ["pair_a", "pair_b"]
    assert {d.fileloc for d in bag.dags.values()} == {_key(path)}


def test_dagbag_defaults_to_the_configured_dags_folder(write_dag) -> None:
    write_dag("good.py", _good("configured"))
    assert DagBag().dag_ids == ["configured"]


def test_dagbag_accepts_a_single_file(write_dag, dags_folder: Path) -> None:
    path = write_dag("good.py", _good("single"))
    write_dag("other.py", _good("other"))
    assert DagBag(path).dag_ids == ["single"]


def test_dags_folder_root_is_importable_from_a_subfolder(write_dag, dags_folder: Path) -> None:
    """As in Airflow: ``dags/team/etl.py`` imports ``helpers.x`` and ``include.x`` from the root."""
    helpers, include = f"helpers_{uuid.uuid4().hex[:8]}", f"include_{uuid.uuid4().hex[:8]}"
    write_dag(f"{helpers}/__init__.py", "")
    write_dag(f"{helpers}/commands.py", "def hello():\n    return 'echo from helpers'\n")
    write_dag(f"{include}/__init__.py", "")
    write_dag(f"{include}/sql.py", "QUERY = 'select 1'\n")
    write_dag("team/etl.py", f"""
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from {helpers}.commands import hello
        from {include}.sql import QUERY

        with DAG("team_root_imports", start_date=datetime(2024, 1, 1)) as dag:
            BashOperator(task_id="t", bash_command=hello() + " " + QUERY)
    """)
    bag = DagBag(dags_folder)
    assert bag.import_errors == {}
    assert bag.get_dag("team_root_imports").get_task("t").bash_command == "echo from helpers select 1"


def test_a_subdir_given_to_the_dagbag_is_an_import_root_too(write_dag, tmp_path: Path) -> None:
    other = tmp_path / "other_dags"
    lib = f"lib_{uuid.uuid4().hex[:8]}"
    (other / lib).mkdir(parents=True)
    (other / lib / "__init__.py").write_text("VALUE = 'echo lib'\n")
    (other / "deep").mkdir()
    (other / "deep" / "d.py").write_text(textwrap.dedent(_good("sub_root")).replace(
        'bash_command="echo hello"', "bash_command=VALUE").replace(
        "from miniflow import DAG", f"from miniflow import DAG\nfrom {lib} import VALUE"))
    bag = DagBag(other)
    assert bag.import_errors == {}
    assert bag.get_dag("sub_root").get_task("hello").bash_command == "echo lib"


def test_cycle_error_names_the_line_of_the_edge_that_closed_it(write_dag, dags_folder: Path) -> None:
    path = write_dag("cycle_line.py", """\
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.empty import EmptyOperator

        with DAG("cycle_line", start_date=datetime(2024, 1, 1)) as dag:
            a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            c = EmptyOperator(task_id="c")
            c >> a
            a >> b
            b >> c
            a >> EmptyOperator(task_id="d")
    """)
    error = DagBag(dags_folder).import_errors[_key(path)]
    assert error.lineno == 11
    assert error.message.endswith("has a cycle: c -> a -> b -> c (closed by b >> c at line 11)")


def test_duplicate_dag_id_error_names_the_line_of_the_dag_call(write_dag, dags_folder: Path) -> None:
    first = write_dag("a_first.py", _good("dup_line"))
    second = write_dag("b_second.py", "\n\n" + _good("dup_line"))
    error = DagBag(dags_folder).import_errors[_key(second)]
    first_line = _good("dup_line").splitlines().index(
        '    with DAG("dup_line", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:') + 1
    assert error.lineno == first_line + 2
    assert f"{_key(first)}:{first_line}" in error.message
    assert "DuplicateDagIdError" in error.message


# --- the registry across restarts: which file owns a dag_id, files deleted while down ---


def test_a_dag_id_stays_with_the_file_that_registered_it_first_across_restarts(
        write_dag, run_cli, sqlite_url: str, miniflow_home: Path) -> None:
    import json

    from miniflow.db.store import Store

    def scheduler_pass() -> None:  # a scheduler started anew, one pass, stopped
        result = run_cli("scheduler", "-n", "1", "--executor", "sequential")
        assert result.returncode == 0, result.stderr

    store = Store.from_url(sqlite_url)
    first = write_dag("z_first.py", _good("shared"))
    scheduler_pass()
    second = write_dag("a_second.py", _good("shared").replace("hello", "from_second"))
    for _ in range(2):
        scheduler_pass()
        assert store.dag_files()["shared"] == _key(first)
        assert {r.filename: r.message for r in store.import_errors()}[_key(second)].startswith("DuplicateDagIdError")
        listed = json.loads(run_cli("dags", "list-import-errors", "-o", "json").stdout)
        assert [e["filepath"] for e in listed] == [_key(second)], listed
        assert "hello" in run_cli("tasks", "list", "shared").stdout

    first.unlink()  # while no scheduler runs: the other file may take the dag_id now
    scheduler_pass()
    assert store.dag_files()["shared"] == _key(second)
    assert store.import_errors() == []


def test_dags_and_import_errors_of_files_deleted_while_no_scheduler_ran_are_dropped(
        write_dag, run_cli, sqlite_url: str, miniflow_home: Path) -> None:
    from miniflow.db.store import Store

    store = Store.from_url(sqlite_url)
    kept = write_dag("kept.py", _good("kept"))
    deleted = write_dag("deleted.py", _good("deleted"))
    broken = write_dag("broken.py", "from miniflow import DAG\nraise RuntimeError('broken on purpose')\n")
    assert run_cli("scheduler", "-n", "1", "--executor", "sequential").returncode == 0
    assert set(store.dag_files()) == {"kept", "deleted"}
    assert [r.filename for r in store.import_errors()] == [_key(broken)]
    deleted.unlink()
    broken.unlink()
    assert run_cli("scheduler", "-n", "1", "--executor", "sequential").returncode == 0
    assert store.dag_files() == {"kept": _key(kept)}
    assert store.import_errors() == []
    row = store.get_dag_row("deleted")
    assert row is not None and not row.is_active


def test_loading_dag_files_leaves_what_only_tries_need_unimported(write_dag, dags_folder: Path) -> None:
    """Every process that lists or schedules DAGs pays for what loading them imports: the
    try's context (with pendulum) and the subprocess hook wait until a task runs."""
    write_dag("uses_all.py", """
        from datetime import datetime
        from airflow import DAG
        from airflow.operators.bash import BashOperator
        from airflow.operators.python import PythonOperator, BranchPythonOperator, ShortCircuitOperator

        with DAG("uses_all", start_date=datetime(2024, 1, 1), schedule=None):
            BashOperator(task_id="b", bash_command="true")
            BranchPythonOperator(task_id="br", python_callable=lambda: "b")
            ShortCircuitOperator(task_id="s", python_callable=lambda: True)
    """)
    code = (f"import sys; from miniflow.dagbag import DagBag; "
            f"bag = DagBag({str(dags_folder)!r}, include_examples=False, isolate=False); "
            f"assert bag.dag_ids == ['uses_all'], bag.import_errors; "
            f"print(sorted(m for m in ('pendulum', 'miniflow.context', 'miniflow.hooks.subprocess') "
            f"if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert loaded.stdout.strip() == "[]"
