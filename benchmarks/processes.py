"""Long-running processes under test: a scheduler in the background, and its memory.

A `Scheduler` is started with the system's own CLI in a home, and counts as ready
once a job row newer than any before its start says it is running, and the DAGs it
should schedule are in the metadata DB. `Schedulers` keeps at most one running, the one of the system whose
turn it is: when repetitions alternate between systems (A B A B), each system is
timed with no other scheduler competing for the two cores.

Memory is PSS (proportional set size, from ``/proc/<pid>/smaps_rollup``): pages
shared between processes, such as a forked worker's copy of the parent, are split
among them, so the PSS of a process tree adds up to what the tree really costs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import BenchmarkError
from benchmarks.homes import Home

__all__ = ["Scheduler", "Schedulers", "cmdline", "descendants", "parent", "pss_mb", "wait_for"]


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children of any of its threads, recursively)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            threads = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in threads:
            try:
                children = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.append(child)
                    todo.append(child)
    return found


def pss_mb(pid: int) -> float:
    """The PSS of one process in MB (10**6 bytes); 0 if it has ended."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    return 0.0


def parent(pid: int) -> int:
    """The parent's pid, 0 if `pid` has ended."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def cmdline(pid: int) -> str:
    """The command line (or the title a process gave itself), "" if it has ended."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def wait_for(condition: object, timeout: float, what: str, interval: float = 0.1,
             alive: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Poll ``condition()`` until true; a BenchmarkError after `timeout` or if `alive` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():  # type: ignore[operator]
            return
        if alive is not None and alive.poll() is not None:
            raise BenchmarkError(f"the scheduler exited with {alive.returncode} while waiting for {what}"
                                 + _tail(log))
        if time.monotonic() > deadline:
            raise BenchmarkError(f"timed out after {timeout:g} s waiting for {what}" + _tail(log))
        time.sleep(interval)


def _tail(log: Path | None, lines: int = 8) -> str:
    if log is None or not log.exists():
        return ""
    return ":\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class Scheduler:
    """``<cli> scheduler`` running in a home, its output in ``scheduler.log`` there."""

    def __init__(self, home: Home, dag_ids: list[str], ready_timeout: float = 120.0) -> None:
        self.home = home
        self.dag_ids = dag_ids
        self.ready_timeout = ready_timeout
        self.log = home.path / "scheduler.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.after_job = 0  # the newest job row before this scheduler started

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        self.after_job = self._last_job()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.home.system.command("scheduler"), env=self.home.env(),
                                         cwd=self.home.path, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._ready, self.ready_timeout, f"{self.home.system.name}'s scheduler to start",
                 interval=0.2, alive=self.proc, log=self.log)

    def _last_job(self) -> int:
        rows = self.home.query("SELECT max(id) FROM job")
        return int(rows[0][0]) if rows and rows[0][0] not in (None, "") else 0

    def _ready(self) -> bool:
        jobs = self.home.query(f"SELECT count(*) FROM job WHERE state = 'running' AND id > {self.after_job}")
        if not jobs or int(jobs[0][0]) == 0:
            return False
        if not self.dag_ids:
            return True
        names = ", ".join(f"'{d}'" for d in self.dag_ids)
        rows = self.home.query(f"SELECT count(*) FROM dag WHERE is_active AND dag_id IN ({names})")
        return bool(rows) and int(rows[0][0]) == len(self.dag_ids)

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; then SIGKILL whatever it left behind."""
        if self.proc is None:
            return
        tree = descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class Schedulers:
    """At most one scheduler running: the one for the home in `use`."""

    def __init__(self) -> None:
        self.current: Scheduler | None = None
        self.started = False  # whether the last `use` had to start the scheduler

    def use(self, home: Home, dag_ids: list[str], settle: float = 0.0) -> Scheduler:
        """The home's scheduler, started (and others stopped) if needed; after a start,
        `settle` seconds pass so start-up work does not overlap the measurement."""
        self.started = False
        if self.current is not None and self.current.home == home and self.current.alive():
            return self.current
        self.stop()
        self.current = Scheduler(home, dag_ids)
        self.current.start()
        self.started = True
        time.sleep(settle)
        return self.current

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


@contextlib.contextmanager
def schedulers() -> Iterator[Schedulers]:
    group = Schedulers()
    try:
        yield group
    finally:
        group.stop()
