"""Shared fixtures: an isolated MINIFLOW_HOME per test, and service requirements.

Tests that need PostgreSQL, Redis or Chromium call `require_service`; it skips with the
reason when the service is missing, unless MINIFLOW_REQUIRE_SERVICES=1 (CI), where a
missing service fails the test instead.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from miniflow.config import reset_config

REQUIRE_SERVICES = os.environ.get("MINIFLOW_REQUIRE_SERVICES") == "1"


def require_service(name: str, available: bool, reason: str) -> None:
    if available:
        return
    message = f"{name} is not available: {reason}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message} (MINIFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(message)


@pytest.fixture(autouse=True)
def miniflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh MINIFLOW_HOME with an empty dags/ folder; no setting leaks between tests."""
    home = tmp_path / "miniflow_home"
    (home / "dags").mkdir(parents=True)
    for name in list(os.environ):
        if name.startswith("MINIFLOW__") or name in ("MINIFLOW_DATABASE_URL",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MINIFLOW_HOME", str(home))
    reset_config()
    yield home
    reset_config()


@pytest.fixture
def dags_folder(miniflow_home: Path) -> Path:
    return miniflow_home / "dags"


@pytest.fixture
def write_dag(dags_folder: Path):
    """Write a DAG file (dedented) into the DAG folder; returns its path."""

    def write(name: str, source: str) -> Path:
        path = dags_folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        return path

    return write


@pytest.fixture
def run_cli(miniflow_home: Path):
    """Run the miniflow CLI in a subprocess, as a user would; returns CompletedProcess."""
    import subprocess

    def run(*args: str, check: bool = False, timeout: float = 120, env: dict[str, str] | None = None):
        full_env = {**os.environ, "MINIFLOW_HOME": str(miniflow_home), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "miniflow", *args], capture_output=True, text=True,
            check=check, timeout=timeout, env=full_env,
        )

    return run
