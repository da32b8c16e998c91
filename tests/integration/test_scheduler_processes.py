"""The scheduler as a user runs it: real processes, a real SQLite DB, real signals.

Each test starts ``python -m miniflow scheduler`` in its own process group, drives it
through the CLI and the metadata DB, and checks what Airflow 2.10 would do. Every wait
is bounded; a finalizer SIGKILLs every process group a test started, so a hung
scheduler or an orphaned worker never outlives its test.

Task bodies write what they did to files (a ledger line at the END of the body, so a
line means the body completed), which is how "no task ran twice" is checked from
outside the system under test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

UTC = dt.UTC

# Fast loops, a low zombie threshold and a 1 s heartbeat, so that crashes are noticed
# in seconds rather than minutes.
FAST = {
    "MINIFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "1",
    "MINIFLOW__SCHEDULER__LOOP_INTERVAL": "0.2",
    "MINIFLOW__SCHEDULER__ZOMBIE_THRESHOLD": "5",
    "MINIFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "1",
    "MINIFLOW__SCHEDULER__SHUTDOWN_GRACE_PERIOD": "10",
}
ZOMBIE_THRESHOLD = float(FAST["MINIFLOW__SCHEDULER__ZOMBIE_THRESHOLD"])

# DAG files start with this; `datetime` is imported for the repr() of dates put in them.
HEADER = """\
import datetime
import contextlib
import datetime as dt
import os
import random
import time

from miniflow import DAG
from miniflow.operators.python import PythonOperator


def note(path, line):
    # One O_APPEND write per line: lines from concurrent processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\\n").encode())
    finally:
        os.close(fd)
"""


def midnight_today() -> dt.datetime:
    return dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def dag_source(body: str, **values: Any) -> str:
    """HEADER plus `body` (dedented), with each ``__NAME__`` replaced by repr(value)."""
    text = HEADER + textwrap.dedent(body)
    for name, value in values.items():
        text = text.replace(f"__{name.upper()}__", repr(value))
    return text


def read_lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def assert_no_overlap(spans: list[tuple[Any, Any]], what: str) -> None:
    """(start, end) spans, sorted here: each ends before the next starts."""
    spans = sorted(spans)
    for (_, end_prev), (start_next, _) in pairwise(spans):
        assert end_prev <= start_next, f"{what} overlap: {spans}"


# --- processes ------------------------------------------------------------------------------


class Schedulers:
    """Starts schedulers (each in a new session) and remembers every process group."""

    def __init__(self, home: Path, logs: Path) -> None:
        self.home = home
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_files: dict[int, Path] = {}

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "MINIFLOW_HOME": str(self.home), **FAST, **extra}

    def start(self, **extra: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        out = self.logs / f"scheduler-{n}.out"
        err = self.logs / f"scheduler-{n}.err"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen([sys.executable, "-m", "miniflow", "scheduler"], stdout=fo, stderr=fe,
                                    start_new_session=True, env=self.env(**extra))
        self.procs.append(proc)
        self.log_files[proc.pid] = err
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return self.log_files[proc.pid].read_text(errors="replace")

    def all_logs(self) -> str:
        return "\n".join(f"--- scheduler pid {p.pid} ---\n{self.log(p)}" for p in self.procs)

    def tail(self, n: int = 40) -> str:
        if not self.procs:
            return ""
        proc = self.procs[-1]
        lines = [ln for ln in self.log(proc).splitlines() if "apscheduler" not in ln]
        return f"--- last scheduler (pid {proc.pid}, rc {proc.poll()}) log tail ---\n" + "\n".join(lines[-n:])

    def wait_started(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """Until the scheduler logs that it started (fails if it exits first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "started with" in self.log(proc):
                return
            if proc.poll() is not None:
                pytest.fail(f"the scheduler exited with {proc.returncode} before starting:\n{self.log(proc)}")
            time.sleep(0.05)
        pytest.fail(f"the scheduler did not start within {timeout} s:\n{self.log(proc)}")

    def start_ready(self, **extra: str) -> subprocess.Popen[bytes]:
        proc = self.start(**extra)
        self.wait_started(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
        """SIGTERM, and the exit code (fails if it does not exit in time)."""
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the scheduler did not exit within {timeout} s of SIGTERM\n{self.tail()}")

    def group_alive(self, proc: subprocess.Popen[bytes]) -> bool:
        """Whether any process of the scheduler's group (workers, tries) is left."""
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def kill_all(self) -> None:
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the scheduler, its workers, their tries
            except (ProcessLookupError, PermissionError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def schedulers(miniflow_home: Path, sqlite_url: str, tmp_path: Path) -> Iterator[Schedulers]:
    logs = tmp_path / "process-logs"
    logs.mkdir()
    procs = Schedulers(miniflow_home, logs)
    yield procs
    procs.kill_all()


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Any]:
    """A SQLAlchemy engine on the test's metadata DB, for reading what happened."""
    from miniflow.db.engine import make_engine

    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def runs(engine: Any, dag_id: str) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import RUN_T

    with engine.connect() as conn:
        return list(conn.execute(select(RUN_T).where(RUN_T.c.dag_id == dag_id).order_by(RUN_T.c.logical_date)))


def tis(engine: Any, dag_id: str, run_id: str | None = None) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import TI_T

    query = select(TI_T).where(TI_T.c.dag_id == dag_id)
    if run_id is not None:
        query = query.where(TI_T.c.run_id == run_id)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(TI_T.c.run_id, TI_T.c.task_id)))


def history(engine: Any, dag_id: str) -> list[Any]:
    from sqlalchemy import select

    from miniflow.db.tables import HIST_T

    with engine.connect() as conn:
        return list(conn.execute(select(HIST_T).where(HIST_T.c.dag_id == dag_id)
                                 .order_by(HIST_T.c.run_id, HIST_T.c.task_id, HIST_T.c.try_number)))


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, on_fail: Callable[[], str] = lambda: "",
             interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{on_fail()}")
        time.sleep(interval)


