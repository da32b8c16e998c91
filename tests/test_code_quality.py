"""The code checks CI runs with the tests: ruff, mypy, the import-linter layer contracts
(pyproject.toml), and the promise behind them that a DAG file's imports load none of
the machinery that runs DAGs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess[str]:
    tool = Path(command[0])
    assert tool.name.startswith("python") or tool.exists(), (
        f"{tool.name} is missing: install the test tools with pip install -e '.[dev]'")
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = run(str(BIN / "ruff"), "check", "miniflow", "web", "tests", "benchmarks", "examples")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing(tmp_path: Path) -> None:
    """mypy checks the package as it installs, web/ as miniflow.web: it cannot follow the
    editable install's mapping, and would take every ``miniflow.web`` import for Any."""
    package = tmp_path / "miniflow"
    package.mkdir()
    for entry in (ROOT / "miniflow").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    (package / "web").symlink_to(ROOT / "web")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    result = subprocess.run([sys.executable, "-m", "mypy", "miniflow"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_are_kept() -> None:
    result = run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module", [
    "miniflow", "miniflow.dag", "miniflow.baseoperator", "miniflow.decorators", "miniflow.task_group",
    "miniflow.operators.bash", "miniflow.operators.python", "miniflow.operators.empty", "miniflow.sensors.python",
    "miniflow.params", "miniflow.mapping", "miniflow.setup_teardown", "miniflow.edge_label",
])
def test_authoring_modules_load_nothing_that_runs_dags(module: str) -> None:
    """What a DAG file imports brings in no store, runner, scheduler or executor."""
    probe = (f"import sys, {module}\n"
             "bad = [m for m in sys.modules if m.split('.')[:2] in (['miniflow', 'db'], ['miniflow', 'runner'],"
             " ['miniflow', 'scheduler'], ['miniflow', 'executors']) or m.startswith('sqlalchemy')]\n"
             "print(','.join(sorted(bad)))")
    result = run(sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"importing {module} loaded {result.stdout.strip()}"


@pytest.mark.parametrize("module", ["miniflow.db.store", "miniflow.scheduler", "miniflow.cli", "miniflow.web"])
def test_no_module_loads_the_orm(module: str) -> None:
    """The tables are Core tables: the ORM would cost every command a tenth of a second."""
    result = run(sys.executable, "-c", f"import sys, {module}; print('sqlalchemy.orm' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False", f"importing {module} loaded sqlalchemy.orm"
