"""Isolated DAG parsing: a DAG file is first imported in a child process, so nothing it
does at import time can harm the process that loads DAGs (the scheduler, a CLI command).

A DAG file is code. One that calls ``os._exit()`` or ``sys.exit()``, loops forever
while catching the timeout, allocates gigabytes or prints without end would stop,
hang or bloat the scheduler if imported in it. `probe_files` forks one child per file
(as many at once as there are cores): the child caps its memory (``RLIMIT_AS``,
``core.dag_parse_memory_mb`` above what it inherited), sends its output nowhere,
imports the file as the `DagBag` does and reports back the DAGs it found (or the error)
as JSON. The parent kills a child that outlives ``core.dagbag_import_timeout``. Every
way a child can fail becomes an import error naming the file and the cause; only files
that imported cleanly in a child are imported in the parent.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProbeResult", "probe_files"]

_RESULT_LIMIT = 4 * 1024 * 1024  # bytes of JSON a child may send back


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


def _child(filepath: str, write_fd: int, memory_mb: int, import_file: Any) -> None:
    """In the child: limit, import, report, and leave without running any cleanup."""
    code = 0
    gc.disable()  # a short life: collecting would touch, and so copy, every page it shares
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if memory_mb > 0:
            limit = _virtual_bytes() + memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            found, error, lineno = import_file(filepath)
            report: dict[str, Any] = {"dags": found, "error": error, "lineno": lineno}
        except MemoryError:
            report = {"dags": [], "error": f"exceeded {memory_mb} MB (core.dag_parse_memory_mb) while importing",
                      "lineno": None}
        data = json.dumps(report, default=str).encode()[:_RESULT_LIMIT]
        view = memoryview(data)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
    except BaseException:  # noqa: BLE001 -- whatever happens, the parent reports the exit status
        code = 3
    finally:
        os._exit(code)


def probe_files(paths: Iterable[str], import_file: Any, timeout: float, memory_mb: int,
                workers: int | None = None) -> dict[str, ProbeResult]:
    """Import each file in a child of its own, `workers` at a time; `import_file(path)`
    (run in the child) returns ``(dag summaries, error message or None, line or None)``."""
    todo = list(paths)
    if not todo:
        return {}
    _warm_up()
    workers = workers or max(1, os.cpu_count() or 1)
    running: dict[int, tuple[str, int, float, bytearray]] = {}  # pid -> (path, read fd, deadline, data)
    results: dict[str, ProbeResult] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    while todo or running:
        while todo and len(running) < workers:
            path = todo.pop(0)
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                _child(path, write_fd, memory_mb, import_file)
            os.close(write_fd)
            running[pid] = (path, read_fd, time.monotonic() + timeout, bytearray())
        fds = {entry[1]: pid for pid, entry in running.items()}
        ready, _, _ = select.select(list(fds), [], [], 0.05)
        for fd in ready:
            chunk = os.read(fd, 65536)
            entry = running[fds[fd]]
            if chunk and len(entry[3]) < _RESULT_LIMIT:
                entry[3].extend(chunk)
        for pid, (path, fd, deadline, data) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0 and time.monotonic() < deadline:
                continue
            if done == 0:  # past the timeout: killed, whatever it catches
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                results[path] = ProbeResult(error=f"killed after {timeout:g} s (core.dagbag_import_timeout) "
                                                  "while importing")
            else:
                data.extend(_drain(fd))
                results[path] = _result(data, os.waitstatus_to_exitcode(status), memory_mb)
            os.close(fd)
            del running[pid]
    return results


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


def _result(data: bytearray, code: int, memory_mb: int) -> ProbeResult:
    if code == 0 and data:
        try:
            report = json.loads(bytes(data))
            return ProbeResult(report["dags"], report["error"], report["lineno"])
        except (ValueError, KeyError):
            return ProbeResult(error="sent back a result that could not be read while importing")
    if code == -signal.SIGKILL:
        return ProbeResult(error=f"killed while importing (out of memory? core.dag_parse_memory_mb is {memory_mb})")
    if code < 0:
        return ProbeResult(error=f"killed by signal {signal.Signals(-code).name} while importing")
    return ProbeResult(error=f"exited with status {code} while importing (os._exit or a crash in the file)")
