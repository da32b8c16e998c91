"""BaseOperatorLink: a link from a task instance to an external system (the job's
console, a dashboard), as Airflow's operator extra links.

An operator lists its links in ``operator_extra_links``; ``task.get_extra_links(ti,
name)`` gives a link's URL for a task instance. miniflow's UI does not show them: its
webserver never imports DAG files, and a link is code in one. (Airflow's webserver
shows only the links of operators a plugin or provider registers; miniflow loads no
plugins.)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator
    from miniflow.taskinstancekey import TaskInstanceKey

__all__ = ["BaseOperatorLink"]


class BaseOperatorLink(ABC):
    """Subclasses name the link and build its URL."""

    operators: ClassVar[list[type]] = []  # for a plugin to attach the link to; unused
    xcom_key: ClassVar[str | None] = None

    @property
    @abstractmethod
    def name(self) -> str:
        """The link's label."""

    @abstractmethod
    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The URL for the task instance `ti_key` of `operator`."""