def runs_finished(engine: Any, dag_id: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        found = runs(engine, dag_id)
        return len(found) >= count and all(r.state in ("success", "failed") for r in found)

    return check


def describe_runs(engine: Any, *dag_ids: str) -> Callable[[], str]:
    def text() -> str:
        out = []
        for dag_id in dag_ids:
            for r in runs(engine, dag_id):
                states = Counter(str(t.state) for t in tis(engine, dag_id, r.run_id))
                out.append(f"{dag_id} {r.run_id} {r.state} {dict(states)}")
        return "\n".join(out)

    return text


# --- crashes ----------------------------------------------------------------------------------

# Five chains of ten; max_active_tasks=2 stretches the run over all ten kills (with
# five tries at once it would end after two or three).
LEDGER_DAG = """
LEDGER = __LEDGER__


def work(ti):
    time.sleep(random.uniform(0.05, 0.2))
    note(LEDGER, f"{ti.task_id},{ti.try_number}")  # the body completed


with DAG("ledger", start_date=dt.datetime(2024, 1, 1), schedule=None, catchup=False,
         is_paused_upon_creation=False, max_active_tasks=2):
    for chain_no in range(5):
        previous = None
        for step in range(10):
            current = PythonOperator(task_id=f"c{chain_no}_s{step}", python_callable=work)
            if previous is not None:
                previous >> current
            previous = current
"""


def _start_past_refusal(schedulers: Schedulers, engine: Any) -> tuple[subprocess.Popen[bytes], dt.datetime]:
    """Start a scheduler, retrying while the killed one still counts as alive; returns
    once it registered its job, with the job's start time."""
    from sqlalchemy import select

    from miniflow.db.tables import JOB_T

    deadline = time.monotonic() + ZOMBIE_THRESHOLD + 20
    while time.monotonic() < deadline:
        proc = schedulers.start()
        while proc.poll() is None:
            with engine.connect() as conn:
                started = conn.execute(select(JOB_T.c.start_date).where(
                    JOB_T.c.pid == proc.pid, JOB_T.c.job_type == "scheduler")).scalar()
            if started is not None:
                return proc, started
            time.sleep(0.02)
        assert "another scheduler" in schedulers.log(proc), schedulers.log(proc)
        time.sleep(0.3)
    pytest.fail(f"no scheduler could start within {ZOMBIE_THRESHOLD + 20} s of the last kill\n{schedulers.tail()}")


def _wait_first_try_since(engine: Any, since: dt.datetime, timeout: float) -> None:
    """Until a try of the ledger DAG starts at or after `since` (or `timeout` passes)."""
    from sqlalchemy import select

    from miniflow.db.tables import TI_T

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(select(TI_T.c.task_id).where(
                    TI_T.c.dag_id == "ledger", TI_T.c.start_date >= since).limit(1)).first():
                return
        time.sleep(0.02)


def test_kill_9_scheduler_ten_times_no_task_runs_twice(schedulers, db, write_dag, run_cli, tmp_path):
    ledger = tmp_path / "ledger.csv"
    write_dag("ledger.py", dag_source(LEDGER_DAG, ledger=str(ledger)))
    result = run_cli("dags", "trigger", "ledger", "-r", "crash_run")
    assert result.returncode == 0, result.stderr

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    progress = []  # (phase of the kill, task instance states right after it)
    for _ in range(10):
        proc, registered = _start_past_refusal(schedulers, db)
        # A random moment: during startup (executor, DAG loading, orphan reset), or
        # once this scheduler's tries run (queueing, running, recording outcomes).
        phase = "startup" if rng.random() < 0.3 else "running"
        if phase == "running":
            _wait_first_try_since(db, registered, timeout=10)
        time.sleep(rng.uniform(0.0, 1.0))
        assert proc.poll() is None, f"the scheduler exited by itself (seed {seed})\n{schedulers.tail()}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        progress.append((phase, dict(Counter(str(r.state) for r in tis(db, "ledger")))))

    final, _ = _start_past_refusal(schedulers, db)
    wait_for(runs_finished(db, "ledger", 1), 90, "the crashed run to finish",
             lambda: f"seed {seed}, states after each kill {progress}\n{describe_runs(db, 'ledger')()}\n"
                     f"{schedulers.tail()}")
    assert schedulers.stop(final) == 0

    (run,) = runs(db, "ledger")
    rows = tis(db, "ledger", "crash_run")
    assert run.state == "success", f"seed {seed}: {describe_runs(db, 'ledger')()}"
    assert len(rows) == 50 and all(r.state == "success" for r in rows)

    # Only the scheduler was killed, never a try: each body completes exactly once, and
    # the try that completed it is the one recorded as the success.
    lines = [ln.split(",") for ln in read_lines(ledger)]
    completed = Counter(task for task, _ in lines)
    twice = {task: n for task, n in completed.items() if n != 1}
    assert not twice, f"seed {seed}: bodies completed more than once: {twice}; ledger {lines}"
    assert set(completed) == {r.task_id for r in rows}
    final_try = {r.task_id: r.try_number for r in rows}
    assert {task: int(n) for task, n in lines} == final_try, f"seed {seed}"
    successes = Counter(h.task_id for h in history(db, "ledger") if h.state == "success")
    assert all(successes[t] == 1 for t in final_try), f"seed {seed}: {successes}"


KILL_CHILD_DAG = """
def victim(ti):
    if ti.try_number == 1:
        time.sleep(120)  # killed before it ends


for dag_id, retries in (("kill_retried", 1), ("kill_failed", 0)):
    with DAG(dag_id, start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
        PythonOperator(task_id="victim", python_callable=victim, retries=retries,
                       retry_delay=dt.timedelta(seconds=0))
"""


def test_kill_9_task_process_is_retried_or_failed_never_left_running(schedulers, db, write_dag, run_cli):
    write_dag("kill_child.py", dag_source(KILL_CHILD_DAG))
    for dag_id in ("kill_retried", "kill_failed"):
        assert run_cli("dags", "trigger", dag_id, "-r", "r1").returncode == 0
    proc = schedulers.start_ready()

    def running_pids() -> dict[str, int] | None:
        rows = [r for d in ("kill_retried", "kill_failed") for r in tis(db, d)]
        if all(r.state == "running" and r.pid for r in rows):
            return {r.dag_id: r.pid for r in rows}
        return None

    pids = wait_for(running_pids, 30, "both victims to run", schedulers.tail)
    for pid in pids.values():
        assert pid != proc.pid
        assert os.getpgid(pid) == proc.pid, "the pid in the row is not a process this scheduler started"
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()

    def settled() -> bool:
        states = {d: tis(db, d)[0].state for d in ("kill_retried", "kill_failed")}
        return states == {"kill_retried": "success", "kill_failed": "failed"}

    wait_for(settled, 30, "the killed tries to be retried (retries=1) and failed (retries=0)",
             lambda: f"{describe_runs(db, 'kill_retried', 'kill_failed')()}\n{schedulers.tail()}")
    noticed_in = time.monotonic() - killed_at
    wait_for(lambda: runs_finished(db, "kill_retried", 1)() and runs_finished(db, "kill_failed", 1)(), 15,
             "both runs to end", describe_runs(db, "kill_retried", "kill_failed"))
    assert schedulers.stop(proc) == 0

    retried = tis(db, "kill_retried")[0]
    assert retried.try_number == 2
    assert [(h.try_number, h.state) for h in history(db, "kill_retried")] == [(1, "up_for_retry"), (2, "success")]
    assert runs(db, "kill_retried")[0].state == "success"
    failed = tis(db, "kill_failed")[0]
    assert failed.try_number == 1
    assert [(h.try_number, h.state) for h in history(db, "kill_failed")] == [(1, "failed")]
    assert runs(db, "kill_failed")[0].state == "failed"
    # The worker reaps the child and reports at once: no need to wait for a zombie check.
    assert noticed_in < ZOMBIE_THRESHOLD + 10


# --- DAG files ------------------------------------------------------------------------------------

GOOD_EVERY_2S = """
with DAG("good", start_date=__START__, schedule=dt.timedelta(seconds=2), catchup=False,
         is_paused_upon_creation=False):
    PythonOperator(task_id="t", python_callable=lambda: None)
"""


def test_broken_dag_file_does_not_stop_the_good_one(schedulers, db, write_dag, run_cli):
    from sqlalchemy import select

    from miniflow.db.tables import ERR_T

    def recorded() -> set[str]:
        with db.connect() as conn:
            return {Path(f).name for f in conn.execute(select(ERR_T.c.filename)).scalars()}

    def successes() -> int:
        return sum(1 for r in runs(db, "good") if r.state == "success")

    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    write_dag("good.py", dag_source(GOOD_EVERY_2S, start=start))
    write_dag("broken_syntax.py", "from miniflow import DAG\n\ndef oops(:\n    pass\n")
    proc = schedulers.start_ready()
    wait_for(lambda: successes() >= 2, 20, "two runs of the good DAG", schedulers.tail)
    assert recorded() == {"broken_syntax.py"}

    # A file that breaks while the scheduler runs: the rescan records it, and the good
    # DAG goes on being scheduled after that.
    write_dag("broken_raises.py", "from miniflow import DAG\n\nraise RuntimeError('this DAG file is broken on purpose')\n")
    wait_for(lambda: recorded() == {"broken_syntax.py", "broken_raises.py"}, 10,
             "the new broken file in the import_error table", lambda: str(recorded()) + schedulers.tail())
    before = successes()
    wait_for(lambda: successes() >= before + 2, 20, "the good DAG to keep being scheduled",
             lambda: describe_runs(db, "good")() + "\n" + schedulers.tail())
    assert proc.poll() is None
    assert schedulers.stop(proc) == 0
    assert not any(r.state == "failed" for r in runs(db, "good"))

    result = run_cli("dags", "list-import-errors", "-o", "json")
    assert result.returncode == 0, result.stderr
    errors = {Path(e["filepath"]).name: e["error"] for e in json.loads(result.stdout)}
    assert set(errors) == {"broken_syntax.py", "broken_raises.py"}
    assert "broken on purpose" in errors["broken_raises.py"]


WATCHED_EVERY_2S = """
note(__IMPORTS__, str(os.getpid()))


def ended(context):
    note(__CALLBACKS__, f"{os.getpid()} {context['reason']}")


with DAG("watched", start_date=__START__, schedule=dt.timedelta(seconds=2), catchup=False,
         is_paused_upon_creation=False, on_success_callback=ended):
    PythonOperator(task_id="t", python_callable=lambda: None)
"""


def test_the_scheduler_imports_no_dag_file_and_schedules_on_while_a_slow_one_is_parsed(
        schedulers, db, write_dag, tmp_path):
    """DAG files are imported by parsing children (and the tries' processes), never by
    the scheduler; DAG callbacks run in a child that imports the file; a file that
    takes seconds to import costs its own parse, not the loop."""
    from sqlalchemy import select

    from miniflow.db.tables import DAG_T

    imports, callbacks = tmp_path / "imports.txt", tmp_path / "callbacks.txt"

    def successes() -> int:
        return sum(1 for r in runs(db, "watched") if r.state == "success")

    def registered() -> set[str]:
        with db.connect() as conn:
            return set(conn.execute(select(DAG_T.c.dag_id).where(DAG_T.c.is_active)).scalars())

    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    write_dag("watched.py", dag_source(WATCHED_EVERY_2S, start=start, imports=str(imports), callbacks=str(callbacks)))
    proc = schedulers.start_ready(MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT="30")
    wait_for(lambda: successes() >= 2, 20, "two runs of the watched DAG", schedulers.tail)

    write_dag("slow.py", "import time\nfrom miniflow import DAG\n\ntime.sleep(12)\ndag = DAG('slow', schedule=None)\n")
    time.sleep(1.5)  # a rescan tick: the slow file's parse has begun
    before = successes()
    wait_for(lambda: successes() >= before + 2, 9, "the watched DAG to be scheduled while the slow file is parsed",
             lambda: describe_runs(db, "watched")() + "\n" + schedulers.tail())
    assert "slow" not in registered(), "the slow file was parsed sooner than it sleeps"
    wait_for(lambda: "slow" in registered(), 30, "the slow file's DAG", schedulers.tail)
    wait_for(lambda: read_lines(callbacks), 10, "the watched DAG's on_success_callback", schedulers.tail)
    assert schedulers.stop(proc) == 0

    assert str(proc.pid) not in read_lines(imports), "the scheduler imported a DAG file itself"
    assert read_lines(imports), "nothing imported the watched DAG's file"
    ran = [line.split() for line in read_lines(callbacks)]
    assert {reason for _, reason in ran} == {"success"}
    assert str(proc.pid) not in {pid for pid, _ in ran}, "a DAG callback ran in the scheduler's process"


def test_a_file_that_hangs_at_import_holds_up_no_other_dag_at_the_schedulers_start(schedulers, db, write_dag):
    """Started with a file that swallows the import timeout beside a good DAG, on a
    fresh database: the good DAG is scheduled at once, the bad file becomes an import
    error when it is killed."""
    def successes() -> int:
        return sum(1 for r in runs(db, "good") if r.state == "success")

    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    write_dag("a_stubborn.py", "import time\nfrom miniflow import DAG\nwhile True:\n    try:\n        time.sleep(60)\n"
                               "    except BaseException:\n        pass\n")
    write_dag("good.py", dag_source(GOOD_EVERY_2S, start=start))
    limits = {"MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "20"}
    began = time.monotonic()
    proc = schedulers.start_ready(**limits)
    wait_for(lambda: successes() >= 2, 15, "two runs of the good DAG while the stubborn file is parsed",
             schedulers.tail)
    assert time.monotonic() - began < 18, "the good DAG waited for the stubborn file"
    assert "still being parsed" in schedulers.log(proc)

    def recorded() -> dict[str, str]:
        from sqlalchemy import select

        from miniflow.db.tables import ERR_T

        with db.connect() as conn:
            return {Path(f).name: m for f, m in conn.execute(select(ERR_T.c.filename, ERR_T.c.message))}

    wait_for(lambda: "a_stubborn.py" in recorded(), 30, "the stubborn file's import error", schedulers.tail)
    assert "killed after 20 s" in recorded()["a_stubborn.py"]
    before = successes()
    wait_for(lambda: successes() >= before + 1, 10, "the good DAG to keep its schedule", schedulers.tail)
    assert schedulers.stop(proc) == 0


# --- backfill beside the scheduler --------------------------------------------------------------

BACKFILL_DAGS = """
LEDGER = __LEDGER__


def work(ti, run_id):
    time.sleep(0.05)
    note(LEDGER, f"{ti.dag_id},{run_id},{ti.task_id},{ti.try_number}")


with DAG("daily", start_date=__START__, schedule="@daily", catchup=True, max_active_runs=3,
         is_paused_upon_creation=False):
    a = PythonOperator(task_id="a", python_callable=work)
    b = PythonOperator(task_id="b", python_callable=work)
    c = PythonOperator(task_id="c", python_callable=work)
    a >> [b, c]

with DAG("busy", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    for n in range(12):
        PythonOperator(task_id=f"t{n}", python_callable=work)
"""


def test_backfill_beside_the_scheduler_on_sqlite(schedulers, db, write_dag, run_cli, tmp_path, miniflow_home):
    ledger = tmp_path / "ledger.csv"
    first = midnight_today() - dt.timedelta(days=10)
    write_dag("backfill_dags.py", dag_source(BACKFILL_DAGS, ledger=str(ledger), start=first.replace(tzinfo=None)))
    for n in range(6):
        assert run_cli("dags", "trigger", "busy", "-r", f"busy_{n}").returncode == 0
    proc = schedulers.start()
    # Once the scheduler is catching up on "daily" (max_active_runs=3 makes it go slowly),
    # the backfill of the same dates starts.
    wait_for(lambda: runs(db, "daily"), 30, "the scheduler to create a run of daily", schedulers.tail, 0.02)
    last = midnight_today() - dt.timedelta(days=1)
    backfill = run_cli("backfill", "daily", "-s", first.date().isoformat(), "-e", last.date().isoformat(),
                       "-o", "json", timeout=150, env=FAST)
    output = backfill.stdout + backfill.stderr
    assert backfill.returncode == 0, output
    reported = json.loads(backfill.stdout)
    assert len(reported) == 10 and all(r["state"] == "success" for r in reported), reported
    wait_for(lambda: runs_finished(db, "busy", 6)() and runs_finished(db, "daily", 10)(), 60,
             "every run to end", lambda: describe_runs(db, "daily", "busy")() + "\n" + schedulers.tail())
    time.sleep(1.0)  # a few more passes, in case the scheduler would create another run
    assert schedulers.stop(proc) == 0

    assert "locked" not in output.lower(), output
    assert "locked" not in schedulers.all_logs().lower()
    task_logs = [p for p in (miniflow_home / "logs").rglob("*.log")]
    assert task_logs
    assert not [p for p in task_logs if "locked" in p.read_text(errors="replace").lower()]

    daily = runs(db, "daily")
    dates = Counter(r.logical_date for r in daily)
    assert not [d for d, n in dates.items() if n > 1], "two runs for one logical date"
    assert sorted(dates) == [first + dt.timedelta(days=n) for n in range(10)]
    assert all(r.state == "success" for r in daily), describe_runs(db, "daily")()
    assert all(r.state == "success" for r in runs(db, "busy"))
    assert {t.state for t in tis(db, "daily")} | {t.state for t in tis(db, "busy")} == {"success"}
    lines = Counter(tuple(ln.split(",")[:3]) for ln in read_lines(ledger))
    assert not [k for k, n in lines.items() if n > 1], "a task body completed twice"
    assert len(lines) == 10 * 3 + 6 * 12


# --- schedule semantics against the running scheduler ---------------------------------------------

CATCHUP_DAGS = """
for dag_id, catchup in (("catchup_on", True), ("catchup_off", False)):
    with DAG(dag_id, start_date=__START__, schedule="@daily", catchup=catchup, is_paused_upon_creation=False):
        PythonOperator(task_id="t", python_callable=lambda: None)

with DAG("ends", start_date=__START__, end_date=__END__, schedule="@daily", catchup=True,
         is_paused_upon_creation=False):
    PythonOperator(task_id="t", python_callable=lambda: None)
"""


def test_catchup_and_end_date(schedulers, db, write_dag):
    today = midnight_today()
    start = today - dt.timedelta(days=5)
    end = today - dt.timedelta(days=3)
    write_dag("catchup.py", dag_source(CATCHUP_DAGS, start=start.replace(tzinfo=None), end=end.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    dags = ("catchup_on", "catchup_off", "ends")
    wait_for(lambda: runs_finished(db, "catchup_on", 5)() and runs_finished(db, "ends", 3)()
             and runs_finished(db, "catchup_off", 1)(), 30, "the runs to end",
             lambda: describe_runs(db, *dags)() + "\n" + schedulers.tail())
    time.sleep(1.5)  # more passes: nothing else may be created
    assert schedulers.stop(proc) == 0
    if midnight_today() != today:
        pytest.skip("the test straddled midnight UTC")

    def dates(dag_id: str) -> list[dt.datetime]:
        return [r.logical_date for r in runs(db, dag_id)]

    # catchup=True: every complete interval since start_date.
    assert dates("catchup_on") == [start + dt.timedelta(days=n) for n in range(5)]
    # catchup=False: only the latest complete interval, [yesterday, today).
    assert dates("catchup_off") == [today - dt.timedelta(days=1)]
    # end_date: no run with a logical date after it (a run AT end_date is made, as in Airflow).
    assert dates("ends") == [start + dt.timedelta(days=n) for n in range(3)]
    for dag_id in dags:
        assert all(r.state == "success" and r.run_type == "scheduled" for r in runs(db, dag_id))


MAX_ACTIVE_RUNS_DAG = """
with DAG("one_at_a_time", start_date=__START__, schedule="@daily", catchup=True, max_active_runs=1,
         is_paused_upon_creation=False):
    a = PythonOperator(task_id="a", python_callable=lambda: time.sleep(0.3))
    b = PythonOperator(task_id="b", python_callable=lambda: time.sleep(0.3))
    a >> b
"""


def test_max_active_runs_one_never_overlaps(schedulers, db, write_dag):
    start = midnight_today() - dt.timedelta(days=4)
    write_dag("mar.py", dag_source(MAX_ACTIVE_RUNS_DAG, start=start.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    most_running = 0

    def done() -> bool:
        nonlocal most_running
        found = runs(db, "one_at_a_time")
        most_running = max(most_running, sum(1 for r in found if r.state == "running"))
        return len(found) >= 4 and all(r.state in ("success", "failed") for r in found)

    wait_for(done, 40, "four runs to end", lambda: describe_runs(db, "one_at_a_time")() + schedulers.tail(),
             interval=0.05)
    assert schedulers.stop(proc) == 0
    found = runs(db, "one_at_a_time")
    assert len(found) == 4 and all(r.state == "success" for r in found)
    assert most_running == 1
    assert_no_overlap([(r.start_date, r.end_date) for r in found], "runs")
    assert_no_overlap([(t.start_date, t.end_date) for t in tis(db, "one_at_a_time")], "tasks of two runs")


POOL_DAG = """
SPANS = __SPANS__


def hold(ti):
    began = time.time()
    time.sleep(0.5)
    note(SPANS, f"{ti.task_id},{began},{time.time()}")


with DAG("pooled", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    for n in range(3):
        PythonOperator(task_id=f"p{n}", python_callable=hold, pool="small")
"""


def test_pool_of_one_slot_serialises_its_tasks(schedulers, db, write_dag, run_cli, tmp_path):
    spans_file = tmp_path / "spans.csv"
    write_dag("pooled.py", dag_source(POOL_DAG, spans=str(spans_file)))
    assert run_cli("pools", "set", "small", "1").returncode == 0
    assert run_cli("dags", "trigger", "pooled", "-r", "r1").returncode == 0
    proc = schedulers.start_ready()
    wait_for(runs_finished(db, "pooled", 1), 30, "the pooled run to end",
             lambda: describe_runs(db, "pooled")() + schedulers.tail())
    assert schedulers.stop(proc) == 0
    assert runs(db, "pooled")[0].state == "success"
    spans = [(float(b), float(e)) for _, b, e in (ln.split(",") for ln in read_lines(spans_file))]
    assert len(spans) == 3
    assert_no_overlap(spans, "task bodies in a 1-slot pool")
    assert_no_overlap([(t.start_date, t.end_date) for t in tis(db, "pooled")], "task instances in a 1-slot pool")


PRIORITY_DAG = """
ORDER = __ORDER__


def record(ti):
    note(ORDER, ti.task_id)
    time.sleep(0.1)


with DAG("prioritised", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    for name, weight in (("w1", 1), ("w3", 3), ("w10", 10), ("w7", 7), ("w5", 5)):
        PythonOperator(task_id=name, python_callable=record, priority_weight=weight)
"""


def test_priority_weight_orders_tasks_with_parallelism_one(schedulers, db, write_dag, run_cli, tmp_path):
    order = tmp_path / "order.txt"
    write_dag("prio.py", dag_source(PRIORITY_DAG, order=str(order)))
    assert run_cli("dags", "trigger", "prioritised", "-r", "r1").returncode == 0
    proc = schedulers.start_ready(MINIFLOW__CORE__PARALLELISM="1")
    wait_for(runs_finished(db, "prioritised", 1), 30, "the run to end",
             lambda: describe_runs(db, "prioritised")() + schedulers.tail())
    assert schedulers.stop(proc) == 0
    assert read_lines(order) == ["w10", "w7", "w5", "w3", "w1"]
    started = [t.task_id for t in sorted(tis(db, "prioritised"), key=lambda t: t.start_date)]
    assert started == ["w10", "w7", "w5", "w3", "w1"]


DEPENDS_ON_PAST_DAG = """
SPANS = __SPANS__


def slow(ti, ds):
    began = time.time()
    time.sleep(1.0)
    note(SPANS, f"{ds},{ti.task_id},{began},{time.time()}")


with DAG("dop", start_date=__START__, schedule="@daily", catchup=True, is_paused_upon_creation=False):
    t = PythonOperator(task_id="t", python_callable=slow, depends_on_past=True)
    after = PythonOperator(task_id="after", python_callable=lambda: None)
    t >> after
"""


def test_depends_on_past_waits_for_the_previous_run(schedulers, db, write_dag, tmp_path):
    spans_file = tmp_path / "spans.csv"
    start = midnight_today() - dt.timedelta(days=2)
    write_dag("dop.py", dag_source(DEPENDS_ON_PAST_DAG, spans=str(spans_file), start=start.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    wait_for(runs_finished(db, "dop", 2), 30, "both runs to end",
             lambda: describe_runs(db, "dop")() + schedulers.tail())
    assert schedulers.stop(proc) == 0
    found = runs(db, "dop")
    assert [r.state for r in found] == ["success", "success"], describe_runs(db, "dop")()
    spans = {ds: (float(b), float(e)) for ds, task, b, e in (ln.split(",") for ln in read_lines(spans_file))}
    first, second = (start + dt.timedelta(days=n) for n in range(2))
    assert spans[second.date().isoformat()][0] >= spans[first.date().isoformat()][1], spans


# --- stopping -----------------------------------------------------------------------------------

SLEEPER_DAG = """
DONE = __DONE__


def sleeper():
    time.sleep(__SECONDS__)
    note(DONE, "done")


with DAG("sleeper", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
    PythonOperator(task_id="sleep", python_callable=sleeper, retries=0)
"""


def _sigterm_while_sleeping(schedulers, db, write_dag, run_cli, tmp_path, seconds: float, grace: str):
    done = tmp_path / "done.txt"
    write_dag("sleeper.py", dag_source(SLEEPER_DAG, done=str(done), seconds=seconds))
    assert run_cli("dags", "trigger", "sleeper", "-r", "r1").returncode == 0
    proc = schedulers.start_ready(MINIFLOW__SCHEDULER__SHUTDOWN_GRACE_PERIOD=grace)
    wait_for(lambda: tis(db, "sleeper")[0].state == "running", 30, "the task to run", schedulers.tail)
    term_at = time.monotonic()
    code = schedulers.stop(proc, timeout=float(grace) + 20)
    took = time.monotonic() - term_at
    wait_for(lambda: not schedulers.group_alive(proc), 10, "the workers and the task process to exit")
    return code, took, done, tis(db, "sleeper")[0]


def test_sigterm_lets_a_running_task_finish_within_the_grace_period(schedulers, db, write_dag, run_cli, tmp_path):
    code, took, done, ti = _sigterm_while_sleeping(schedulers, db, write_dag, run_cli, tmp_path, 2.0, "15")
    assert code == 0, schedulers.tail()
    assert ti.state == "success"
    assert read_lines(done) == ["done"]
    assert took < 15


def test_sigterm_past_the_grace_period_records_the_task_failed(schedulers, db, write_dag, run_cli, tmp_path):
    code, took, done, ti = _sigterm_while_sleeping(schedulers, db, write_dag, run_cli, tmp_path, 60.0, "1")
    assert code == 0, schedulers.tail()
    assert ti.state == "failed", f"retries=0: the cut-off try fails, got {ti.state}"
    assert ti.end_date is not None
    assert not done.exists()
    assert took < 15


def test_second_scheduler_on_sqlite_is_refused(schedulers, write_dag):
    write_dag("empty.py", dag_source("""
        with DAG("idle", start_date=dt.datetime(2024, 1, 1), schedule=None, is_paused_upon_creation=False):
            PythonOperator(task_id="t", python_callable=lambda: None)
    """))
    first = schedulers.start_ready()
    second = schedulers.start()
    try:
        code = second.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the second scheduler was not refused")
    err = schedulers.log(second).strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert err.startswith("Error:") and "another scheduler" in err and "Traceback" not in err
    assert first.poll() is None, "the first scheduler must keep running"

    # A scheduler that was killed (its heartbeat still fresh) does not hold the DB: its
    # pid is gone, so a restart is accepted at once, as Airflow would start.
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    restarted = schedulers.start_ready()
    assert schedulers.stop(restarted) == 0


MAPPED_DAG = """
from miniflow.decorators import setup, task, task_group, teardown

LEDGER = __LEDGER__

with DAG("mapped", start_date=__START__, schedule="@once", is_paused_upon_creation=False):
    @setup
    def create() -> str:
        note(LEDGER, "create")
        return "resource"

    @task
    def items() -> list[int]:
        return [1, 2, 3, 4]

    @task
    def double(x: int) -> int:
        note(LEDGER, f"double {x}")
        return 2 * x

    @task
    def check(x: int) -> int:
        if x == 4:
            raise ValueError("item 2 is refused")
        note(LEDGER, f"check {x}")
        return x

    @task_group
    def per_item(x: int):
        return check(double(x))

    @task(trigger_rule="all_done")
    def total(values: list) -> int:
        note(LEDGER, f"total {sorted(v for v in values if v is not None)}")
        return 0

    @teardown
    def drop(resource: str) -> None:
        note(LEDGER, "drop")

    resource = create()
    with drop(resource):
        total(per_item.expand(x=items()))
"""


def test_mapped_group_and_teardown_through_the_scheduler(schedulers, db, write_dag, tmp_path):
    """One instance per item through the real scheduler and local executor: each item's
    chain on its own, a failed item stopping only itself, the reduce seeing the others,
    the teardown running after all -- and every body once."""
    ledger = tmp_path / "ledger"
    start = midnight_today() - dt.timedelta(days=1)
    write_dag("mapped.py", dag_source(MAPPED_DAG, ledger=str(ledger), start=start.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    wait_for(runs_finished(db, "mapped", 1), 60, "the mapped run to end",
             lambda: describe_runs(db, "mapped")() + "\n" + schedulers.tail())
    assert schedulers.stop(proc) == 0
    states = {(t.task_id, t.map_index): t.state for t in tis(db, "mapped")}
    assert states == {
        ("create", -1): "success", ("items", -1): "success",
        **{("per_item.double", i): "success" for i in range(4)},
        ("per_item.check", 0): "success", ("per_item.check", 1): "failed",
        ("per_item.check", 2): "success", ("per_item.check", 3): "success",
        ("total", -1): "success", ("drop", -1): "success",
    }
    lines = read_lines(ledger)
    assert Counter(lines) == Counter(["create", "double 1", "double 2", "double 3", "double 4",
                                      "check 2", "check 6", "check 8", "total [2, 6, 8]", "drop"])
    assert lines[0] == "create" and lines[-1] == "drop"
    # total (all_done) is the leaf that decides: the teardown after it does not, as in Airflow
    assert runs(db, "mapped")[0].state == "success"


DATASET_DAGS = """
from miniflow.datasets import Dataset, DatasetAlias

ORDERS, CUSTOMERS = Dataset("s3://lake/orders"), Dataset("s3://lake/customers")
LEDGER = __LEDGER__

def produce(outlet_events, ti):
    outlet_events[ORDERS].extra = {"by": ti.dag_id}

def consume(name):
    def body(triggering_dataset_events):
        note(LEDGER, name + " " + ",".join(sorted(triggering_dataset_events)))
    return body

with DAG("orders_loader", start_date=__START__, schedule="@once", is_paused_upon_creation=False):
    PythonOperator(task_id="load", python_callable=produce, outlets=[ORDERS])

with DAG("customers_loader", start_date=__START__, schedule="@once", is_paused_upon_creation=False):
    PythonOperator(task_id="load", python_callable=lambda: None, outlets=[CUSTOMERS])

with DAG("needs_both", start_date=__START__, schedule=[ORDERS, CUSTOMERS], is_paused_upon_creation=False):
    PythonOperator(task_id="report", python_callable=consume("both"))

with DAG("needs_orders", start_date=__START__, schedule=ORDERS | Dataset("s3://lake/never"),
         is_paused_upon_creation=False):
    PythonOperator(task_id="report", python_callable=consume("orders"))
"""


def test_dataset_updates_trigger_consumers_through_the_scheduler(schedulers, db, write_dag, run_cli, tmp_path):
    """Producers' successful tries run their consumers: an `all` condition once both
    updated, an `any` condition on the first; an update from the CLI counts too."""
    ledger = tmp_path / "ledger"
    start = midnight_today() - dt.timedelta(days=1)
    write_dag("datasets.py", dag_source(DATASET_DAGS, ledger=str(ledger), start=start.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    wait_for(lambda: runs_finished(db, "needs_both", 1)() and runs_finished(db, "needs_orders", 1)(), 60,
             "the consumers to run", lambda: describe_runs(db, "needs_both", "needs_orders")() + schedulers.tail())
    assert run_cli("datasets", "event", "s3://lake/orders", "--extra", '{"by": "cli"}').returncode == 0
    wait_for(runs_finished(db, "needs_orders", 2), 30, "the CLI event's run", schedulers.tail)
    time.sleep(1.0)  # more passes: needs_both must not run again on orders alone
    assert schedulers.stop(proc) == 0
    assert [(r.run_type, r.state) for r in runs(db, "needs_both")] == [("dataset_triggered", "success")]
    assert sorted(read_lines(ledger)) == ["both s3://lake/customers,s3://lake/orders", "orders s3://lake/orders",
                                          "orders s3://lake/orders"]


TIMEOUT_DAG = """
PIDS = __PIDS__

def sleep_long():
    note(PIDS, str(os.getpid()))
    time.sleep(120)

with DAG("too_slow", start_date=__START__, schedule="@once", is_paused_upon_creation=False,
         dagrun_timeout=datetime.timedelta(seconds=3)):
    PythonOperator(task_id="sleeper", python_callable=sleep_long) >> PythonOperator(
        task_id="after", python_callable=lambda: None)
"""


def test_dagrun_timeout_fails_the_run_and_stops_its_running_try(schedulers, db, write_dag, tmp_path):
    pids = tmp_path / "pids"
    start = midnight_today() - dt.timedelta(days=1)
    write_dag("too_slow.py", dag_source(TIMEOUT_DAG, pids=str(pids), start=start.replace(tzinfo=None)))
    proc = schedulers.start_ready()
    wait_for(runs_finished(db, "too_slow", 1), 60, "the run to time out", schedulers.tail)
    [pid] = [int(p) for p in read_lines(pids)]

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_for(gone, 30, "the timed-out try's process to stop", schedulers.tail)
    assert schedulers.stop(proc) == 0
    assert [r.state for r in runs(db, "too_slow")] == ["failed"]
    assert {t.task_id: t.state for t in tis(db, "too_slow")} == {"sleeper": "skipped", "after": "skipped"}


def test_dag_files_that_exit_hang_or_hog_never_harm_the_scheduler(schedulers, db, write_dag, run_cli):
    """os._exit, sys.exit, a loop that swallows the timeout and a 6 GB allocation at
    import time, arriving while the scheduler runs: each is an import error with its
    cause, the scheduler lives on at its own size, and the good DAG keeps its schedule."""
    def successes() -> int:
        return sum(1 for r in runs(db, "good") if r.state == "success")

    start = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(seconds=30)
    write_dag("good.py", dag_source(GOOD_EVERY_2S, start=start))
    limits = {"MINIFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "3", "MINIFLOW__CORE__DAG_PARSE_MEMORY_MB": "512"}
    proc = schedulers.start_ready(**limits)
    wait_for(lambda: successes() >= 1, 20, "a run of the good DAG", schedulers.tail)
    write_dag("exit_hard.py", "import os\nfrom miniflow import DAG\nos._exit(1)\n")
    write_dag("exit_soft.py", "import sys\nfrom miniflow import DAG\nsys.exit(0)\n")
    write_dag("stubborn.py", "import time\nfrom miniflow import DAG\nwhile True:\n    try:\n        time.sleep(60)\n"
                             "    except BaseException:\n        pass\n")
    write_dag("hog.py", "from miniflow import DAG\nblob = bytearray(6 * 1024 ** 3)\n")
    result = None

    def all_recorded() -> bool:
        nonlocal result
        result = run_cli("dags", "list-import-errors", "-o", "json", env=limits)
        return result.returncode == 0 and len(json.loads(result.stdout or "[]")) == 4

    wait_for(all_recorded, 40, "the four files' import errors", schedulers.tail)
    errors = {Path(e["filepath"]).name: e["error"] for e in json.loads(result.stdout)}
    assert "exited with status 1" in errors["exit_hard.py"] and "SystemExit" in errors["exit_soft.py"]
    assert "killed after 3 s" in errors["stubborn.py"] and "exceeded 512 MB" in errors["hog.py"]
    before = successes()
    wait_for(lambda: successes() >= before + 2, 30, "the good DAG to keep being scheduled", schedulers.tail)
    rss_kb = int(next(line.split()[1] for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                      if line.startswith("VmRSS")))
    assert rss_kb < 1024 * 1024  # the 6 GB went nowhere near the scheduler
    assert proc.poll() is None and schedulers.stop(proc) == 0


KILLED_BACKFILL_DAG = """
LEDGER = __LEDGER__
STARTED = __STARTED__

def work(ti, run_id):
    note(STARTED, f"{run_id},{ti.task_id},{ti.try_number}")
    if ti.task_id == "slow" and ti.try_number == 1:
        time.sleep(120)  # killed with its backfill
    note(LEDGER, f"{run_id},{ti.task_id},{ti.try_number}")

with DAG("refill", start_date=datetime.datetime(2024, 1, 1), schedule="@daily",
         default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=0)}):
    PythonOperator(task_id="slow", python_callable=work) >> PythonOperator(task_id="after", python_callable=work)
"""


def test_a_backfill_rerun_after_kill_9_recovers_and_finishes_without_a_scheduler(
        miniflow_home, sqlite_url, write_dag, db, tmp_path):
    """kill -9 of a backfill (and its workers) mid-try, then the same command again with
    no scheduler: the dead try is found by its stale heartbeat, retried, and every run
    finishes, each body completing once."""
    ledger, started = tmp_path / "ledger", tmp_path / "started"
    write_dag("refill.py", dag_source(KILLED_BACKFILL_DAG, ledger=str(ledger), started=str(started)))
    env = {**os.environ, "MINIFLOW_HOME": str(miniflow_home), **FAST}
    command = [sys.executable, "-m", "miniflow", "backfill", "refill", "-s", "2024-01-01", "-e", "2024-01-02"]
    first = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        # Both runs' first slow tries (killed, so never finishing) must have started, or the
        # second backfill would start one of them and wait out its sleep.
        wait_for(lambda: sum(",slow,1" in line for line in read_lines(started)) == 2, 60, "both slow tries to start")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, start_new_session=True)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)
    assert second.returncode == 0, second.stdout + second.stderr
    assert [r.state for r in runs(db, "refill")] == ["success", "success"]
    done = Counter(line.rsplit(",", 1)[0] for line in read_lines(ledger))
    assert set(done.values()) == {1} and len(done) == 4  # every (run, task) body completed exactly once


LEFTOVERS_DAG = """
import subprocess

from miniflow.operators.bash import BashOperator

PIDS = __PIDS__

def detached():  # a daemon in a session of its own, never waited for
    note(PIDS, f"detached,{subprocess.Popen(['sleep', '301'], start_new_session=True).pid}")

def dies_hard():  # the try's process ends without any clean-up of its own
    note(PIDS, f"orphaned,{subprocess.Popen(['sleep', '302']).pid}")
    os._exit(1)

with DAG("leftovers", start_date=__START__, schedule="@once", is_paused_upon_creation=False,
         default_args={"retries": 0}):
    PythonOperator(task_id="detached", python_callable=detached)
    PythonOperator(task_id="dies_hard", python_callable=dies_hard)
    # Its output elsewhere, or the operator would wait for it to close the pipe (as in Airflow).
    BashOperator(task_id="background", bash_command=f"sleep 303 > /dev/null 2>&1 & echo background,$! >> {PIDS}")
"""


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process subreapers are Linux-only")
def test_processes_a_try_leaves_behind_are_stopped_when_it_ends(schedulers, db, write_dag, tmp_path):
    """Whatever a try started (in its group, in a new session, or orphaned by a try
    process that died) is stopped when the try ends, as Airflow reaps a task's group."""
    pids_file = tmp_path / "pids"
    write_dag("leftovers.py", dag_source(LEFTOVERS_DAG, pids=str(pids_file), start=midnight_today()))
    schedulers.start_ready(MINIFLOW__CORE__KILLED_TASK_CLEANUP_TIME="2")
    try:
        started = wait_for(lambda: len(read_lines(pids_file)) == 3 and read_lines(pids_file), 60,
                           "the three tasks to start their processes", schedulers.tail)
        pids = {line.split(",")[0]: int(line.split(",")[1]) for line in started}
        wait_for(lambda: not any(_running(pid) for pid in pids.values()), 20,
                 f"the processes the tries left to be stopped: {pids}", schedulers.tail)
    finally:
        for line in read_lines(pids_file):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split(",")[1]), signal.SIGKILL)
    states = {t.task_id: t.state for t in tis(db, "leftovers")}
    assert states["detached"] == "success" and states["background"] == "success", states
