"""Scaling out: several schedulers on one PostgreSQL database, Celery workers on Redis
and RabbitMQ, queue routing -- real processes, real ``kill -9``.

Every process is ``python -m miniflow ...`` in a session of its own, so killing its
process group takes down what it started (a scheduler's local workers and their
tries, a Celery worker's pool children) the way a machine that dies would. Every wait
is bounded, and a finalizer SIGKILLs every process group a test started.

Task bodies append ``dag_id,run_id,task_id,try_number,worker,process_group`` to a
ledger file at the END of their work, so a line means the body completed; "no task
ran twice" is checked from that file, outside the system under test, and against the
metadata DB.

Each test gets a PostgreSQL database of its own; Celery tests get an empty Redis
database (claimed with a key, so concurrent test sessions do not share one) and queue
names no one else uses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import require_service

pytestmark = pytest.mark.integration

UTC = dt.UTC
REDIS_URL = os.environ.get("MINIFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
AMQP_URL = os.environ.get("MINIFLOW_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

# Crashes noticed in seconds: a dead scheduler's job or a try without a heartbeat is
# given up after 5 s; Redis should re-deliver a lost worker's unstarted tries after 10 s.
FAST = {
    "MINIFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "2",
    "MINIFLOW__SCHEDULER__LOOP_INTERVAL": "0.2",
    "MINIFLOW__SCHEDULER__ZOMBIE_THRESHOLD": "5",
    "MINIFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "1",
    "MINIFLOW__SCHEDULER__SHUTDOWN_GRACE_PERIOD": "10",
    "MINIFLOW__CELERY__VISIBILITY_TIMEOUT": "10",
}

HEADER = """\
import datetime
import datetime as dt
import os
import random
import time

from miniflow import DAG
from miniflow.operators.python import PythonOperator

LEDGER = __LEDGER__


def note(ti, run_id):
    # One O_APPEND write per line: lines from concurrent processes never interleave.
    worker = os.environ.get("WORKER_NAME", "-")
    line = f"{ti.dag_id},{run_id},{ti.task_id},{ti.try_number},{worker},{os.getpgid(0)}\\n"
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
"""


def dag_source(body: str, **values: Any) -> str:
    """HEADER plus `body` (dedented), with each ``__NAME__`` replaced by repr(value)."""
    text = HEADER + textwrap.dedent(body)
    for name, value in values.items():
        text = text.replace(f"__{name.upper()}__", repr(value))
    return text


def midnight_today() -> dt.datetime:
    return dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, on_fail: Callable[[], str] = lambda: "",
             interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{on_fail()}")
        time.sleep(interval)


class Done(NamedTuple):
    """One ledger line: a task body that completed."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    worker: str  # WORKER_NAME of the Celery worker, "-" elsewhere
    group: int  # process group: the scheduler's (local executor) or the worker's (Celery)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.dag_id, self.run_id, self.task_id


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self) -> list[Done]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text().splitlines():
            dag_id, run_id, task_id, try_number, worker, group = line.split(",")
            rows.append(Done(dag_id, run_id, task_id, int(try_number), worker, int(group)))
        return rows

    def __len__(self) -> int:
        return len(self.lines())


# --- processes ---------------------------------------------------------------------------------


