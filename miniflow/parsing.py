"""Isolated DAG parsing: a DAG file is first imported in a child process, so nothing it
does at import time can harm the process that loads DAGs (the scheduler, a CLI command).

A DAG file is code. One that calls ``os._exit()`` or ``sys.exit()``, loops forever
while catching the timeout, allocates gigabytes or prints without end would stop,
hang or bloat the scheduler if imported in it. `probe_files` forks children (as many
at once as there are cores), each importing a batch of files one after the other: a
fork costs more than importing a typical file, so one child per file would make a big
folder several times slower to load. Before each file the child caps its memory
(``RLIMIT_AS``, ``core.dag_parse_memory_mb`` above what it holds then) and it sends
output nowhere; after each file it reports the DAGs found (or the error) as a JSON
line. The parent kills a child that spends longer than ``core.dagbag_import_timeout``
on one file. A child that dies takes the blame for the file it was importing only:
that file gets an import error naming the cause, and the rest of its batch goes to a
new child. A child that spends more than a few seconds on one file no longer counts
against the number at once, and the rest of its batch goes on elsewhere: a file that
hangs until it is killed holds up only itself. Results come back as soon as each is
known: in the order of the files to a loader that imports them after the children (so
the parent imports the clean files while children still probe the next ones), in any
order to one that imports nothing.

The scheduler imports no DAG file at all: it schedules from the serialized DAGs the
children send back (see `miniflow.dag_processing` and `miniflow.serialized_dag`). What
needs a DAG's own code -- its callbacks, a timetable class of its own -- runs in a
child that imports the file (`in_child`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import pickle
import resource
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProbeResult", "probe_files", "in_child"]

log = logging.getLogger(__name__)

_RESULT_LIMIT = 64 * 1024 * 1024  # bytes of JSON a child may send back for one file (a 10,000-task DAG: 9 MB)
_BATCH = 25  # files a child imports at most
_SLOW = 2.0  # seconds on one file after which a child no longer holds up the rest of the folder


@dataclass
class ProbeResult:
    """What importing one file in a child showed: its DAGs' summaries, or an error."""

    dags: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    lineno: int | None = None


