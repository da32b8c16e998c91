"""LocalExecutor: warm worker processes on this machine, a forked child per try.

    scheduler --(task pipe)---> worker 1..N: claims the try --fork--> child: runs it
              <--(result pipe)--- worker: records the outcome the child sends;
                                  reports the try done once the child says so, or
                                  lost when it exited without (its exit status)

Workers are started once, forked from multiprocessing's fork server: a clean,
single-threaded process that imported miniflow (`_PRELOAD`) before forking them, so the
workers share those pages with it and with each other instead of each holding its own
copy. Each try then costs a ``fork`` of a warm worker rather than a new interpreter,
and a try that crashes or calls ``os._exit`` takes down only its own child. The fork
happens ahead of the work: a worker keeps spare children, forked while it waits
(`_Child`), and hands the next try to one of them. The worker claims and records the
tries on its own, long-lived database connection, so a try that does not use the
database itself never opens one. A worker is single-threaded too, which keeps
forking it safe: it waits on its task pipe and on a SIGCHLD wake-up pipe at once.
Workers outlive a killed scheduler only until their running tries finish: each holds
the read end of a pipe whose write end only the scheduler has, and its end of file
says the scheduler is gone.

Processes a try starts do not outlive it (see `process_tree`): the child stops them
when the try ends, and a worker adopts and kills those of a child that died first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import logging
import multiprocessing as mp
import multiprocessing.connection
import multiprocessing.forkserver
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from miniflow.executors.base import BaseExecutor, TaskEvent, TaskKey

if TYPE_CHECKING:
    from miniflow.db.interfaces import RunnerStore
    from miniflow.db.records import RunRecord, TIRecord
    from miniflow.runner import Outcome, Record

__all__ = ["LocalExecutor"]

log = logging.getLogger(__name__)
_STOP = None  # sentinel on the task pipe
_SPARES = 4  # children a worker forks ahead at once
_CONNECT = "connect"  # a worker to its spare: connect to the database while you wait
# What the fork server imports before it forks a worker. A worker runs the scheduler's
# main script again (as multiprocessing does), which imports the CLI; ctypes is for
# become_subreaper.
_PRELOAD = ["miniflow.cli", "ctypes", "sqlalchemy.dialects.sqlite", "miniflow.executors.forkserver_preload"]


def _worker_main(tasks: Any, results: Any, scheduler_alive: Any, environ: dict[str, str]) -> None:
    """A worker's loop: hand each task key to a child; report each child's end.

    Nothing is ever sent on `scheduler_alive`: it turns readable (end of file) when the
    scheduler's process is gone, however it ended."""
    from miniflow.config import get_config, reset_config
    from miniflow.db.store import get_store, reset_store
    from miniflow.executors.process_tree import become_subreaper, kill_descendants
    from miniflow.executors.worker import dag_loads, load_dag_cached, prepare_worker

    if environ != dict(os.environ):  # the fork server started under another configuration
        os.environ.clear()
        os.environ.update(environ)
        time.tzset()
        reset_config()
        reset_store()
        prepare_worker()
    else:  # nothing to do if the fork server preloaded it; else the warm-up happens here
        import miniflow.executors.forkserver_preload  # noqa: F401
    # Each try's child is forked from here: a collection would write to every object
    # and so copy, in each child, the pages it shares with this worker.
    gc.freeze()
    cleanup_time = float(get_config().get("core", "killed_task_cleanup_time"))
    become_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the scheduler to handle
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)

    def tell(event: TaskEvent) -> None:
        with contextlib.suppress(OSError):  # the scheduler is gone: there is no one to tell
            results.send(event)

    store = get_store(check=False)  # claims and records the children's tries on this worker's connection
    tries: dict[int, _Child] = {}  # the children running a try, by pid
    spares: list[_Child] = []  # forked ahead; the next try takes the last
    warm = False  # whether the next spares connect to the database ahead: the last try used it
    accepting = True
    while accepting or tries:
        if accepting and not spares:
            # Several at once: after each fork, every page the worker writes (claiming and
            # recording touch hundreds) is a copy-on-write fault, paid once per batch.
            spares = [_Child(cleanup_time, warm) for _ in range(_SPARES)]
        watched = [wake_r, *(fd for running in tries.values() for fd in running.watched())]
        if accepting:
            watched += [tasks, scheduler_alive]
        ready = mp.connection.wait(watched, timeout=1.0)
        if wake_r in ready:
            os.read(wake_r, 4096)
        for running in tries.values():
            if running.outcomes in ready:  # an outcome to record
                used = running.record(store)
                if used and not warm:
                    for spare in spares:
                        spare.connect_ahead()
                warm = warm if used is None else used
            if running.ended in ready:  # a try done: reported now, not once its process is gone
                running.report(tell)
        while True:  # reap every finished child
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:  # none left at all: the last was a spare, killed from outside
                break
            if pid == 0:
                break
            for killed in [spare for spare in spares if spare.pid == pid]:  # killed before it had work
                killed.retire()
                spares.remove(killed)
            ended = tries.pop(pid, None)
            if ended is None:  # a spare, or a process a try left behind, adopted and killed below
                continue
            ended.report(tell, os.waitstatus_to_exitcode(status))
            kill_descendants(skip=frozenset([*tries, *(spare.pid for spare in spares)]))
        if scheduler_alive in ready:
            accepting = False  # the scheduler is gone: finish what runs, take nothing new
        if accepting and tasks in ready:
            try:
                key = tasks.recv()
            except EOFError:  # the scheduler is gone (`scheduler_alive` says so too)
                key = _STOP
            if key is _STOP:
                accepting = False
            else:
                try:
                    load_dag_cached(key.fileloc, key.dag_id)  # parse here, so every child inherits it
                except Exception as exc:  # noqa: BLE001 -- reported; the scheduler fails the try
                    tell(TaskEvent(key, False, f"{type(exc).__name__}: {exc}"))
                    continue
                if spares and spares[-1].dag_loads != dag_loads():  # they would parse again
                    _retire(spares)
                child = spares.pop() if spares else _Child(cleanup_time, warm)
                try:
                    ours = child.start(key, store)
                except Exception as exc:  # noqa: BLE001 -- reported; the scheduler fails the try
                    tell(TaskEvent(key, False, f"{type(exc).__name__}: {exc}"))
                    spares.append(child)
                else:
                    if ours:
                        tries[child.pid] = child
                    else:  # claimed elsewhere, or cleared: nothing to run, the child waits for the next key
                        tell(TaskEvent(key, True, ""))
                        spares.append(child)
        if not accepting:
            _retire(spares)