class Cluster:
    """The miniflow processes of one test: schedulers and Celery workers sharing a
    MINIFLOW_HOME (so one DAG folder), a PostgreSQL database and maybe a broker."""

    def __init__(self, home: Path, logs: Path, db_url: str) -> None:
        self.home, self.logs, self.db_url = home, logs, db_url
        self.extra: dict[str, str] = {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.queues: set[str] = set()  # the Celery queues its workers consumed

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "MINIFLOW_HOME": str(self.home), "MINIFLOW_DATABASE_URL": self.db_url,
                **FAST, **self.extra, **extra}

    def start(self, name: str, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "miniflow", *args], stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, env=self.env(**env))
        self.procs[name] = proc
        return proc

    def scheduler(self, name: str, executor: str) -> subprocess.Popen[bytes]:
        proc = self.start(name, ["scheduler"], MINIFLOW__CORE__EXECUTOR=executor)
        self.wait_for_line(name, "started with", 60)
        return proc

    def worker(self, name: str, queues: str | None = None, concurrency: int = 2) -> subprocess.Popen[bytes]:
        args = ["celery", "worker", "-c", str(concurrency)] + (["-q", queues] if queues else [])
        self.queues.update(queues.split(",") if queues else [])
        proc = self.start(name, args, WORKER_NAME=name)
        self.wait_for_line(name, "ready.", 60)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def wait_for_line(self, name: str, text: str, timeout: float) -> None:
        proc = self.procs[name]

        def seen() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode} before logging {text!r}:\n{self.log(name)}")
            return text in self.log(name)

        wait_for(seen, timeout, f"{name} to log {text!r}", lambda: self.log(name), 0.1)

    def tails(self, n: int = 25) -> str:
        out = []
        for name, proc in self.procs.items():
            lines = [ln for ln in self.log(name).splitlines() if "apscheduler" not in ln]
            out.append(f"--- {name} (pid {proc.pid}, rc {proc.poll()}) ---\n" + "\n".join(lines[-n:]))
        return "\n".join(out)

    def kill_group(self, name: str) -> None:
        """SIGKILL the process and everything it started, as when its machine dies."""
        proc = self.procs[name]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, name: str, timeout: float = 30) -> int:
        proc = self.procs[name]
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} did not exit within {timeout} s of SIGTERM\n{self.tails()}")

    def kill_all(self) -> None:
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


_db_numbers = itertools.count(1)


