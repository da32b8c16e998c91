"""FSHook: a folder on the worker's filesystem, named by an ``fs`` connection's
``path`` extra (Airflow's ``fs_default`` is ``/``)."""

from __future__ import annotations

from typing import Any

from miniflow.hooks.base import BaseHook

__all__ = ["FSHook"]


class FSHook(BaseHook):
    conn_name_attr = "fs_conn_id"
    default_conn_name = "fs_default"
    conn_type = "fs"
    hook_name = "File (path)"

    def __init__(self, fs_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn = self.get_connection(fs_conn_id)
        self.basepath: str = self.conn.extra_dejson.get("path", "")

    def get_path(self) -> str:
        return self.basepath
