"""The local executor (`miniflow.executors.local`): workers forked from the fork server
run tries and report their end, under the configuration of the executor that started
them even when the fork server started under another, and leave once the process
that started them is gone, however it ended."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from miniflow.config import reset_config
from miniflow.dagbag import DagBag
from miniflow.db.engine import make_engine
from miniflow.db.migrate import migrate
from miniflow.db.store import get_store, reset_store
from miniflow.executors.base import TaskEvent, TaskKey
from miniflow.executors.local import _SPARES, LocalExecutor, _Child
from miniflow.executors.process_tree import children
from miniflow.serialization import parsed_dag, task_rows
from miniflow.state import DagRunState, TaskInstanceState

pytestmark = pytest.mark.integration

DAG_FILE = '''
import datetime as dt
from miniflow import DAG
from miniflow.operators.bash import BashOperator

with DAG("local_exec", start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), schedule=None):
    BashOperator(task_id="hello", bash_command="echo hello from $MINIFLOW_HOME")
'''


def _queued_try(home: Path, monkeypatch: pytest.MonkeyPatch, command: str = "echo hello from $MINIFLOW_HOME",
                dag_file: str = DAG_FILE, run_ids: tuple[str, ...] = ("r",)) -> Any:
    """Under `home`, a fresh database with the task instance of each of `run_ids` (runs a
    day apart) queued; returns the DAG."""
    (home / "dags").mkdir(parents=True)
    (home / "dags" / "local_exec.py").write_text(dag_file.replace("echo hello from $MINIFLOW_HOME", command))
    monkeypatch.setenv("MINIFLOW_HOME", str(home))
    monkeypatch.delenv("MINIFLOW_DATABASE_URL", raising=False)
    reset_config()
    reset_store()
    migrate(make_engine(f"sqlite:///{home / 'miniflow.db'}"))
    store = get_store()
    dag = DagBag(str(home / "dags"), include_examples=False).dags["local_exec"]
    store.sync_dags([parsed_dag(dag)], paused_by_default=False)
    for n, run_id in enumerate(run_ids):
        day = dt.datetime(2024, 1, 2 + n, tzinfo=dt.timezone.utc)
        store.create_run(dag.dag_id, task_rows(dag), run_id, day, None, "manual", state=DagRunState.RUNNING)
        store.set_ti_states(dag.dag_id, run_id, ["hello"], TaskInstanceState.SCHEDULED, [None])
    assert len(store.queue_within_limits(4, {dag.dag_id: 16}, {}, job_id=None, include_backfill=True)) == len(run_ids)
    return dag


def _run_one_try(home: Path, monkeypatch: pytest.MonkeyPatch) -> TaskInstanceState:
    """Under `home`, a fresh database and a fresh executor: one try of one task, to its end."""
    dag = _queued_try(home, monkeypatch)
    store = get_store()
    executor = LocalExecutor(parallelism=2)
    executor.start()
    try:
        executor.queue(TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc))
        deadline = time.monotonic() + 60
        events = []
        while not events and time.monotonic() < deadline:
            events = executor.events(timeout=1.0)
        assert events and events[0].ok, events
    finally:
        executor.end(grace=5)
    ti = store.get_ti(events[0].key.ti)
    assert ti is not None and ti.state is not None
    return TaskInstanceState(ti.state)


def test_workers_follow_the_configuration_of_their_executor(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The fork server starts with the first executor and outlives it; the second
    executor's workers must record into the second home's database, not the first's."""
    first, second = tmp_path / "first", tmp_path / "second"
    assert _run_one_try(first, monkeypatch) == TaskInstanceState.SUCCESS
    assert _run_one_try(second, monkeypatch) == TaskInstanceState.SUCCESS
    logs = [p.read_text() for p in (second / "logs").rglob("*.log")]
    assert any(f"hello from {second}" in text for text in logs), logs
    assert os.environ["MINIFLOW_HOME"] == str(second)