def _retire(spares: list[_Child]) -> None:
    for spare in spares:
        spare.retire()
    spares.clear()


class _Child:
    """A child of the worker, forked ahead of work: a spare that waits for a try while
    the worker waits for a key. The worker tells it the try, claims the try for it on
    the worker's own connection and hands it the claimed row; the child runs the try
    and sends its outcome back (`outcomes`), for the worker to record on that
    connection. A try that does not use the database itself so never opens a
    connection: on PostgreSQL a new one costs a server process too. Spares connect
    while they wait only once the worker's last try used the database (it read XComs,
    say), so that such tries in a row do not wait for their connections. Once the try is done (its outcome recorded,
    its callbacks run) the child says so on `ended`, and the worker reports the end
    then, not once the process has stopped what the task left behind and exited. A
    child whose worker is gone records its outcome itself."""

    def __init__(self, cleanup_time: float, warm: bool = False) -> None:
        from miniflow.executors.worker import dag_loads

        self.dag_loads = dag_loads()  # the DAGs it has: those the worker had parsed by now
        self.key: TaskKey  # set by `start`
        self.row: TIRecord  # the claimed try, set by `start`
        self.said_done = False  # the child said its try is done, outcome recorded
        self.reported = False  # the try's end was told to the scheduler
        self._conn, child_end = mp.Pipe()  # the try goes one way, its outcome the other
        ended, said = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(ended)
            self._serve(child_end, said, cleanup_time, warm)
        child_end.close()
        os.close(said)
        self.ended: int | None = ended
        self.outcomes: Any = None  # the pipe the running try's outcome comes on

    def _serve(self, conn: Any, said: int, cleanup_time: float, warm: bool) -> NoReturn:
        """In the child: wait for a try, and run it once the worker has claimed it for
        this process; `warm` (or told so while waiting), also connect to the database
        while waiting."""
        try:
            self._conn.close()
            signal.set_wakeup_fd(-1)
            from miniflow.db.store import HOSTNAME, get_store
            from miniflow.state import TaskInstanceState

            store = get_store(check=False)
            row: TIRecord | None = None
            while row is None:
                got: Any = _CONNECT if warm else conn.recv()
                warm = False
                if got == _CONNECT:
                    with contextlib.suppress(Exception):  # a database that fails here fails the try instead
                        store.warm_up_connection()
                    continue
                key: TaskKey = got[0]
                run: RunRecord | None = got[1]
                try:
                    row = conn.recv()  # None: not ours to run (claimed elsewhere, or cleared)
                except EOFError:  # the worker died claiming it: the row says whether it did
                    row = store.get_ti(key.ti)
                    mine = (TaskInstanceState.RUNNING, os.getpid(), HOSTNAME)
                    if row is None or (row.state, row.pid, row.hostname) != mine:
                        raise
        except EOFError:
            os._exit(0)  # retired: there is no try to run
        except BaseException:  # noqa: BLE001 -- the worker reports the try as lost
            os._exit(1)
        _run_child(key, (row, run), conn, cleanup_time, said)

    def connect_ahead(self) -> None:
        """Have this spare connect to the database while it waits."""
        with contextlib.suppress(OSError):  # killed meanwhile: it is reaped, not used
            self._conn.send(_CONNECT)

    def start(self, key: TaskKey, store: RunnerStore) -> bool:
        """Hand this child the try, claim it for the child (queued -> running, with its
        pid) and hand it the claimed row; False when it was not ours to run (claimed by
        another, or cleared). The child knows the try before it is claimed: if this
        process dies in between, the child finds the claim in the database and runs it."""
        self._conn.send((key, store.get_run(key.dag_id, key.run_id)))
        row = None
        try:
            row = store.claim_ti(key.ti, pid=self.pid)
        finally:
            self._conn.send(row)  # None, also when the claim failed: the child waits for another key
        if row is None:
            return False
        self.key, self.row = key, row
        self.outcomes = self._conn
        return True

    def record(self, store: RunnerStore) -> bool | None:
        """Record the outcome the child sent and answer whether it was recorded; None
        answers that the worker could not (the database failed), and the child then
        records it itself. Returns whether the try used the database itself (None: no
        outcome came, the child died)."""
        try:
            outcome, used = self._conn.recv()
        except (EOFError, OSError):  # the child died: its exit is reported
            self.outcomes = None
            return None
        from miniflow.runner import record_outcome

        try:
            answer: bool | None = record_outcome(store, self.row, outcome)
        except Exception as exc:  # noqa: BLE001 -- the child tries on its own connection
            log.warning("could not record %s (%s); its process records it", self.key.ti, exc)
            answer = None
        with contextlib.suppress(OSError):
            self._conn.send(answer)
        return bool(used)

    def watched(self) -> list[Any]:
        """What the worker waits on for this running try."""
        return [x for x in (self.outcomes, self.ended) if x is not None]

    def retire(self) -> None:
        self._conn.close()
        self.outcomes = None
        if self.ended is not None:
            os.close(self.ended)
            self.ended = None

    def recorded(self) -> bool:
        """Whether the child said its try is done, outcome recorded (end of file says it
        ended without: its exit status tells how). Reads `ended` once, and closes it."""
        if self.ended is not None:
            self.said_done = os.read(self.ended, 2) == b"ok"
            os.close(self.ended)
            self.ended = None
        return self.said_done

    def report(self, tell: Callable[[TaskEvent], None], exit_code: int | None = None) -> None:
        """`tell` the try's end, once: done, if the child said so (perhaps only read now,
        as its exit is reaped); else, once it has exited, lost with its `exit_code`."""
        if self.reported:
            return
        if self.recorded():
            tell(TaskEvent(self.key, True, ""))
        elif exit_code is not None:
            tell(TaskEvent(self.key, exit_code == 0, "" if exit_code == 0 else _describe(exit_code)))
        else:
            return
        self.reported = True


