"""FileSensor: wait until a file (or a glob pattern) exists."""

from __future__ import annotations

import glob
import os
from typing import Any

from miniflow.sensors.base import BaseSensorOperator

__all__ = ["FileSensor"]


class FileSensor(BaseSensorOperator):
    """Succeeds once ``filepath`` matches a file, or a non-empty directory.

    A relative path is taken from ``base_path`` (Airflow's ``fs_default`` connection
    has an empty path, so it is the worker's working directory).
    """

    template_fields = ("filepath",)
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = "fs_default",
        recursive: bool = False,
        base_path: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive
        self.base_path = base_path

    def poke(self, context: dict[str, Any]) -> bool:
        full = os.path.join(self.base_path, self.filepath)
        self.log.info("Poking for file %s", full)
        for path in glob.glob(full, recursive=self.recursive):
            if os.path.isfile(path):
                return True
            for _, _, files in os.walk(path):
                if files:
                    return True
        return False