def _virtual_bytes() -> int:
    """This process's current address-space size (what RLIMIT_AS counts)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In a child: be killed when the process that forked it dies, whatever killed it
    (Linux's ``PR_SET_PDEATHSIG``), so a file that never ends importing cannot outlive
    a scheduler stopped, or killed, meanwhile."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def _child(filepaths: list[str], write_fd: int, memory_mb: int, import_file: Any, parent: int) -> None:
    """In the child: for each file, limit, import, report a line; then leave without
    running any cleanup."""
    code = 0
    gc.disable()  # a short life: collecting would touch, and so copy, every page it shares
    try:
        _die_with_parent(parent)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        for filepath in filepaths:
            if memory_mb > 0:  # the soft limit, so that it can be set again for the next file
                resource.setrlimit(resource.RLIMIT_AS, (_virtual_bytes() + memory_mb * 1024 * 1024, hard))
            try:
                found, error, lineno = import_file(filepath)
                report: dict[str, Any] = {"dags": found, "error": error, "lineno": lineno}
            except MemoryError:
                report = {"dags": [], "lineno": None,
                          "error": f"exceeded {memory_mb} MB (core.dag_parse_memory_mb) while importing"}
            except KeyboardInterrupt:  # SIGINT kills this process outright: only the file raises it
                report = {"dags": [], "lineno": None, "error": "KeyboardInterrupt raised while importing"}
            if memory_mb > 0:
                resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
            data = json.dumps(report, default=str).encode()
            if len(data) > _RESULT_LIMIT:
                data = json.dumps({"dags": [], "error": "sent back a result too large to read while importing",
                                   "lineno": None}).encode()
            view = memoryview(data + b"\n")
            while view:
                written = os.write(write_fd, view)
                view = view[written:]
    except BaseException:  # noqa: BLE001 -- whatever happens, the parent reports the exit status
        code = 3
    finally:
        os._exit(code)


@dataclass
class _Child:
    """A probing child: its batch, the pipe it reports on, and when its current file times out."""

    files: list[str]
    fd: int
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    done: int = 0  # files of the batch reported so far
    began: float = field(default_factory=time.monotonic)  # when it began its current file

    def slow(self, now: float) -> bool:
        return now - self.began > _SLOW


def probe_files(paths: Iterable[str], import_file: Any, timeout: float, memory_mb: int,
                workers: int | None = None, in_order: bool = True) -> Iterator[tuple[str, ProbeResult]]:
    """Import the files in children, `workers` at a time, and yield ``(path, result)``
    in the order of `paths` (or, without `in_order`, as soon as each is known);
    `import_file(path)` (run in a child) returns ``(dag summaries, error message or
    None, line or None)``."""
    order = list(dict.fromkeys(paths))
    if not order:
        return
    _warm_up()
    workers = workers or max(1, os.cpu_count() or 1)
    size = max(1, min(_BATCH, -(-len(order) // (workers * 2))))  # at least two batches per worker
    todo = [order[i:i + size] for i in range(0, len(order), size)]
    running: dict[int, _Child] = {}
    results: dict[str, ProbeResult] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        following = iter(order)
        nxt = next(following)  # in order: the path to yield next
        left = len(order)
        while left:
            # A child slow on one file makes room for another, so a file that hangs until
            # it is killed holds up only itself (within a bound on the children).
            now = time.monotonic()
            while todo and len(running) < workers * 4 and sum(not c.slow(now) for c in running.values()) < workers:
                batch = todo.pop(0)
                read_fd, write_fd = os.pipe()
                parent = os.getpid()
                pid = os.fork()
                if pid == 0:
                    os.close(read_fd)
                    _child(batch, write_fd, memory_mb, import_file, parent)
                os.close(write_fd)
                running[pid] = _Child(batch, read_fd, time.monotonic() + timeout)
            ready = list(results) if not in_order else [nxt] if nxt in results else []
            if not ready:
                _collect(running, results, todo, timeout, memory_mb)
            for path in ready:
                left -= 1
                if in_order and left:
                    nxt = next(following)
                yield path, results.pop(path)
    finally:  # the caller stopped early: no child outlives it
        for pid, child in running.items():
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(child.fd)


def _collect(running: dict[int, _Child], results: dict[str, ProbeResult], todo: list[list[str]],
             timeout: float, memory_mb: int) -> None:
    """Read what the children reported, and settle those that ended or ran out of time."""
    ready, _, _ = select.select([c.fd for c in running.values()], [], [], 0.05)
    for pid, child in list(running.items()):
        if child.fd in ready:
            chunk = os.read(child.fd, 65536)
            child.data.extend(chunk)
            _read_lines(child, results, timeout, memory_mb)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == 0 and child.done == len(child.files):  # all it owes is reported (its batch may be cut short)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(child.fd)
            del running[pid]
            continue
        if done == 0 and time.monotonic() < child.deadline:
            if child.slow(time.monotonic()) and child.done + 1 < len(child.files):
                todo.insert(0, child.files[child.done + 1:])  # the files after the slow one go on elsewhere
                child.files = child.files[:child.done + 1]
            continue
        if done == 0:  # past the timeout: killed, whatever it catches
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            failure = ProbeResult(error=f"killed after {timeout:g} s (core.dagbag_import_timeout) while importing")
        else:
            child.data.extend(_drain(child.fd))
            _read_lines(child, results, timeout, memory_mb)
            failure = _failure(os.waitstatus_to_exitcode(status), memory_mb)
        os.close(child.fd)
        del running[pid]
        if child.done < len(child.files):  # it died on this file; the rest go to a new child
            results[child.files[child.done]] = failure
            if child.done + 1 < len(child.files):
                todo.insert(0, child.files[child.done + 1:])


def _read_lines(child: _Child, results: dict[str, ProbeResult], timeout: float, memory_mb: int) -> None:
    while child.done < len(child.files) and (end := child.data.find(b"\n")) >= 0:
        line, child.data = bytes(child.data[:end]), child.data[end + 1:]
        try:
            report = json.loads(line)
            result = ProbeResult(report["dags"], report["error"], report["lineno"])
        except (ValueError, KeyError):
            result = ProbeResult(error="sent back a result that could not be read while importing")
        results[child.files[child.done]] = result
        child.done += 1
        child.began = time.monotonic()
        child.deadline = child.began + timeout


def _warm_up() -> None:
    """Import here, once, what DAG files use, so the children share it instead of each
    importing it again (the loading process imports it anyway, after them)."""
    import miniflow.decorators
    import miniflow.operators.bash
    import miniflow.operators.empty
    import miniflow.operators.python
    import miniflow.sensors.base
    import miniflow.setup_teardown
    import miniflow.task_group  # noqa: F401 -- imported for the children


def _drain(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(code: int, memory_mb: int) -> ProbeResult:
    if code == -signal.SIGKILL:
        return ProbeResult(error=f"killed while importing (out of memory? core.dag_parse_memory_mb is {memory_mb})")
    if code < 0:
        return ProbeResult(error=f"killed by signal {signal.Signals(-code).name} while importing")
    return ProbeResult(error=f"exited with status {code} while importing (os._exit or a crash in the file)")


def in_child(action: Callable[[], Any], timeout: float, wait: bool = True) -> Any:
    """Run `action` in a forked child, killed after `timeout` seconds; returns what it
    returned (pickled back), or raises RuntimeError naming what went wrong. With `wait`
    false the child is left to finish on its own (a grandchild, so that nothing has to
    reap it) and None is returned at once."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child's coverage is not collected
        os.close(read_fd)
        if not wait and os.fork() != 0:
            os._exit(0)
        if wait:
            _die_with_parent(parent)
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, signal.SIG_DFL)
        # The limit kills, whatever the code catches or does with SIGALRM (importing the
        # DAG file sets its own alarm).
        threading.Timer(timeout, os.kill, (os.getpid(), signal.SIGKILL)).start()
        code = 0
        try:
            outcome: tuple[bool, Any] = (True, action())
        except BaseException as exc:  # noqa: BLE001 -- reported to the parent, or logged here
            outcome, code = (False, f"{type(exc).__name__}: {exc}"), 1
            if not wait:
                log.error("%s", outcome[1])
        if wait:
            try:
                sent = pickle.dumps(outcome)
            except Exception as exc:  # noqa: BLE001
                sent, code = pickle.dumps((False, f"its result cannot be sent back: {exc}")), 1
            view = memoryview(sent)
            while view:
                view = view[os.write(write_fd, view):]
        os._exit(code)
    os.close(write_fd)
    try:
        if not wait:
            os.waitpid(pid, 0)
            return None
        data = bytearray()
        deadline = time.monotonic() + timeout + 1.0
        while (left := deadline - time.monotonic()) > 0 and select.select([read_fd], [], [], left)[0]:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            data.extend(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
        status = os.waitpid(pid, 0)[1]
    finally:
        os.close(read_fd)
    try:
        ok, value = pickle.loads(data)
    except Exception:  # noqa: BLE001 -- the child died before it could say
        code = os.waitstatus_to_exitcode(status)
        if code == -signal.SIGKILL:
            raise RuntimeError(f"killed after {timeout:g} s") from None
        raise RuntimeError(f"exited with status {code}") from None
    if not ok:
        raise RuntimeError(value)
    return value
