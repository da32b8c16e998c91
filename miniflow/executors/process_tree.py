"""The processes a try leaves behind, found and stopped when the try ends.

A task may start processes that outlive it: ``cmd &`` in a Bash script, a
``subprocess.Popen`` never waited for, a daemon that calls ``setsid`` to leave the
task's process group and session. So a process that runs tries makes itself a *child
subreaper* (Linux's ``PR_SET_CHILD_SUBREAPER``): what its descendants orphan is
re-parented to it rather than to init, and every leftover stays its descendant,
whatever group or session it moved to. When the try ends (or is stopped), each is sent
SIGTERM and, after ``core.killed_task_cleanup_time`` seconds, SIGKILL, as Airflow reaps
a task's process group. Off Linux (no /proc, no subreaper) nothing is done.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import time
from typing import Any

__all__ = ["become_subreaper", "children", "descendants", "stop_descendants", "kill_descendants"]

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the orphans of this process's descendants; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    return _prctl()(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


@functools.cache
def _prctl() -> Any:
    """libc's prctl, looked up once: a worker's forked children, which each become a
    subreaper too, inherit it (loading it costs a child 0.3 ms and 80 page copies)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl


def descendants(pid: int | None = None, skip: frozenset[int] = frozenset()) -> list[int]:
    """The descendants of `pid` (this process by default) from /proc, parents first;
    `skip` leaves out those children of `pid` and what is below them."""
    root = os.getpid() if pid is None else pid
    found: list[int] = []
    todo = [root]
    while todo:
        parent = todo.pop()
        for child in children(parent):
            if parent == root and child in skip:
                continue
            found.append(child)
            todo.append(child)
    return found


def children(pid: int) -> list[int]:
    """The children of `pid` (of any of its threads), from /proc."""
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                found += (int(c) for c in fh.read().split())
        except OSError:
            continue
    return found


def stop_descendants(grace: float, skip: frozenset[int] = frozenset()) -> list[int]:
    """SIGTERM this process's descendants (but `skip`'s), SIGKILL those left after
    `grace` seconds, reaping what becomes a zombie here; returns the pids found."""
    if not skip and not _has_children():  # most tries start no process: /proc need not be read
        return []
    found = descendants(skip=skip)
    if not found:
        return []
    _send(found, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while (left := _alive(descendants(skip=skip), skip)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        _send(left, signal.SIGKILL)
        give_up = time.monotonic() + 5
        while _alive(descendants(skip=skip), skip) and time.monotonic() < give_up:
            time.sleep(0.01)
    return found


def kill_descendants(skip: frozenset[int]) -> list[int]:
    """SIGKILL at once this process's descendants but `skip`'s (what a try killed
    without its own clean-up left here); the caller reaps them."""
    found = descendants(skip=skip)
    _send(found, signal.SIGKILL)
    return found


def _has_children() -> bool:
    """Whether this process has a child, running or not yet reaped (none is reaped here).
    Without one it has no descendants: what a descendant orphans is re-parented to a
    subreaper, and otherwise is not ours to find."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _send(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _alive(pids: list[int], skip: frozenset[int]) -> list[int]:
    """`pids` that have not exited; a zombie child of ours is reaped on the way."""
    left = []
    for pid in pids:
        if _zombie(pid):
            if pid not in skip:
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:  # another process's zombie: its parent reaps it
                    pass
            continue
        left.append(pid)
    return left


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True  # gone
