"""A layered layout of a DAG for the SVG graph view.

Each task goes in the column of its longest path from a root, so every edge points
right; within a column tasks keep their topological order. Plain arithmetic, no
layout library: DAGs shown in a browser are small enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Node", "Edge", "layout"]

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


def layout(tasks: list[dict[str, Any]]) -> tuple[list[Node], list[Edge], int, int]:
    """Nodes, edges and the canvas size for serialized `tasks` (in topological order)."""
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
                edges.append(Edge(a.x + NODE_W, a.y + NODE_H // 2, b.x, b.y + NODE_H // 2))
    width = PAD * 2 + (max(depth.values(), default=0) + 1) * (NODE_W + GAP_X)
    height = PAD * 2 + max(rows.values(), default=1) * (NODE_H + GAP_Y)
    return list(nodes.values()), edges, width, height
