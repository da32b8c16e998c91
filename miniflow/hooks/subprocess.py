"""SubprocessHook: run a command, stream its output to the task log, keep its last line.

BashOperator runs its command through it, and task code uses it for the same job. As
in Airflow, a command without a working directory runs in a fresh temporary one that
is removed afterwards, and the command leads its own process group, so that stopping
the task stops everything the command started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from typing import NamedTuple

from miniflow.hooks.base import BaseHook

__all__ = ["SubprocessHook", "SubprocessResult", "working_directory"]


class SubprocessResult(NamedTuple):
    exit_code: int
    output: str  # the last line of stdout and stderr together


@contextlib.contextmanager
def working_directory(cwd: str | None = None) -> Iterator[str]:
    """`cwd`, or a temporary directory that lives as long as the block."""
    if cwd is not None:
        yield cwd
        return
    with tempfile.TemporaryDirectory(prefix="airflowtmp") as scratch:
        yield scratch


class SubprocessHook(BaseHook):
    """Runs one command at a time; `send_sigterm` stops the running one."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sub_process: subprocess.Popen[bytes] | None = None

    def run_command(self, command: list[str], env: dict[str, str] | None = None,
                    output_encoding: str = "utf-8", cwd: str | None = None) -> SubprocessResult:
        """Run `command` (an argv list) with `env` (default: this process's environment)."""
        with working_directory(cwd) as where:
            self.log.info("Running command: %s", command)
            self.sub_process = process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=where, env=os.environ if env is None else env, start_new_session=True,
            )
            assert process.stdout is not None
            line = ""
            for raw in process.stdout:
                line = raw.decode(output_encoding, errors="backslashreplace").rstrip()
                self.log.info("%s", line)
            code = process.wait()
        self.log.info("Command exited with return code %s", code)
        return SubprocessResult(code, line)

    def send_sigterm(self) -> None:
        """SIGTERM the running command's process group."""
        process = self.sub_process
        if process is not None and process.poll() is None:
            self.log.info("Sending SIGTERM signal to process group")
            os.killpg(process.pid, signal.SIGTERM)
