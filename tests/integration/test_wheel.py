"""The wheel: built from this checkout, installed in a clean venv, the CLI works from it.

This catches what an editable install hides: package data missing from the wheel
(templates, migrations, ``py.typed``), modules that import files from the source tree,
and a broken console script.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".hypothesis", ".pytest_cache", "results",
)


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited with {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-4000:]}\n--- stderr ---\n{result.stderr[-4000:]}"
        )
    return result.stdout


def _packaged_files(src: Path) -> dict[str, Path]:
    """Wheel path -> source file, for every file that must ship in the wheel."""
    expected = {}
    for base, prefix in ((src / "miniflow", "miniflow"), (src / "web", "miniflow/web")):
        if not base.is_dir():
            continue
        for path in base.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected[f"{prefix}/{path.relative_to(base).as_posix()}"] = path
    return expected


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel file, copy of the source it was built from)."""
    work = tmp_path_factory.mktemp("wheel")
    # Build from a copy so the checkout gets no build/ or *.egg-info litter.
    src = work / "src"
    shutil.copytree(REPO, src, ignore=SKIP)
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(src)],
         cwd=work, timeout=180)
    (built,) = (work / "dist").glob("miniflow-*.whl")
    return built, src


def test_wheel_contains_every_module_and_data_file(wheel: tuple[Path, Path]) -> None:
    built, src = wheel
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        console = archive.read(entry_points).decode()
    expected = _packaged_files(src)
    assert "miniflow/py.typed" in expected
    missing = sorted(name for name in expected if name not in names)
    assert not missing, (
        f"the wheel lacks {len(missing)} file(s) of the source tree; add them to "
        f"[tool.setuptools.package-data] in pyproject.toml:\n  " + "\n  ".join(missing)
    )
    assert re.search(r"^miniflow\s*=\s*miniflow\.cli:script\s*$", console, re.MULTILINE), console


def test_installed_wheel_runs_the_cli(wheel: tuple[Path, Path], tmp_path: Path) -> None:
    built, src = wheel
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python, script = venv / "bin" / "python", venv / "bin" / "miniflow"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MINIFLOW", "PYTHON", "VIRTUAL_ENV"))}
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(built)],
         cwd=tmp_path, env=env, timeout=240)

    # The package comes from the venv, not from this checkout.
    location = _run([str(python), "-c", "import miniflow; print(miniflow.__file__)"], cwd=tmp_path, env=env)
    assert Path(location.strip()).is_relative_to(venv), location

    home = tmp_path / "home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "hello.py").write_text(textwrap.dedent("""
        from datetime import datetime
        from miniflow import DAG
        from miniflow.operators.bash import BashOperator

        with DAG("hello", start_date=datetime(2024, 1, 1), schedule="@daily") as dag:
            BashOperator(task_id="say", bash_command="echo hello") >> BashOperator(task_id="done", bash_command="true")
    """))
    (dags / "tutorial.py").write_text(textwrap.dedent("""
        from airflow import DAG
        from airflow.operators.bash_operator import BashOperator
        from airflow.utils.dates import days_ago

        dag = DAG("tutorial", schedule_interval="@daily", default_args={"start_date": days_ago(2)})
        t1 = BashOperator(task_id="print_date", bash_command="date", dag=dag)
        t2 = BashOperator(task_id="sleep", bash_command="sleep 5", dag=dag)
        t1 >> t2
    """))
    env["MINIFLOW_HOME"] = str(home)

    version = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", (src / "miniflow" / "version.py").read_text())
    assert version is not None
    assert _run([str(script), "version"], cwd=tmp_path, env=env).strip() == version.group(1)

    listed = json.loads(_run([str(script), "dags", "list", "--output", "json"], cwd=tmp_path, env=env))
    assert [row["dag_id"] for row in listed] == ["hello", "tutorial"]
    assert {row["fileloc"] for row in listed} == {str((dags / "hello.py").resolve()),
                                                 str((dags / "tutorial.py").resolve())}

    tasks = json.loads(_run([str(script), "tasks", "list", "tutorial", "--output", "json"], cwd=tmp_path, env=env))
    assert [row["task_id"] for row in tasks] == ["print_date", "sleep"]
    assert _run([str(script), "dags", "list-import-errors", "-o", "json"], cwd=tmp_path, env=env).strip() == "[]"
