"""A layered layout of a DAG for the SVG graph view.

Each task goes in the column of its longest path from a root, so every edge points
right; within a column tasks keep their topological order. Plain arithmetic, no
layout library: DAGs shown in a browser are small enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Node", "Edge", "GroupBox", "layout", "group_boxes"]

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 160, 34, 60, 18, 12


@dataclass
class Node:
    task_id: str
    x: int
    y: int
    operator: str


@dataclass
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int
    source: str = ""
    target: str = ""
    label: str | None = None  # an edge label (``a >> Label("x") >> b``)


@dataclass
class GroupBox:
    """The box drawn around a task group's tasks."""

    group_id: str
    x: int
    y: int
    width: int
    height: int


def layout(tasks: list[dict[str, Any]], labels: list[dict[str, str]] | None = None,
           ) -> tuple[list[Node], list[Edge], int, int]:
    """Nodes, edges (with their `labels`) and the canvas size for serialized `tasks` (in
    topological order)."""
    named = {(e["from"], e["to"]): e["label"] for e in labels or []}
    depth: dict[str, int] = {}
    for task in tasks:
        depth[task["task_id"]] = max((depth[u] + 1 for u in task["upstream"] if u in depth), default=0)
    rows: dict[int, int] = {}
    nodes: dict[str, Node] = {}
    for task in tasks:
        col = depth[task["task_id"]]
        row = rows.get(col, 0)
        rows[col] = row + 1
        nodes[task["task_id"]] = Node(task["task_id"], PAD + col * (NODE_W + GAP_X),
                                      PAD + row * (NODE_H + GAP_Y), task["operator"])
    edges = []
    for task in tasks:
        for down in task["downstream"]:
            a, b = nodes[task["task_id"]], nodes.get(down)
            if b is not None:
                edges.append(Edge(a.x + NODE_W, a.y + NODE_H // 2, b.x, b.y + NODE_H // 2, task["task_id"], down,
                                  named.get((task["task_id"], down))))
    width = PAD * 2 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X)
    height = PAD * 2 + max(rows.values(), default=1) * (NODE_H + GAP_Y)
    return list(nodes.values()), edges, width, height


def group_boxes(tasks: list[dict[str, Any]], groups: list[dict[str, Any]], nodes: list[Node]) -> list[GroupBox]:
    """A box around the nodes of each task group (nested groups inside their parents')."""
    where = {n.task_id: n for n in nodes}
    boxes = []
    for group in groups:
        gid = group["group_id"]
        members = [where[t["task_id"]] for t in tasks
                   if t.get("task_group") and (t["task_group"] == gid or t["task_group"].startswith(gid + "."))
                   and t["task_id"] in where]
        if not members:
            continue
        depth = gid.count(".")
        pad = 8 - 2 * min(depth, 3)
        x1, y1 = min(n.x for n in members) - pad, min(n.y for n in members) - pad - 12
        x2, y2 = max(n.x for n in members) + NODE_W + pad, max(n.y for n in members) + NODE_H + pad
        boxes.append(GroupBox(gid, x1, y1, x2 - x1, y2 - y1))
    return boxes
