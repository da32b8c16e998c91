"""Shared fixtures: an isolated MINIFLOW_HOME per test, and service requirements.

Tests that need PostgreSQL, Redis or Chromium call `require_service`; it skips with the
reason when the service is missing, unless MINIFLOW_REQUIRE_SERVICES=1 (CI), where a
missing service fails the test instead.
"""

from __future__ import annotations

import email
import email.policy
import os
import socket
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

# The local server by default, as CI and the README's machine have it.
PG_URL = os.environ.get("MINIFLOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable(url: str) -> str | None:
    """None if we can connect, else the reason."""
    if not url:
        return "MINIFLOW_TEST_DATABASE_URL is empty"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        return (f"cannot connect to {url} ({type(exc).__name__}); start PostgreSQL there or point "
                "MINIFLOW_TEST_DATABASE_URL at one")
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


MYSQL_URL = os.environ.get("MINIFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A MySQL/MariaDB database made for this test session (dropped at its end), as an
    Airflow connection URI."""
    from urllib.parse import urlsplit

    try:
        import pymysql
    except ImportError:
        require_service("MySQL", False, "PyMySQL is not installed (pip install 'miniflow[mysql]')")
    parts = urlsplit(MYSQL_URL)
    server = {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306, "user": parts.username or "root",
              "password": parts.password or ""}
    try:
        admin = pymysql.connect(**server, connect_timeout=3, autocommit=True)
    except Exception as exc:
        require_service("MySQL", False, f"cannot connect to {MYSQL_URL} ({type(exc).__name__}); start MySQL or "
                        "MariaDB there or point MINIFLOW_TEST_MYSQL_URL at one")
    name = f"miniflow_test_{os.getpid()}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}`")
    yield parts._replace(path=f"/{name}").geturl()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def _empty_tables(url: str) -> None:
    from sqlalchemy import create_engine, text

    from miniflow.db.models import metadata

    engine = create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, miniflow_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A freshly migrated metadata DB (SQLite in MINIFLOW_HOME, or the session's PostgreSQL
    emptied), set as MINIFLOW_DATABASE_URL for this process and the processes it starts."""
    from miniflow.db.engine import make_engine
    from miniflow.db.migrate import migrate
    from miniflow.db.store import reset_store

    if request.param == "sqlite":
        url = f"sqlite:///{miniflow_home / 'miniflow.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _empty_tables(url)
    monkeypatch.setenv("MINIFLOW_DATABASE_URL", url)
    reset_config()
    engine = make_engine(url)
    migrate(engine)  # on the emptied PostgreSQL, this adds the default connections again
    engine.dispose()
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


# --- web UI and REST API: a small site with DAGs, runs, logs, XCom and users ------------------

# Strings that would run script if a page ever printed them unescaped.
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS = XSS_SCRIPT + XSS_IMG

WEB_DAG = f'''
import datetime as dt

from miniflow import DAG, Param
from miniflow.operators.python import PythonOperator

XSS = {XSS!r}


def shout(ti):
    print("payload " + XSS)
    ti.xcom_push(key="payload", value={{"html": XSS}})
    return "shouted"


def flaky(ti):
    print(f"flaky try {{ti.try_number}}")
    if ti.try_number == 1:
        raise RuntimeError("the first try fails")


with DAG("web_dag", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule="@daily",
         description="web test " + XSS, tags=["web", "tag" + XSS],
         params={{"p": XSS, "n": Param(1, type="integer", minimum=0)}}):
    PythonOperator(task_id="shout", python_callable=shout) >> PythonOperator(
        task_id="flaky", python_callable=flaky, retries=1, retry_delay=dt.timedelta(seconds=0))
'''

# In a file of their own: `run_dag_test` syncs web_dag alone, which marks the other DAGs
# of web_dag's file inactive.
PAGE_DAGS = '''
import datetime as dt

from miniflow import DAG
from miniflow.operators.empty import EmptyOperator

for i in range(3):
    with DAG(f"page_dag_{i}", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None,
             tags=["page"] + (["odd"] if i % 2 else [])):
        EmptyOperator(task_id="only")
'''

BROKEN_DAG = f"from miniflow import DAG\n\nraise ValueError({XSS!r})\n"

WEB_USERS = {"admin": ("Admin", "admin-pass"), "op": ("Op", "op-pass-1"), "viewer": ("Viewer", "viewer-pass")}


class WebSite:
    """The Flask app over a store holding `web_dag` (one finished run, `run_id`, whose
    `flaky` task took two tries, plus two queued runs), three `page_dag_<i>` DAGs, one
    import error, and the users of WEB_USERS."""

    def __init__(self, app, store, run_id: str, queued_run_ids: list[str], log_folder: Path) -> None:
        self.app, self.store, self.run_id, self.queued_run_ids = app, store, run_id, queued_run_ids
        self.log_folder = log_folder

    @staticmethod
    def auth(user: str = "admin", password: str | None = None) -> dict[str, str]:
        """HTTP basic auth headers for a user of WEB_USERS (or any name/password)."""
        import base64

        password = WEB_USERS[user][1] if password is None else password
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    def client(self, user: str | None = None):
        """A test client; logged in through the login form when `user` is given."""
        client = self.app.test_client()
        if user is not None:
            response = client.post("/login", data={"username": user, "password": WEB_USERS[user][1],
                                                   "csrf_token": self.csrf(client, "/login")})
            assert response.status_code == 302, response.get_data(as_text=True)
        return client

    @staticmethod
    def csrf(client, page: str = "/") -> str:
        """The CSRF token printed in the forms of `page`, as a browser would read it."""
        import re

        html = client.get(page).get_data(as_text=True)
        match = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert match, f"no CSRF token on {page}"
        return match.group(1)


@pytest.fixture
def web_site(store, write_dag, dags_folder: Path, miniflow_home: Path) -> WebSite:
    """The web app over `store` (SQLite and PostgreSQL), filled as WebSite describes."""
    import datetime as dt

    from miniflow.web import create_app
    from miniflow.web.auth import LoginThrottle
    from werkzeug.security import generate_password_hash

    from miniflow.dag_test import run_dag_test
    from miniflow.dagbag import DagBag
    from miniflow.serialization import parsed_dag
    from miniflow.triggering import trigger_dag_run

    write_dag("web_dag.py", WEB_DAG)
    write_dag("page_dags.py", PAGE_DAGS)
    write_dag("broken.py", BROKEN_DAG)
    bag = DagBag(dags_folder, include_examples=False)
    store.sync_dags([parsed_dag(d) for d in bag.dags.values()], import_errors=list(bag.import_errors.values()),
                    processed_files=[str(p) for p in dags_folder.glob("*.py")])
    for name, (role, password) in WEB_USERS.items():
        # One cheap PBKDF2 round instead of scrypt: every API call checks a password,
        # and the default hash (~0.1 s) would make these tests crawl. test_api checks
        # a user made with `hash_password` separately.
        store.create_user(name, generate_password_hash(password, "pbkdf2:sha256:1"), role)
    utc = dt.UTC
    result = run_dag_test(bag.dags["web_dag"], dt.datetime(2024, 1, 2, tzinfo=utc), {"c": XSS}, store=store)
    assert str(result.state) == "success", result
    queued = [trigger_dag_run(store, "web_dag", logical_date=dt.datetime(2024, 1, d, tzinfo=utc), user="admin").run_id
              for d in (3, 4)]
    app = create_app(store, testing=True)
    # Tests that send wrong credentials on purpose (every 401, schemathesis) must not trip
    # the login throttle; tests/web/test_sessions.py checks it on an app of its own.
    app.extensions["miniflow_login_throttle"] = LoginThrottle(limit=1_000_000)
    return WebSite(app, store, result.run_id, queued, miniflow_home / "logs")


# --- the scheduler in-process: its passes driven one at a time by a test -------------------------


class InProcessScheduler:
    """A `Scheduler` over `dags` with the sequential executor: each pass creates due and
    dataset-triggered runs, starts queued runs, applies the trigger rules, queues and
    runs what may run, and handles the tries that ended."""

    def __init__(self, store, *dags) -> None:
        import datetime as dt

        from miniflow.executors.sequential import SequentialExecutor
        from miniflow.scheduler import Scheduler
        from miniflow.serialization import parsed_dag

        self.store = store
        self.dags = {d.dag_id: d for d in dags}
        store.sync_dags([parsed_dag(d) for d in dags], paused_by_default=False)
        self.executor = SequentialExecutor(self.dags, store)
        self.scheduler = Scheduler(store, self.executor)
        self.scheduler.dags = self.dags
        for dag in dags:  # as the scheduler does when it loads a DAG: when is its next run due?
            self.scheduler._update_next_dagrun(dag, dt.datetime.now(dt.timezone.utc))

    def one_pass(self) -> int:
        """One pass; how many task instances it queued."""
        s = self.scheduler
        s.create_due_runs()
        s.create_dataset_triggered_runs()
        s.start_queued_runs()
        s.schedule_runs()
        queued = s.queue_task_instances()
        s.handle_events(self.executor.events(timeout=0.0))
        return queued

    def passes(self, n: int = 6) -> None:
        for _ in range(n):
            self.one_pass()

    def until_quiet(self, limit: int = 30) -> list[int]:
        """Passes until two in a row queue nothing; how many each queued."""
        counts: list[int] = []
        for _ in range(limit):
            counts.append(self.one_pass())
            if counts[-2:] == [0, 0]:
                break
        return counts

    def states(self, dag_id: str, when) -> dict:
        """Each task's state in the run of `dag_id` at `when`."""
        run = self.store.find_run(dag_id, when)
        return {t.task_id: t.state for t in self.store.tis_of_run(dag_id, run.run_id)}


# --- e-mail: a local SMTP server --------------------------------------------------------------


class Inbox:
    """What the local SMTP server received: (recipients, message) pairs."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch):
    """An aiosmtpd server on a free local port, with miniflow's [smtp] settings pointing at it."""
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_STARTTLS": "false",
                       "SMTP_MAIL_FROM": "flows@example.com", "SMTP_RETRY_LIMIT": "1"}.items():
        monkeypatch.setenv(f"MINIFLOW__SMTP__{key}", value)
    monkeypatch.setenv("MINIFLOW__WEBSERVER__BASE_URL", "https://flows.example.com")
    reset_config()
    try:
        yield inbox
    finally:
        controller.stop()


# --- no process outlives the session ------------------------------------------------------------

# Every process a test starts inherits this marker, so the session's end can find any
# that a fixture failed to stop, wherever it was re-parented.
SESSION_MARK = "MINIFLOW_TEST_SESSION"


def pytest_sessionstart(session: pytest.Session) -> None:
    os.environ[SESSION_MARK] = str(os.getpid())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a miniflow process started by the tests is still alive (and stop it)."""
    import signal
    import time

    if getattr(session.config, "workerinput", None) is not None:
        return  # an xdist worker: the controller checks
    deadline = time.monotonic() + 5.0  # processes told to stop may still be on their way out
    while (leaked := _leaked_processes()) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid, _ in leaked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if leaked:
        listing = "\n".join(f"  pid {pid}: {command}" for pid, command in leaked)
        session.config.get_terminal_writer().line(
            f"\nminiflow processes started by the tests were still running (now killed):\n{listing}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _leaked_processes() -> list[tuple[int, str]]:
    """Processes other than this one whose environment carries this session's marker and
    whose command line runs miniflow (its CLI, or ``python -m miniflow``)."""
    mark = f"{SESSION_MARK}={os.getpid()}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue  # a zombie is already dead
        if _runs_miniflow(argv):
            found.append((int(entry.name), " ".join(argv).strip()))
    return found


def _runs_miniflow(argv: list[str]) -> bool:
    return any(Path(arg).name == "miniflow" for arg in argv[:2]) or any(  # .venv/bin/miniflow ...
        a == "-m" and b == "miniflow" for a, b in zip(argv, argv[1:]))