def test_a_try_that_does_not_use_the_database_opens_no_connection(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker claims and records the try on its own connection: the try's process
    (the bash command's parent) never opens the database file, yet its outcome and
    its command's output are recorded."""
    home = tmp_path / "home"
    dag = _queued_try(home, monkeypatch, command="echo db files open: $(ls -l /proc/$PPID/fd | grep -c miniflow.db)")
    executor = LocalExecutor(parallelism=2, workers=1)
    executor.start()
    key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc)
    try:
        executor.queue(key)
        events = _wait_for(lambda: executor.events(timeout=0.1), "the try never ended", timeout=60)
        assert [(e.key, e.ok) for e in events] == [(key, True)]
    finally:
        executor.end(grace=5)
    ti = get_store().get_ti(key.ti)
    assert ti is not None and ti.state == TaskInstanceState.SUCCESS
    logs = "".join(p.read_text() for p in (home / "logs").rglob("*.log"))
    assert "db files open: 0" in logs, logs


def _db_files(pid: int) -> set[tuple[str, str]]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if "miniflow.db" in target:
            found.add((fd, target))
    return found


def _own_db_files(pid: int) -> int:
    """The database files `pid` opened itself: not those it inherited from its parent
    (a spare is forked from a worker that has its own connection open)."""
    with open(f"/proc/{pid}/stat") as fh:
        parent = int(fh.read().rsplit(")", 1)[1].split()[1])
    return len(_db_files(pid) - _db_files(parent))


@pytest.mark.parametrize("reads_xcoms", [True, False], ids=["tries that read XComs", "tries that do not"])
def test_the_spare_connects_ahead_only_after_tries_that_used_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reads_xcoms: bool) -> None:
    """Tries that read the database in a row (TaskFlow values, say) do not each wait for
    a new connection: once one did, the worker's spares connect while they wait, those
    forked already and those forked after. After tries that do not, the spares stay
    unconnected, which costs nothing."""
    command = "echo {{ ti.xcom_pull(task_ids='hello') }}" if reads_xcoms else "echo hello"
    dag = _queued_try(tmp_path / "home", monkeypatch, command=command, run_ids=("r", "r2"))
    executor = LocalExecutor(parallelism=2, workers=1)
    executor.start()
    try:
        for run_id in ("r", "r2"):  # one after the other: each spare is forked knowing the try before
            key = TaskKey(dag.dag_id, run_id, "hello", 1, dag.fileloc)
            executor.queue(key)
            events = _wait_for(lambda: executor.events(timeout=0.1), f"the try of {run_id} never ended", timeout=60)
            assert [(e.key, e.ok) for e in events] == [(key, True)]
        worker = executor._workers[0].pid
        tried = {ti.pid for run_id in ("r", "r2") for ti in get_store().tis_of_run(dag.dag_id, run_id)}
        spares = lambda: [c for c in children(worker) if _alive(c) and c not in tried]  # noqa: E731
        _wait_for(lambda: not tried & {c for c in children(worker) if _alive(c)}, "the tries' processes never left")
        assert spares(), "the worker keeps no spare"
        connected = lambda: {_own_db_files(spare) > 0 for spare in spares()}  # noqa: E731
        _wait_for(lambda: connected() == {reads_xcoms} or None, "the spares' connections")
        time.sleep(0.5)  # a spare that connects needlessly would have done it by now
        assert connected() == {reads_xcoms}
    finally:
        executor.end(grace=5)


