"""BaseHook: what every hook has -- its connection, looked up by id."""

from __future__ import annotations

import logging
from typing import Any

from miniflow.connections import Connection, get_connection

__all__ = ["BaseHook"]


class BaseHook:
    """A client of an external system; subclasses say how to connect."""

    conn_name_attr = ""
    default_conn_name = ""
    conn_type = ""
    hook_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.log = logging.getLogger(f"miniflow.task.{type(self).__name__}")

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """The connection `conn_id` (environment first, then the metadata DB)."""
        return get_connection(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str, hook_params: dict[str, Any] | None = None) -> BaseHook:
        """The hook for the connection's type, configured with `conn_id`."""
        from miniflow.hooks.dbapi import hook_for

        return hook_for(cls.get_connection(conn_id), hook_params or {})

    def get_conn(self) -> Any:
        raise TypeError(f"{type(self).__name__} has no get_conn()")
