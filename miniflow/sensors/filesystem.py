"""FileSensor: wait until a file (or a glob pattern) exists."""

from __future__ import annotations

import functools
import glob
import os
from typing import Any

from miniflow.hooks.filesystem import FSHook
from miniflow.sensors.base import BaseSensorOperator

__all__ = ["FileSensor"]


class FileSensor(BaseSensorOperator):
    """Succeeds once ``filepath`` matches a file, or a non-empty directory.

    A relative path is taken from the ``path`` extra of the ``fs_conn_id`` connection,
    as in Airflow, whose ``fs_default`` is ``/``; ``db migrate`` adds that one.
    """

    template_fields = ("filepath",)
    ui_color = "#91818a"

    def __init__(self, *, filepath: str, fs_conn_id: str = "fs_default", recursive: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    @functools.cached_property
    def path(self) -> str:
        return os.path.join(FSHook(self.fs_conn_id).get_path(), self.filepath)

    def poke(self, context: dict[str, Any]) -> bool:
        self.log.info("Poking for file %s", self.path)
        for path in glob.glob(self.path, recursive=self.recursive):
            if os.path.isfile(path):
                return True
            for _, _, files in os.walk(path):
                if files:
                    return True
        return False
