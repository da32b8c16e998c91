"""EmptyOperator: a task that does nothing; useful to group or join branches."""

from __future__ import annotations

from typing import Any

from miniflow.baseoperator import BaseOperator

__all__ = ["EmptyOperator", "DummyOperator"]


class EmptyOperator(BaseOperator):
    """Does nothing. The scheduler marks it success without sending it to a worker."""

    ui_color = "#e8f7e4"
    inherits_from_empty_operator = True

    def execute(self, context: dict[str, Any]) -> None:
        return None


DummyOperator = EmptyOperator  # Airflow 1.x name
