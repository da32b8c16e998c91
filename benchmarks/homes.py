"""Homes with a migrated metadata DB, for the workloads that record runs.

A home is a folder (``dags/``, ``logs/``) and a metadata DB: a SQLite file in the
folder, or, for a system whose executor needs it (Airflow's LocalExecutor), a fresh
database on a PostgreSQL server. Every setting that names a path is given to the
system explicitly, so no config file written by an earlier run can point elsewhere.

``db migrate`` costs a second for miniflow and several for Airflow, so each system's
DB is migrated once per benchmark run into a template, and every home starts from a
copy of it: the file copied for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL. A copy is what a fresh ``db migrate`` gives, byte for byte.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.harness import BenchmarkError, System, run_command

__all__ = ["Home", "cleanup", "new_home"]


class SqliteDB:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10) as conn:
            return conn.execute(sql).fetchall()

    def copy_to(self, path: Path) -> SqliteDB:
        for suffix in ("", "-wal", "-shm"):
            source = self.path.with_name(self.path.name + suffix)
            if source.exists():
                shutil.copyfile(source, path.with_name(path.name + suffix))
        return SqliteDB(path)

    def drop(self) -> None:
        """The file goes with its folder."""


class PostgresDB:
    """One database on a PostgreSQL server, driven with ``psql``."""

    def __init__(self, server_url: str, name: str) -> None:
        self.server_url = server_url.rstrip("/")
        self.name = name
        self.url = f"{self.server_url}/{name}"

    def _psql(self, sql: str, database: str) -> str:
        parts = urlsplit(self.server_url)
        argv = ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", parts.hostname or "127.0.0.1",
                "-p", str(parts.port or 5432), "-U", parts.username or "postgres", "-d", database, "-c", sql]
        env = {**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})}
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120,
                                  check=False)
        except FileNotFoundError:
            raise BenchmarkError("psql is not installed; it creates the peer's PostgreSQL databases") from None
        if done.returncode != 0:
            raise BenchmarkError(f"psql on {self.server_url}/{database} failed: {done.stderr.strip()}")
        return done.stdout

    def create(self, template: str | None = None) -> PostgresDB:
        self._psql(f'CREATE DATABASE "{self.name}"' + (f' TEMPLATE "{template}"' if template else ""), "postgres")
        return self

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        out = self._psql(sql, self.name)
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    def copy_to(self, name: str) -> PostgresDB:
        return PostgresDB(self.server_url, name).create(template=self.name)

    def drop(self) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)', "postgres")


DB = SqliteDB | PostgresDB


@dataclass(frozen=True)
class Home:
    """A system's home: its folder, its DB, and the system configured to use both."""

    path: Path
    system: System
    db: DB

    @property
    def dags(self) -> Path:
        return self.path / "dags"

    def env(self) -> dict[str, str]:
        return self.system.env(self.path)

    def run(self, *args: str) -> tuple[float, str]:
        """Run the system's CLI in this home; its wall time in seconds, and its stdout."""
        return run_command(self.system.command(*args), self.env(), cwd=self.path)

    def python(self, script: Path, *args: str) -> tuple[float, str]:
        """Run `script` with the system's interpreter in this home."""
        return run_command([self.system.python, str(script), *args], self.env(), cwd=self.path)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the metadata DB directly: cheap enough to poll while a scheduler runs."""
        return self.db.query(sql)


_counter = itertools.count()
_templates: dict[tuple[str, bool], DB] = {}
_databases: list[DB] = []
_root: Path | None = None


def _configured(system: System, path: Path, db: DB, executor: bool) -> System:
    settings = {
        ("database", "sql_alchemy_conn"): db.url,
        ("core", "dags_folder"): str(path / "dags"),
        ("logging", "base_log_folder"): str(path / "logs"),
    }
    if executor:
        settings.update(system.executor_settings)
    return system.with_settings(settings)


def _template(system: System, executor: bool) -> DB:
    """The system's migrated DB, made on first use in this benchmark run."""
    global _root
    postgres = executor and system.executor_db_url is not None
    key = (system.name, postgres)
    if key in _templates:
        return _templates[key]
    if _root is None:
        _root = Path(tempfile.mkdtemp(prefix="miniflow-bench-templates-"))
    path = _root / f"{system.name}-{'postgres' if postgres else 'sqlite'}"
    (path / "dags").mkdir(parents=True)
    db: DB
    if postgres:
        db = PostgresDB(system.executor_db_url or "", f"mfbench_{os.getpid()}_{system.name}_template").create()
        _databases.append(db)
    else:
        db = SqliteDB(path / system.db_file)
    run_command(_configured(system, path, db, executor).command("db", "migrate"),
                _configured(system, path, db, executor).env(path), cwd=path)
    _templates[key] = db
    return db


def new_home(root: Path, system: System, name: str, executor: bool = False) -> Home:
    """A fresh home under `root` with a migrated DB and an empty ``dags/`` folder.

    `executor` marks homes where tasks run through an executor (scheduler, backfill):
    those get the system's `executor_settings` and, if it has one, a PostgreSQL DB.
    """
    template = _template(system, executor)
    path = root / system.name / f"{name}-{next(_counter)}"
    (path / "dags").mkdir(parents=True)
    db: DB
    if isinstance(template, PostgresDB):
        db = template.copy_to(f"mfbench_{os.getpid()}_{system.name}_{next(_counter)}")
        _databases.append(db)
    else:
        db = template.copy_to(path / system.db_file)
    return Home(path, _configured(system, path, db, executor), db)


def cleanup() -> None:
    """Drop the PostgreSQL databases and the template folder of this benchmark run."""
    global _root
    for db in reversed(_databases):
        try:
            db.drop()
        except BenchmarkError:
            pass  # the server is gone: nothing of ours is left on it that matters
    _databases.clear()
    _templates.clear()
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
        _root = None