@pytest.fixture
def pg_url(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own (beside the session's), set as
    MINIFLOW_DATABASE_URL: processes of an earlier test cannot touch it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from miniflow.config import reset_config
    from miniflow.db.engine import make_engine
    from miniflow.db.migrate import migrate
    from miniflow.db.store import reset_store

    base = make_url(postgres_url)
    name = f"{base.database}_so{next(_db_numbers)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    monkeypatch.setenv("MINIFLOW_DATABASE_URL", url)
    reset_config()
    reset_store()
    yield url
    reset_store()
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def db(pg_url: str) -> Iterator[Any]:
    """An engine on the test's database, for reading what happened."""
    from miniflow.db.engine import make_engine

    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def cluster(miniflow_home: Path, pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    logs = tmp_path / "process-logs"
    logs.mkdir()
    procs = Cluster(miniflow_home, logs, pg_url)
    yield procs
    procs.kill_all()


CLAIM_KEY = "miniflow-test:claimed-by"


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a Redis database that was empty and is claimed for this test (with a
    key that other sessions running this module respect); emptied afterwards."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        reason = ""
    except Exception as exc:
        reason = f"cannot reach {REDIS_URL}: {type(exc).__name__}: {exc}"
    require_service("Redis", not reason, reason)
    parts = urlsplit(REDIS_URL)
    count = int(redis.Redis.from_url(REDIS_URL).config_get("databases").get("databases", 16))
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    numbers = list(range(1, count))
    random.shuffle(numbers)
    for number in numbers:
        url = urlunsplit((parts.scheme, parts.netloc, f"/{number}", parts.query, parts.fragment))
        client = redis.Redis.from_url(url)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True, ex=900):
            if client.dbsize() == 1:
                break
            client.delete(CLAIM_KEY)
    else:
        require_service("Redis", False, f"no empty database to claim at {REDIS_URL}")
    yield url
    names = [k for k in client.scan_iter() if k != CLAIM_KEY.encode()]
    if names:
        client.delete(*names)
    if client.get(CLAIM_KEY) == token.encode():
        client.delete(CLAIM_KEY)


@pytest.fixture
def amqp_url(cluster: Cluster) -> Iterator[str]:
    """The RabbitMQ URL; afterwards the test's processes are stopped and the queues
    they used deleted (RabbitMQ keeps durable queues and exchanges after their users
    leave, and a live worker would declare its queue again)."""
    try:
        from kombu import Connection

        with Connection(AMQP_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        reason = ""
    except Exception as exc:
        reason = f"cannot reach {AMQP_URL}: {type(exc).__name__}: {exc}"
    require_service("RabbitMQ", not reason, reason)
    yield AMQP_URL
    cluster.kill_all()
    with Connection(AMQP_URL, connect_timeout=3) as conn:
        for name in cluster.queues:
            for delete in ("queue_delete", "exchange_delete"):  # Celery made both, named alike
                with contextlib.suppress(Exception):  # best effort: it may not exist
                    getattr(conn.channel(), delete)(name)


# --- reading the metadata DB ---------------------------------------------------------------------


def runs(engine: Any, dag_id: str | None = None) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import RUN_T

    query = select(RUN_T).order_by(RUN_T.c.dag_id, RUN_T.c.logical_date)
    if dag_id is not None:
        query = query.where(RUN_T.c.dag_id == dag_id)
    with engine.connect() as conn:
        return list(conn.execute(query))


def tis(engine: Any) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import TI_T

    with engine.connect() as conn:
        return list(conn.execute(select(TI_T).order_by(TI_T.c.dag_id, TI_T.c.run_id, TI_T.c.task_id)))


def history(engine: Any) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import HIST_T

    with engine.connect() as conn:
        return list(conn.execute(select(HIST_T)))


def jobs(engine: Any) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import JOB_T

    with engine.connect() as conn:
        return list(conn.execute(select(JOB_T)))


def all_finished(engine: Any, expected_runs: int) -> bool:
    found = runs(engine)
    return len(found) >= expected_runs and all(r.state in ("success", "failed") for r in found)


def describe(engine: Any) -> str:
    ti_states = Counter(str(t.state) for t in tis(engine))
    run_states = Counter(str(r.state) for r in runs(engine))
    stuck = [f"{t.dag_id}.{t.task_id} {t.run_id} {t.state} try {t.try_number} queued_by {t.queued_by} "
             f"host {t.hostname} pid {t.pid}" for t in tis(engine) if t.state in ("queued", "running")][:15]
    live = [f"job {j.id} pid {j.pid} {j.state} beat {j.latest_heartbeat:%H:%M:%S}" for j in jobs(engine)]
    return (f"runs: {dict(run_states)}\ntask instances: {dict(ti_states)}\nin flight: {stuck}\n"
            f"jobs: {live}")


def assert_each_ran_once_to_success(engine: Any, ledger: Ledger, expected: int,
                                    killed_groups: frozenset[int] = frozenset()) -> int:
    """Every task instance succeeded, with exactly one success in its history, and the
    body of that successful try completed exactly once.

    Any other completion must come from a process group the test killed, in a try that
    is not recorded as a success: killed after its body's last line but before its
    outcome was committed, that try is rightly retried (at least once, never lost).
    Returns how many such completions there were."""
    rows = tis(engine)
    assert len(rows) == expected
    assert Counter(str(t.state) for t in rows) == {"success": expected}, describe(engine)
    final_try = {(t.dag_id, t.run_id, t.task_id): t.try_number for t in rows}
    hist = history(engine)
    successes = Counter((h.dag_id, h.run_id, h.task_id) for h in hist if h.state == "success")
    assert set(successes) == set(final_try) and set(successes.values()) == {1}, \
        {k: n for k, n in successes.items() if n != 1}
    lines = ledger.lines()
    assert {d.key for d in lines} == set(final_try), "task instances whose body never completed"
    recorded = {(h.dag_id, h.run_id, h.task_id, h.try_number): h.state for h in hist}

    def story(key: tuple[str, str, str]) -> str:
        done = [(d.try_number, d.worker, d.group) for d in lines if d.key == key]
        tries = [(h.try_number, h.state, h.pid, f"{h.start_date:%H:%M:%S.%f}", f"{h.end_date:%H:%M:%S.%f}")
                 for h in hist if (h.dag_id, h.run_id, h.task_id) == key]
        return f"{key}: completions {done}; history {tries}"

    winners = Counter(d.key for d in lines if d.try_number == final_try[d.key])
    twice = [k for k, n in winners.items() if n != 1]
    assert not twice, "the successful try's body completed more than once:\n" + "\n".join(map(story, twice))
    others = [d for d in lines if d.try_number != final_try[d.key]]
    bad = [d for d in others if d.group not in killed_groups
           or recorded.get((*d.key, d.try_number)) == "success"]
    assert not bad, "a task body completed in a try that was not killed:\n" + "\n".join(
        story(k) for k in {d.key for d in bad})
    return len(others)


# --- several schedulers on one PostgreSQL database -------------------------------------------------

SCHEDULED_DAG = """
def work(ti, run_id):
    time.sleep(random.uniform(0.0, 0.03))
    note(ti, run_id)  # the body completed


with DAG(__DAG_ID__, start_date=__START__, schedule="@daily", catchup=True, is_paused_upon_creation=False,
         default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=1)}):
    for chain_no in range(4):
        previous = None
        for step in range(5):
            current = PythonOperator(task_id=f"c{chain_no}_s{step}", python_callable=work)
            if previous is not None:
                previous >> current
            previous = current
"""

DAGS, TASKS, DAYS = 20, 20, 2


@pytest.mark.parametrize("kill", [False, True], ids=["all_live", "one_killed"])
def test_three_schedulers_run_every_task_once(cluster, db, write_dag, tmp_path, kill):
    ledger = Ledger(tmp_path / "ledger.csv")
    today = midnight_today()
    start = today - dt.timedelta(days=DAYS)
    for n in range(DAGS):
        write_dag(f"scaled_{n:02}.py", dag_source(SCHEDULED_DAG, ledger=str(ledger.path), dag_id=f"scaled_{n:02}",
                                                    start=start.replace(tzinfo=None)))
    names = [f"scheduler-{n}" for n in range(3)]
    for name in names:
        cluster.start(name, ["scheduler"], MINIFLOW__CORE__EXECUTOR="local")
    for name in names:
        cluster.wait_for_line(name, "started with 20 DAGs", 60)
    total = DAGS * DAYS * TASKS
    live, killed = names, frozenset()
    if kill:
        # Midway, the machine of the scheduler with the most queued tries dies: the
        # scheduler, its local workers and their tries, queued and running.
        wait_for(lambda: len(ledger) >= total // 3, 90, f"{total // 3} tasks to complete",
                 lambda: describe(db) + "\n" + cluster.tails(), 0.05)
        pid_of_job = {str(j.id): j.pid for j in jobs(db)}

        def in_flight() -> dict[str, Counter[str]]:
            by_pid: dict[int, Counter[str]] = {}
            for t in tis(db):
                if t.state in ("queued", "running"):
                    by_pid.setdefault(pid_of_job.get(t.queued_by), Counter())[t.state] += 1
            found = {n: by_pid.get(cluster.procs[n].pid, Counter()) for n in names}
            return found if any(c["queued"] for c in found.values()) else {}

        flight = wait_for(in_flight, 30, "a scheduler with queued tries", lambda: describe(db), 0.02)
        victim = max(names, key=lambda n: (flight[n]["queued"], flight[n]["running"]))
        cluster.kill_group(victim)
        print(f"killed {victim} with {dict(flight[victim])} in flight at {len(ledger)}/{total} completed")
        live, killed = [n for n in names if n != victim], frozenset({cluster.procs[victim].pid})

    def finished() -> bool:
        for name in live:
            if cluster.procs[name].poll() is not None:
                pytest.fail(f"{name} exited by itself (rc {cluster.procs[name].returncode})\n{cluster.tails()}")
        return all_finished(db, DAGS * DAYS)

    wait_for(finished, 120, "every run to end", lambda: describe(db) + "\n" + cluster.tails(), 0.5)
    time.sleep(1.0)  # a few more passes: nothing else may be created
    for name in live:
        assert cluster.stop(name) == 0, cluster.tails()
    if midnight_today() != today:
        pytest.skip("the test straddled midnight UTC")

    found = runs(db)
    assert Counter(r.state for r in found) == {"success": DAGS * DAYS}, describe(db)
    per_date = Counter((r.dag_id, r.logical_date) for r in found)
    assert not [k for k, n in per_date.items() if n > 1], "two runs for one logical date"
    expected_dates = {start + dt.timedelta(days=d) for d in range(DAYS)}
    for n in range(DAGS):
        assert {r.logical_date for r in found if r.dag_id == f"scaled_{n:02}"} == expected_dates
    redone = assert_each_ran_once_to_success(db, ledger, total, killed)
    print(f"{redone} bodies completed in a killed try before its outcome was recorded")
    queued_by = Counter(t.queued_by for t in tis(db))
    assert len(queued_by) >= 2, f"the schedulers did not share the work: {queued_by}"


# --- Celery ------------------------------------------------------------------------------------------

CELERY_DAG = """
def work(ti, run_id):
    time.sleep(random.uniform(0.05, 0.2))
    note(ti, run_id)  # the body completed


with DAG(__DAG_ID__, start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False,
         default_args={"retries": 1, "retry_delay": dt.timedelta(seconds=1), "queue": __QUEUE__}):
    for chain_no in range(__CHAINS__):
        previous = None
        for step in range(5):
            current = PythonOperator(task_id=f"c{chain_no:02}_s{step}", python_callable=work)
            if previous is not None:
                previous >> current
            previous = current
"""


def _celery_run(cluster, db, write_dag, run_cli, ledger: Ledger, broker: str, chains: int,
                kill_after: int | None) -> float:
    """Two workers (-c 2) and a Celery scheduler run one run of a DAG of `chains` x 5
    tasks on a queue of their own; with `kill_after`, worker-a's process group is
    killed once that many tasks have completed, some on worker-a. Returns the seconds
    from the first worker's start to the run's end."""
    queue = f"mf-{uuid.uuid4().hex[:10]}"
    cluster.extra.update(MINIFLOW__CELERY__BROKER_URL=broker)
    write_dag("fleet.py", dag_source(CELERY_DAG, ledger=str(ledger.path), dag_id="fleet", queue=queue,
                                     chains=chains))
    trigger = run_cli("dags", "trigger", "fleet", "-r", "r1", env=cluster.extra)
    assert trigger.returncode == 0, trigger.stderr
    began = time.monotonic()
    cluster.worker("worker-a", queue)
    cluster.worker("worker-b", queue)
    cluster.scheduler("scheduler", "celery")
    killed: frozenset[int] = frozenset()
    if kill_after is not None:
        def progressed() -> bool:
            lines = ledger.lines()
            return len(lines) >= kill_after and any(d.worker == "worker-a" for d in lines)

        wait_for(progressed, 90, f"{kill_after} tasks to complete, some on worker-a",
                 lambda: describe(db) + "\n" + cluster.tails(), 0.05)
        in_flight = Counter(str(t.state) for t in tis(db) if t.state in ("queued", "running"))
        cluster.kill_group("worker-a")
        killed = frozenset({cluster.procs["worker-a"].pid})
        print(f"killed worker-a at {len(ledger)}/{chains * 5} completed, with {dict(in_flight)} in flight")

    def finished() -> bool:
        if cluster.procs["scheduler"].poll() is not None:
            pytest.fail(f"the scheduler exited by itself\n{cluster.tails()}")
        return all_finished(db, 1)

    wait_for(finished, 120, "the run to end", lambda: describe(db) + "\n" + cluster.tails(), 0.5)
    took = time.monotonic() - began
    assert cluster.stop("scheduler") == 0, cluster.tails()
    assert runs(db)[0].state == "success", describe(db)
    redone = assert_each_ran_once_to_success(db, ledger, chains * 5, killed)
    workers = Counter(d.worker for d in ledger.lines())
    print(f"{chains * 5} tasks in {took:.1f} s, completed by {dict(workers)}; "
          f"{sum(1 for t in tis(db) if t.try_number > 1)} took a second try, "
          f"{redone} bodies completed in a killed try before its outcome was recorded")
    assert set(workers) == {"worker-a", "worker-b"}, "both workers should have taken tries"
    return took


def test_celery_on_redis_survives_a_worker_killed_midway(cluster, db, write_dag, run_cli, redis_url, tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    _celery_run(cluster, db, write_dag, run_cli, ledger, redis_url, chains=40, kill_after=60)
    killed_at = max(i for i, d in enumerate(ledger.lines()) if d.worker == "worker-a")
    assert any(d.worker == "worker-b" for d in ledger.lines()[killed_at:]), "worker-b did not take over"


ONE_TASK_DAG = """
def work(ti, run_id):
    note(ti, run_id)


with DAG("one", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    PythonOperator(task_id="t", python_callable=work, queue=__QUEUE__)
"""


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_lost_workers_unstarted_try_is_redelivered(cluster, db, write_dag, run_cli, tmp_path, request, broker):
    """A worker takes a try (unacknowledged) and dies before starting it. No heartbeat
    was ever written, so only the broker can bring the try back: RabbitMQ when the
    worker's connection drops, Redis after celery.visibility_timeout."""
    ledger = Ledger(tmp_path / "ledger.csv")
    url = request.getfixturevalue("redis_url" if broker == "redis" else "amqp_url")
    queue = f"mf-{uuid.uuid4().hex[:10]}"
    visibility = 5
    cluster.extra.update(MINIFLOW__CELERY__BROKER_URL=url, MINIFLOW__CELERY__VISIBILITY_TIMEOUT=str(visibility))
    write_dag("one.py", dag_source(ONE_TASK_DAG, ledger=str(ledger.path), queue=queue))
    doomed = cluster.worker("worker-a", queue, concurrency=1)
    pool = Path(f"/proc/{doomed.pid}/task/{doomed.pid}/children").read_text().split()
    assert pool, "the worker has no pool process"
    for pid in pool:
        os.kill(int(pid), signal.SIGSTOP)  # it will never claim the try it is given
    assert run_cli("dags", "trigger", "one", "-r", "r1", env=cluster.extra).returncode == 0
    cluster.scheduler("scheduler", "celery")
    cluster.wait_for_line("worker-a", "received", 30)
    cluster.kill_group("worker-a")
    killed_at = time.monotonic()
    assert [t.state for t in tis(db)] == ["queued"]
    cluster.worker("worker-b", queue, concurrency=1)
    bound = visibility + 20
    wait_for(lambda: [t.state for t in tis(db)] == ["success"], bound,
             f"worker-b to get the lost try (celery.visibility_timeout={visibility} s)",
             lambda: describe(db) + "\n" + cluster.tails())
    print(f"re-delivered and run {time.monotonic() - killed_at:.1f} s after the worker died")
    assert [(d.try_number, d.worker) for d in ledger.lines()] == [(1, "worker-b")]


def test_celery_on_rabbitmq(cluster, db, write_dag, run_cli, amqp_url, tmp_path):
    ledger = Ledger(tmp_path / "ledger.csv")
    _celery_run(cluster, db, write_dag, run_cli, ledger, amqp_url, chains=10, kill_after=None)
    assert all(t.try_number == 1 for t in tis(db))


ROUTED_DAG = """
def work(ti, run_id):
    time.sleep(0.05)
    note(ti, run_id)


with DAG("routed", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    for n in range(8):
        PythonOperator(task_id=f"heavy_{n}", python_callable=work, queue="heavy")
        PythonOperator(task_id=f"light_{n}", python_callable=work)
"""


def test_queue_routing(cluster, db, write_dag, run_cli, redis_url, tmp_path):
    """`queue="heavy"` runs only on the worker started with ``-q heavy``; tasks without
    queue= go to celery.default_queue, which a worker started without -q consumes."""
    ledger = Ledger(tmp_path / "ledger.csv")
    cluster.extra.update(MINIFLOW__CELERY__BROKER_URL=redis_url, MINIFLOW__CELERY__DEFAULT_QUEUE="light")
    write_dag("routed.py", dag_source(ROUTED_DAG, ledger=str(ledger.path)))
    trigger = run_cli("dags", "trigger", "routed", "-r", "r1", env=cluster.extra)
    assert trigger.returncode == 0, trigger.stderr
    cluster.worker("heavy-worker", "heavy")
    cluster.worker("default-worker")
    cluster.scheduler("scheduler", "celery")

    def done(prefix: str) -> Callable[[], bool]:
        return lambda: sum(1 for d in ledger.lines() if d.task_id.startswith(prefix)) == 8 and all(
            t.state == "success" for t in tis(db) if t.task_id.startswith(prefix))

    wait_for(done("heavy_"), 30, "the heavy tasks to succeed", lambda: describe(db) + "\n" + cluster.tails())
    by_task = {d.task_id: d.worker for d in ledger.lines()}
    assert {by_task[f"heavy_{n}"] for n in range(8)} == {"heavy-worker"}, by_task
    assert {t.queue for t in tis(db) if t.task_id.startswith("heavy_")} == {"heavy"}
    wait_for(done("light_"), 30, "the tasks without queue= to run on the worker of celery.default_queue "
             "(MINIFLOW__CELERY__DEFAULT_QUEUE=light, worker started without -q)",
             lambda: describe(db) + "\n" + "\n".join(
                 f"{t.task_id}: queue {t.queue!r}" for t in tis(db) if t.task_id.startswith("light_")))
    by_task = {d.task_id: d.worker for d in ledger.lines()}
    assert {by_task[f"light_{n}"] for n in range(8)} == {"default-worker"}, by_task
    wait_for(lambda: all_finished(db, 1), 15, "the run to end", lambda: describe(db))
    assert cluster.stop("scheduler") == 0
    assert runs(db)[0].state == "success"
    assert_each_ran_once_to_success(db, ledger, 16)


DETACHING_DAG = """
import subprocess

def detach(ti, run_id):  # a daemon in a session of its own, never waited for
    daemon = subprocess.Popen(["sleep", "304"], start_new_session=True)
    with open(__PIDS__, "a") as fh:
        fh.write(f"{daemon.pid}\\n")
    note(ti, run_id)


with DAG("detaching", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    PythonOperator(task_id="t", python_callable=detach, queue=__QUEUE__)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process subreapers are Linux-only")
def test_a_celery_try_leaves_no_process_behind(cluster, db, write_dag, run_cli, redis_url, tmp_path):
    ledger, pids = Ledger(tmp_path / "ledger.csv"), tmp_path / "pids"
    queue = f"mf-{uuid.uuid4().hex[:10]}"
    cluster.extra.update(MINIFLOW__CELERY__BROKER_URL=redis_url, MINIFLOW__CORE__KILLED_TASK_CLEANUP_TIME="2")
    write_dag("detaching.py", dag_source(DETACHING_DAG, ledger=str(ledger.path), queue=queue, pids=str(pids)))
    cluster.worker("worker-a", queue, concurrency=1)
    assert run_cli("dags", "trigger", "detaching", "-r", "r1", env=cluster.extra).returncode == 0
    cluster.scheduler("scheduler", "celery")
    try:
        wait_for(lambda: [t.state for t in tis(db)] == ["success"], 60, "the try to succeed",
                 lambda: describe(db) + "\n" + cluster.tails())
        daemon = int(pids.read_text())
        wait_for(lambda: not Path(f"/proc/{daemon}").exists(), 20, "the try's daemon to be stopped",
                 cluster.tails)
    finally:
        for line in pids.read_text().split() if pids.exists() else []:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line), signal.SIGKILL)