KILLED_PARENT = """
import sys, time
from miniflow.executors.base import TaskKey
from miniflow.executors.local import LocalExecutor
from multiprocessing import forkserver

if __name__ == "__main__":
    executor = LocalExecutor(parallelism=2)
    executor.start()
    executor.queue(TaskKey("local_exec", "r", "hello", 1, sys.argv[1]))
    pids = [p.pid for p in executor._workers] + [forkserver._forkserver._forkserver_pid]
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_workers_finish_their_tries_and_leave_when_the_scheduler_is_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of the executor's process: the running try still records its outcome,
    then the workers, their spare children and the fork server leave (none waits on a
    queue forever)."""
    dag = _queued_try(tmp_path / "home", monkeypatch, command="sleep 1")
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(KILLED_PARENT))
    parent = subprocess.Popen([sys.executable, str(script), dag.fileloc], stdout=subprocess.PIPE, text=True)
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 3, pids
        store = get_store()
        key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc).ti
        deadline = time.monotonic() + 30
        while (ti := store.get_ti(key)) is None or ti.state != TaskInstanceState.RUNNING:
            assert time.monotonic() < deadline, "the try never started"
            time.sleep(0.05)
        pids += [child for worker in pids[:2] for child in children(worker)]  # the try, the spares
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        _assert_all_leave(pids, "workers, their children or the fork server outlived the killed scheduler")
        ti = store.get_ti(key)
        assert ti is not None and ti.state == TaskInstanceState.SUCCESS
    finally:
        _kill_all(parent, pids)


def _assert_all_leave(pids: list[int], what: str) -> None:
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], what


def _kill_all(process: subprocess.Popen[str], pids: list[int]) -> None:
    """What a test started, and what it saw started: none outlives the test."""
    process.kill()
    process.wait(10)
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="named semaphores live in /dev/shm on Linux only")
def test_kill_9_of_the_whole_process_group_leaves_no_named_semaphore(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL to the scheduler's whole process group (as a container's stop does) kills
    multiprocessing's resource tracker too, which would unlink named semaphores: the
    executor must not have made any (a ``sem.*`` file in /dev/shm each, for good)."""
    dag = _queued_try(tmp_path / "home", monkeypatch, command="sleep 30")
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(KILLED_PARENT))
    before = set(Path("/dev/shm").glob("sem.*"))
    # The killed try cannot remove its BashOperator's temporary folder: keep it in tmp_path.
    parent = subprocess.Popen([sys.executable, str(script), dag.fileloc], stdout=subprocess.PIPE, text=True,
                              start_new_session=True, env={**os.environ, "TMPDIR": str(tmp_path)})
    pids: list[int] = []
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc).ti
        _wait_for(lambda: (ti := get_store().get_ti(key)) is not None and ti.state == TaskInstanceState.RUNNING,
                  "the try never started")
        pids += [child for worker in pids[:2] for child in children(worker)]
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(10)
        _assert_all_leave(pids, "a process of the killed group outlived it")
        assert set(Path("/dev/shm").glob("sem.*")) - before == set()
    finally:
        _kill_all(parent, pids)


NEVER_STARTED = """
import os, sys
from miniflow.executors.local import LocalExecutor
LocalExecutor(2)  # starts the fork server, to import while its maker goes on
print(os.getpid(), flush=True)
sys.stdin.readline()
"""


def test_an_executor_made_but_never_started_leaves_nothing_behind(tmp_path: Path) -> None:
    """A command that makes the local executor and then fails before starting it (a
    DAG that does not load) leaves no fork server behind once it exits."""
    script = tmp_path / "maker.py"
    script.write_text(NEVER_STARTED)
    maker = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    started: list[int] = []
    try:
        assert maker.stdout is not None and maker.stdin is not None
        started = children(int(maker.stdout.readline()))
        assert started, "the fork server did not start when the executor was made"
        maker.stdin.close()
        maker.wait(10)
        _assert_all_leave(started, "a process of the executor outlived its maker")
    finally:
        _kill_all(maker, started)


def _wait_for(predicate: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.02)
    return found


def test_a_try_starts_in_the_spare_child_forked_before_it_came(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker keeps children forked ahead of work, a batch at a time. The first try
    of a DAG file runs in a new child (the spares were forked before the worker parsed
    the file, and are let go); the next one runs in one of the spares forked since.
    When the executor ends, no spare is left behind."""
    dag = _queued_try(tmp_path / "home", monkeypatch, run_ids=("r", "r2"))
    store = get_store()
    executor = LocalExecutor(parallelism=1)
    executor.start()
    worker = executor._workers[0].pid
    living = lambda: {c for c in children(worker) if _alive(c)}  # noqa: E731
    try:
        waiting = []
        for run_id in ("r", "r2"):
            waiting.append(_wait_for(lambda: len(found := living()) == _SPARES and found,
                                     "the worker keeps no spares, or its last try never exited"))
            executor.queue(TaskKey(dag.dag_id, run_id, "hello", 1, dag.fileloc))
            events = _wait_for(lambda: executor.events(timeout=0.2), "the try never ended")
            assert events[0].ok, events
        first, second = (store.get_ti(TaskKey(dag.dag_id, r, "hello", 1, dag.fileloc).ti) for r in ("r", "r2"))
        assert first is not None and first.state == TaskInstanceState.SUCCESS and first.pid not in waiting[0]
        assert second is not None and second.state == TaskInstanceState.SUCCESS and second.pid in waiting[1]
        assert not waiting[0] & waiting[1]
        spares = {*waiting[0], *waiting[1], *_wait_for(living, "no spares are left waiting")}
    finally:
        executor.end(grace=5)
    _wait_for(lambda: not any(_alive(p) for p in spares), "a spare outlived the executor")


