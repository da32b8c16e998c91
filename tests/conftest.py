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


# --- metadata DB: every DB-backed test runs on SQLite, and on PostgreSQL when it is there ---

PG_URL = os.environ.get("MINIFLOW_TEST_DATABASE_URL", "")


def _postgres_reachable(url: str) -> str | None:
    """None if we can connect, else the reason."""
    if not url:
        return "MINIFLOW_TEST_DATABASE_URL is not set"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 -- any failure means: not reachable
        return f"cannot connect to {url}: {type(exc).__name__}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database made for this test session (dropped at its end)."""
    reason = _postgres_reachable(PG_URL)
    require_service("PostgreSQL", reason is None, reason or "")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"miniflow_test_{os.getpid()}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    from miniflow.db.engine import make_engine
    from miniflow.db.migrate import migrate

    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


def _empty_tables(url: str) -> None:
    from sqlalchemy import create_engine, text

    from miniflow.db.models import Base

    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, miniflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated, empty metadata DB (SQLite in MINIFLOW_HOME, or the session's PostgreSQL),
    set as MINIFLOW_DATABASE_URL for this process and the processes it starts."""
    from miniflow.db.store import reset_store

    if request.param == "sqlite":
        url = f"sqlite:///{miniflow_home / 'miniflow.db'}"
        from miniflow.db.engine import make_engine
        from miniflow.db.migrate import migrate

        engine = make_engine(url)
        migrate(engine)
        engine.dispose()
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_tables(url)
    monkeypatch.setenv("MINIFLOW_DATABASE_URL", url)
    reset_config()
    reset_store()
    yield url
    reset_store()


@pytest.fixture
def sqlite_url(miniflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Like db_url, SQLite only: for tests about SQLite itself or too slow to run twice."""
    from miniflow.db.engine import make_engine
    from miniflow.db.migrate import migrate
    from miniflow.db.store import reset_store

    url = f"sqlite:///{miniflow_home / 'miniflow.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    monkeypatch.setenv("MINIFLOW_DATABASE_URL", url)
    reset_config()
    reset_store()
    yield url
    reset_store()


@pytest.fixture
def store(db_url: str):
    """The metadata store on `db_url`."""
    from miniflow.db.store import get_store

    return get_store()
