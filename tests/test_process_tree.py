"""process_tree: what a try leaves running is found and stopped, and nothing else is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from miniflow.executors.process_tree import become_subreaper, stop_descendants

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process subreapers are Linux-only")


def _in_a_subreaper(check: Callable[[], object]) -> object:
    """`check`'s JSON answer, from a forked process that became a subreaper (this one
    must not: it would adopt every orphan of the test session)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        code = 1
        try:
            assert become_subreaper()
            os.write(write, json.dumps(check()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as fh:
        answer = fh.read()
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    return json.loads(answer)


def test_a_process_orphaned_by_the_try_is_found_and_stopped() -> None:
    def check() -> object:
        shell = subprocess.run(["sh", "-c", "sleep 300 > /dev/null 2>&1 & echo $!"], capture_output=True,
                               text=True, check=True)  # the shell is gone: the sleep is adopted here
        orphan = int(shell.stdout)
        stopped = stop_descendants(grace=5)
        with pytest.raises(ChildProcessError):
            os.waitpid(-1, os.WNOHANG)  # nothing left: the orphan was stopped and reaped
        return [stopped, orphan]

    stopped, orphan = _in_a_subreaper(check)
    assert stopped == [orphan]


def test_without_children_nothing_is_looked_for_but_an_ended_child_is_still_found() -> None:
    def check() -> object:
        alone = stop_descendants(grace=5)
        child = os.fork()
        if child == 0:
            os._exit(7)
        os.waitid(os.P_PID, child, os.WEXITED | os.WNOWAIT)  # ended, not reaped yet
        found = stop_descendants(grace=5)
        with pytest.raises(ChildProcessError):
            os.waitpid(child, os.WNOHANG)  # reaped on the way
        return [alone, found, child]

    alone, found, child = _in_a_subreaper(check)
    assert alone == [] and found == [child]