def test_a_worker_whose_spare_child_is_killed_forks_another_and_goes_on(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of an idle worker's spare (its only child) does not take the worker down
    with it (reaping its last child once made it fail with ChildProcessError)."""
    dag = _queued_try(tmp_path / "home", monkeypatch)
    executor = LocalExecutor(parallelism=2, workers=1)
    executor.start()
    try:
        worker = executor._workers[0].pid
        spare = _wait_for(lambda: children(worker), "the worker never forked its spare")[0]
        os.kill(spare, signal.SIGKILL)
        _wait_for(lambda: children(worker) not in ([], [spare]), "the worker forked no new spare")
        key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc)
        executor.queue(key)
        events = _wait_for(lambda: executor.events(timeout=0.1), "the try never ran", timeout=60)
        assert [(e.key, e.ok) for e in events] == [(key, True)]
        assert executor._workers[0].pid == worker and executor._workers[0].is_alive()
    finally:
        executor.end(grace=5)


def test_a_try_still_queued_to_a_worker_killed_from_outside_runs_on_its_replacement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of a worker before it took a key from its queue: the key is not lost with
    it (the task instance would stay queued for good); the new worker runs the try."""
    dag = _queued_try(tmp_path / "home", monkeypatch)
    executor = LocalExecutor(parallelism=2, workers=1)
    executor.start()
    key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc)
    try:
        worker = executor._workers[0].pid
        os.kill(worker, signal.SIGSTOP)  # it cannot take the key before it dies
        executor.queue(key)
        os.kill(worker, signal.SIGKILL)
        events = _wait_for(lambda: executor.events(timeout=0.1), "the try never ran", timeout=60)
        assert [(e.key, e.ok) for e in events] == [(key, True)]
        assert executor._workers[0].pid != worker
        ti = get_store().get_ti(key.ti)
        assert ti is not None and ti.state == TaskInstanceState.SUCCESS and ti.try_number == 1
    finally:
        executor.end(grace=5)


