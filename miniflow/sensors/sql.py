"""SqlSensor: wait until a query's first cell says so."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from miniflow.exceptions import AirflowException
from miniflow.hooks.dbapi import DbApiHook
from miniflow.sensors.base import BaseSensorOperator

__all__ = ["SqlSensor"]


class SqlSensor(BaseSensorOperator):
    """Poke: run `sql`; done when the first cell of the first row is truthy (or
    `success(cell)` holds). `failure(cell)` true fails the task; no rows at all
    means "not yet", or fails with `fail_on_empty`."""

    template_fields = ("sql", "hook_params", "parameters")
    template_ext = (".hql", ".sql")
    ui_color = "#7c7287"

    def __init__(self, *, conn_id: str, sql: str, parameters: Any = None,
                 success: Callable[[Any], bool] | None = None, failure: Callable[[Any], bool] | None = None,
                 fail_on_empty: bool = False, hook_params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.sql = sql
        self.parameters = parameters
        self.success = success
        self.failure = failure
        self.fail_on_empty = fail_on_empty
        self.hook_params = hook_params

    def poke(self, context: dict[str, Any]) -> bool:
        hook = DbApiHook.get_hook(self.conn_id, self.hook_params)
        if not isinstance(hook, DbApiHook):
            raise AirflowException(f"connection {self.conn_id!r} is not a SQL database")
        self.log.info("Poking: %s (with parameters %s)", self.sql, self.parameters)
        records = hook.get_records(self.sql, self.parameters)
        if not records:
            if self.fail_on_empty:
                raise AirflowException("No rows returned, raising as per fail_on_empty flag")
            return False
        cell = records[0][0]
        if self.failure is not None:
            if not callable(self.failure):
                raise AirflowException(f"self.failure is present, but not callable -> {self.failure}")
            if self.failure(cell):
                raise AirflowException(f"Failure criteria met. self.failure({cell}) returned True")
        if self.success is not None:
            if not callable(self.success):
                raise AirflowException(f"self.success is present, but not callable -> {self.success}")
            return bool(self.success(cell))
        return bool(cell)