def _record_through(conn: Any) -> Record:
    """In a child: record the try's outcome through its worker, or here if the worker
    is gone or could not (the try's row says whether it was recorded already)."""
    from miniflow.db.store import get_store
    from miniflow.runner import record_outcome

    def record(row: TIRecord, outcome: Outcome) -> bool:
        answer = None
        with contextlib.suppress(Exception):  # the worker is gone, or the outcome does not pickle
            conn.send((dataclasses.replace(outcome, error=None, context=None), get_store().used_here()))
            answer = conn.recv()
        return record_outcome(get_store(), row, outcome) if answer is None else bool(answer)

    return record


def _run_child(key: TaskKey, claimed: tuple[TIRecord, RunRecord | None], conn: Any, cleanup_time: float,
               said: int) -> NoReturn:
    """In a child: run the claimed try, say on `said` that it is done, stop what it left
    behind and leave without running cleanup handlers."""
    from miniflow.executors.process_tree import become_subreaper, stop_descendants
    from miniflow.executors.worker import exit_on_sigterm, run_key

    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        become_subreaper()
        exit_on_sigterm()
        ok, detail = run_key(key, own_process=True, claimed=claimed, record=_record_through(conn))
        if ok:
            os.write(said, b"ok")
        else:
            print(detail, file=sys.stderr, flush=True)
        code = 0 if ok else 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # stopped now, the worker cleans up
        stop_descendants(cleanup_time)
        os._exit(code)


def _describe(code: int) -> str:
    if code < 0:
        return f"the task process was killed by signal {signal.Signals(-code).name}"
    return f"the task process exited with code {code} before recording its outcome"