def test_a_try_running_when_its_worker_is_killed_is_not_run_twice(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 of a worker whose child runs a try: the child goes on and records the
    outcome; the key handed to the new worker finds the try claimed and runs nothing."""
    dag = _queued_try(tmp_path / "home", monkeypatch, command="sleep 2; echo done")
    executor = LocalExecutor(parallelism=2, workers=1)
    executor.start()
    key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc)
    store = get_store()
    try:
        executor.queue(key)
        _wait_for(lambda: (ti := store.get_ti(key.ti)) is not None and ti.state == TaskInstanceState.RUNNING,
                  "the try never started")
        os.kill(executor._workers[0].pid, signal.SIGKILL)
        events = _wait_for(lambda: executor.events(timeout=0.1), "the key was not handed again", timeout=30)
        assert [(e.key, e.ok) for e in events] == [(key, True)]
        _wait_for(lambda: (ti := store.get_ti(key.ti)) is not None and ti.state == TaskInstanceState.SUCCESS,
                  "the orphaned try never recorded its end")
        assert [t.try_number for t in store.ti_history(key.ti)] == [1]
    finally:
        executor.end(grace=5)


DIES_AFTER_CLAIMING = """
import os, sys
from miniflow.db.store import get_store
from miniflow.executors.base import TaskKey
from miniflow.executors.local import _Child

if __name__ == "__main__":
    key = TaskKey("local_exec", "r", "hello", 1, sys.argv[1])
    store = get_store()
    child = _Child(cleanup_time=5)
    child._conn.send((key, store.get_run(key.dag_id, key.run_id)))  # the worker hands the child the try,
    store.claim_ti(key.ti, pid=child.pid)  # claims it for the child,
    print(child.pid, flush=True)
    os._exit(0)  # and dies before handing on the claimed row
"""


def test_a_try_claimed_by_a_worker_that_died_before_handing_it_on_runs_in_its_child(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The child learns of its try before the worker claims it, so a worker killed
    between the two leaves no try running without a process: the child finds the claim
    made for it in the database and runs the try, once."""
    dag = _queued_try(tmp_path / "home", monkeypatch, command="echo ran in $$")
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(DIES_AFTER_CLAIMING))
    worker = subprocess.run([sys.executable, str(script), dag.fileloc], capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr
    child = int(worker.stdout)
    key = TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc)
    store = get_store()
    ti = _wait_for(lambda: (ti := store.get_ti(key.ti)) is not None and ti.state == TaskInstanceState.SUCCESS and ti,
                   "the claimed try never ran")
    assert ti.pid == child
    assert [t.try_number for t in store.ti_history(key.ti)] == [1]


CLAIM_FAILS_ONCE = """
import os, sys
from miniflow.db.store import get_store
from miniflow.executors.base import TaskKey
from miniflow.executors.local import _Child

class FailingClaims:
    def __init__(self, store):
        self.get_run = store.get_run

    def claim_ti(self, key, pid=None):
        raise RuntimeError("the database is away")

if __name__ == "__main__":
    key = TaskKey("local_exec", "r", "hello", 1, sys.argv[1])
    store = get_store()
    child = _Child(cleanup_time=5)
    try:
        child.start(key, FailingClaims(store))
    except RuntimeError as exc:
        assert str(exc) == "the database is away"
    else:
        raise AssertionError("the failing claim did not raise")
    assert child.start(key, store)  # the same child, handed the try again
    child.record(store)
    _, status = os.waitpid(child.pid, 0)
    print(child.pid, os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_child_whose_claim_failed_waits_for_the_next_try(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim that raises (the database is away) still answers the child, which waits
    for the next try instead of taking that try's key for a claimed row."""
    dag = _queued_try(tmp_path / "home", monkeypatch)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(CLAIM_FAILS_ONCE))
    worker = subprocess.run([sys.executable, str(script), dag.fileloc], capture_output=True, text=True, timeout=60)
    assert worker.returncode == 0, worker.stderr
    child, exit_code = map(int, worker.stdout.split())
    assert exit_code == 0
    ti = get_store().get_ti(TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc).ti)
    assert ti is not None and ti.state == TaskInstanceState.SUCCESS and ti.pid == child


