"""Edge labels: ``check >> Label("no errors") >> save`` names the edge on the graph.

A `Label` is not a task: it sits in a ``>>`` chain, remembers the tasks on its left and
right, links each left task to each right task, and records the label on the DAG
(``dag.set_edge_info``), where the serialized DAG and the graph view find it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from miniflow.baseoperator import DependencyMixin, _nodes_of

if TYPE_CHECKING:
    from miniflow.baseoperator import BaseOperator

__all__ = ["Label", "EdgeModifier"]


class EdgeModifier(DependencyMixin):
    """Something drawn on the edges between the tasks on its two sides."""

    modifies_edges = True

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self._left: list[BaseOperator] = []
        self._right: list[BaseOperator] = []

    def __repr__(self) -> str:
        return f"Label({self.label!r})"

    def _dep_nodes(self) -> list[BaseOperator]:
        return []

    def set_upstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """``other >> label``: `other` is on the left of every edge this draws."""
        new = [n for n in _nodes_of(other, "_leaves") if n not in self._left]
        self._left += new
        self._connect(new, self._right)

    def set_downstream(self, other: DependencyMixin | Sequence[DependencyMixin]) -> None:
        """``label >> other``: `other` is on the right of every edge this draws."""
        new = [n for n in _nodes_of(other, "_roots") if n not in self._right]
        self._right += new
        self._connect(self._left, new)

    def _connect(self, left: list[BaseOperator], right: list[BaseOperator]) -> None:
        for up in left:
            for down in right:
                up._link(down)
                if self.label is not None:
                    up.dag.set_edge_info(up.task_id, down.task_id, {"label": self.label})


class Label(EdgeModifier):
    """A named edge (Airflow's ``airflow.utils.edgemodifier.Label``)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)