class LocalExecutor(BaseExecutor):
    def __init__(self, parallelism: int, workers: int | None = None) -> None:
        super().__init__(parallelism)
        self.worker_count = workers or max(1, min(parallelism, os.cpu_count() or 1))
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(_PRELOAD)
        # Started now, it imports `_PRELOAD` while the caller parses its DAGs; `start`
        # then waits only for what is left of that.
        mp.forkserver.ensure_running()
        # Each worker has a pipe of its own for its events: a worker killed while writing
        # to a queue shared by all would keep its lock, and every other worker would wait
        # on it for good.
        self._results: list[Any] = []  # per worker, the read end of its events, None once at end of file
        self._tasks: list[Any] = []  # per worker, the write end of its task keys
        self._workers: list[Any] = []
        self._alive: list[Any] = []  # per worker, the pipe end whose closing tells it this process is gone
        self._load: list[set[TaskKey]] = []  # the keys each worker is running
        self._events: list[TaskEvent] = []  # taken from the workers, not yet returned by `events`
        self._ending = False

    def start(self) -> None:
        for _ in range(self.worker_count):
            self._tasks.append(None)
            self._results.append(None)
            self._workers.append(None)
            self._alive.append(None)
            self._load.append(set())
            self._spawn(len(self._workers) - 1)

    def _spawn(self, n: int) -> None:
        # Plain pipes, each with one writer and one reader: a multiprocessing queue locks
        # with named semaphores, which outlive a process group killed with SIGKILL.
        tasks_r, tasks_w = self._ctx.Pipe(duplex=False)
        results_r, results_w = self._ctx.Pipe(duplex=False)
        alive_r, alive_w = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_worker_main, name=f"miniflow-worker-{n}",
                                 args=(tasks_r, results_w, alive_r, dict(os.environ)))
        proc.start()
        for end in (tasks_r, results_w, alive_r):  # only the worker's copies stay open: its death ends the pipes
            end.close()
        for old in (self._tasks[n], self._results[n], self._alive[n]):
            if old is not None:
                old.close()
        self._tasks[n], self._results[n], self._workers[n], self._alive[n] = tasks_w, results_r, proc, alive_w

    def _replace_dead_workers(self) -> None:
        """A worker killed from outside: start another in its place, and hand the keys
        the dead one had to the workers again. A try it had not started yet (its key still
        in the dead worker's pipe) then runs; one it had started goes on in its orphaned
        process, which records its own end (or, dead too, is failed or retried by the
        zombie check), and its key handed again finds it claimed and is let be."""
        if self._ending:
            return
        for n, proc in enumerate(self._workers):
            if proc is not None and not proc.is_alive():
                log.warning("worker %s (pid %s) died; starting a new one", proc.name, proc.pid)
                self._take_events(n)  # what it reported before it died
                lost, self._load[n] = self._load[n], set()
                self.running -= lost
                self._spawn(n)
                for key in lost:
                    self.queue(key)

    def queue(self, key: TaskKey) -> None:
        """Give the try to the worker with the fewest running."""
        n = min(range(len(self._workers)), key=lambda i: len(self._load[i]))
        self._load[n].add(key)
        self.running.add(key)
        with contextlib.suppress(OSError):  # it died: replaced in `events`, which hands its keys again
            self._tasks[n].send(key)

    def events(self, timeout: float) -> list[TaskEvent]:
        mp.connection.wait([r for r in self._results if r is not None], timeout=timeout)
        for n in range(len(self._workers)):
            self._take_events(n)
        self._replace_dead_workers()
        found, self._events = self._events, []
        return found

    def _take_events(self, n: int) -> None:
        """Take what worker `n` has reported; at the end of its pipe (it died, perhaps in
        the middle of a message) stop watching it."""
        reader = self._results[n]
        while reader is not None and reader.poll():
            try:
                event = reader.recv()
            except (EOFError, OSError):
                reader.close()
                self._results[n] = reader = None
                break
            self.running.discard(event.key)
            for load in self._load:
                load.discard(event.key)
            self._events.append(event)

    def end(self, grace: float) -> list[TaskKey]:
        self._ending = True
        for tasks in self._tasks:
            with contextlib.suppress(OSError):  # that worker is dead already
                tasks.send(_STOP)
        deadline = time.monotonic() + grace
        while self.running and time.monotonic() < deadline:
            self.events(timeout=min(0.2, max(0.0, deadline - time.monotonic())))
        killed = list(self.running)
        if killed:
            for proc in self._workers:
                if proc.is_alive():
                    self._terminate_children(proc.pid)
        for proc in self._workers:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
        for end in (*self._tasks, *self._alive):
            end.close()
        self.events(timeout=0)
        return killed

    @staticmethod
    def _terminate_children(worker_pid: int) -> None:
        """SIGTERM the tries still running under a worker (each records its failure)."""
        from miniflow.executors.process_tree import children

        for pid in children(worker_pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