def test_a_worker_dying_in_the_middle_of_a_report_leaves_the_scheduler_going() -> None:
    """Each worker reports on a pipe of its own, so one killed while writing holds no
    lock that the others would need; what it left half-written is dropped, and its pipe
    no longer watched, without an error in the scheduler's loop."""
    executor = LocalExecutor(parallelism=1, workers=1)  # not started: its one worker is the pipe below
    reader, writer = multiprocessing.Pipe(duplex=False)
    writer.send(TaskEvent(TaskKey("d", "r", "first", 1, "/dags/d.py"), True))
    os.write(writer.fileno(), struct.pack("!i", 100) + b"half a message")
    writer.close()
    executor._results, executor._workers, executor._load = [reader], [None], [set()]
    assert [e.key.task_id for e in executor.events(timeout=1.0)] == ["first"]
    assert executor._results == [None]
    assert executor.events(timeout=0.1) == []


def _ended_child(says: bytes) -> _Child:
    """A worker's record of a child whose try is over: it wrote `says` on its pipe and
    closed it (the process itself is not needed to decide what to report)."""
    child = object.__new__(_Child)
    child.key = TaskKey("d", "r", "t", 1, "/dags/d.py")
    child.said_done = child.reported = False
    child.ended, said = os.pipe()
    os.write(said, says)
    os.close(said)
    return child


@pytest.mark.parametrize("seen_first", ["the pipe", "the exit"])
def test_a_try_that_said_it_is_done_is_reported_once_whichever_the_worker_sees_first(seen_first: str) -> None:
    """The worker may reap a child before it notices the "ok" on its pipe (both happen
    in one turn of its loop): the try is still reported, as done, and only once. A lost
    report left the executor counting the try as running for good, until no slot was free."""
    told: list[TaskEvent] = []
    child = _ended_child(b"ok")
    if seen_first == "the pipe":
        assert child.recorded()
        child.report(told.append)
    child.report(told.append, exit_code=0)
    child.report(told.append, exit_code=0)
    assert [(e.key.task_id, e.ok) for e in told] == [("t", True)]


def test_a_try_whose_process_died_before_saying_it_is_done_is_reported_lost_once() -> None:
    told: list[TaskEvent] = []
    child = _ended_child(b"")
    assert not child.recorded()
    child.report(told.append)  # the pipe's end of file alone reports nothing: the exit status tells how
    assert told == []
    child.report(told.append, exit_code=-signal.SIGKILL)
    child.report(told.append, exit_code=-signal.SIGKILL)
    assert [(e.ok, e.detail) for e in told] == [(False, "the task process was killed by signal SIGKILL")]


def test_the_end_of_a_try_is_reported_once_done_not_once_its_process_exits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler hears of a try's end as soon as the try is done: its process may go
    on (here stopping a process the task left behind, which ignores SIGTERM) without
    delaying the next task, and its exit is not reported a second time."""
    monkeypatch.setenv("MINIFLOW__CORE__KILLED_TASK_CLEANUP_TIME", "3")
    dag = _queued_try(tmp_path / "home", monkeypatch, command="(trap '' TERM; sleep 30) > /dev/null 2>&1 &")
    executor = LocalExecutor(parallelism=1)
    executor.start()
    worker = executor._workers[0].pid
    try:
        executor.queue(TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc))
        events = _wait_for(lambda: executor.events(timeout=0.1), "the try never ended", timeout=30)
        assert [e.ok for e in events] == [True]
        ti = get_store().get_ti(TaskKey(dag.dag_id, "r", "hello", 1, dag.fileloc).ti)
        assert ti is not None and ti.state == TaskInstanceState.SUCCESS and ti.pid is not None
        assert _alive(ti.pid), "the end was reported only once the process had exited"
        _wait_for(lambda: not _alive(ti.pid), "the try's process never exited", timeout=30)
        assert executor.events(timeout=1.0) == []
        assert ti.pid not in children(worker)
    finally:
        executor.end(grace=5)
