"""Task logs: one file per try, at
``<base_log_folder>/<dag_id>/<run_id>/<task_id>/[map_index=<i>/]attempt=<n>.log``.

While a try runs, everything logged at INFO or above (by any logger, as in Airflow)
and the process's stdout and stderr (``print`` in a callable, a library writing to
stderr) go to that file. The path is built only from ids the metadata DB knows, never
from a path a user sent.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

from miniflow.secrets import RedactingFormatter

if TYPE_CHECKING:
    from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["log_path", "open_task_log", "capture_task_log", "capture_levels", "set_capture_levels", "LOG_FORMAT"]

LOG_FORMAT = "[%(asctime)s] %(levelname)s - %(message)s"
TASK_LOGGER = "miniflow.task"


def log_path(base: str | Path, key: TaskInstanceKey, try_number: int) -> Path:
    """Where a try logs; a mapped instance's tries go in ``map_index=<i>/`` (as Airflow)."""
    for part in (key.dag_id, key.run_id, key.task_id):
        if part in ("", ".", "..") or "/" in part or "\\" in part or "\0" in part:
            raise ValueError(f"refusing log path component {part!r}")
    folder = Path(base).expanduser() / key.dag_id / key.run_id / key.task_id
    if key.map_index >= 0:
        folder /= f"map_index={int(key.map_index)}"
    return folder / f"attempt={int(try_number)}.log"


class _LineLogger(io.TextIOBase):
    """A text stream that sends each complete line to a logger."""

    def __init__(self, logger: logging.Logger, level: int) -> None:
        self.logger = logger
        self.level = level
        self._buffer = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            self.logger.log(self.level, "%s", line)
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self.logger.log(self.level, "%s", self._buffer)
            self._buffer = ""


def open_task_log(path: Path, append: bool = False) -> logging.FileHandler:
    """The try's log file, opened before the task runs: a read-only or full log folder
    raises OSError here, so the try fails with that reason instead of ending without an
    outcome for the scheduler to guess at. A new try starts a fresh file; `append`
    continues one (a sensor poking again after a reschedule)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return logging.FileHandler(path, mode="a" if append else "w", encoding="utf-8")


@contextmanager
def capture_task_log(log_file: logging.Handler | None, echo: str | None = None) -> Iterator[logging.Logger]:
    """Route the try's output to `log_file` (from `open_task_log`), or to the terminal
    when None. `echo` also prints each line to the terminal behind that prefix
    (``dags test``)."""
    logger = logging.getLogger(TASK_LOGGER)
    root = logging.getLogger()
    handler = log_file if log_file is not None else logging.StreamHandler(sys.__stdout__)
    handler.setFormatter(RedactingFormatter(LOG_FORMAT))
    handler.setLevel(logging.INFO)
    handlers = [handler]
    if echo is not None and log_file is not None:
        terminal = logging.StreamHandler(sys.__stdout__)
        terminal.setFormatter(RedactingFormatter(f"[{echo}] %(levelname)s - %(message)s"))
        terminal.setLevel(logging.INFO)
        handlers.append(terminal)
    for h in handlers:
        root.addHandler(h)
    out, err = _LineLogger(logger, logging.INFO), _LineLogger(logger, logging.WARNING)
    try:
        with capture_levels(), redirect_stdout(out), redirect_stderr(err):
            yield logger
    finally:
        out.flush()
        err.flush()
        for h in handlers:
            root.removeHandler(h)
            h.close()


@contextmanager
def capture_levels() -> Iterator[None]:
    """INFO through the root and task loggers while it lasts, as a try's log captures
    it; the levels are put back after. Around a whole in-process run (``dags test``),
    each try's capture then finds them set: changing a level clears the cache of every
    logger, a cost each try would pay twice."""
    root, task_logger = logging.getLogger(), logging.getLogger(TASK_LOGGER)
    saved, saved_task = root.level, task_logger.level
    set_capture_levels()
    try:
        yield
    finally:
        _set_level(root, saved)
        _set_level(task_logger, saved_task)


def set_capture_levels() -> None:
    """Let INFO through the root and task loggers, as a try's log captures it. A local
    executor's worker sets them once, so that the tries it forks need not."""
    root = logging.getLogger()
    _set_level(root, min(root.level or logging.INFO, logging.INFO))
    _set_level(logging.getLogger(TASK_LOGGER), logging.INFO)


def _set_level(logger: logging.Logger, level: int) -> None:
    """`Logger.setLevel`, only if the level changes: it clears the cache of every
    logger, which in a forked try's process copies the memory pages of all of them."""
    if logger.level != level:
        logger.setLevel(level)
