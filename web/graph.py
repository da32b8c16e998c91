"""A layered layout of a DAG for the SVG graph view.

Each task goes in the column of its longest path from a root, so every edge points
right; within a column tasks keep their topological order. Plain arithmetic, no
layout library: DAGs shown in a browser are small enough.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Node", "Edge", "GroupBox", "fold_groups", "layout", "group_boxes", "topological"]

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


def fold_groups(tasks: list[dict[str, Any]], groups: list[dict[str, Any]], folded: set[str],
                ) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """`tasks` with each folded group (the outermost, where folded ones nest) drawn as
    one node where its first task was, its edges those crossing its border; and each
    folded group's task ids."""
    parent = {g["group_id"]: g.get("parent") for g in groups}

    def outermost_folded(group_id: str | None) -> str | None:
        found = None
        while group_id:
            if group_id in folded:
                found = group_id
            group_id = parent.get(group_id)
        return found

    node_of = {t["task_id"]: outermost_folded(t.get("task_group")) or t["task_id"] for t in tasks}
    members: dict[str, list[str]] = {}
    for task_id, node in node_of.items():
        if node != task_id:
            members.setdefault(node, []).append(task_id)
    out: dict[str, dict[str, Any]] = {}
    for task in tasks:
        node = node_of[task["task_id"]]
        if node not in members:
            out[node] = task
            continue
        drawn = out.setdefault(node, {"task_id": node, "operator": f"group of {len(members[node])}",
                                      "task_group": parent.get(node), "upstream": set(), "downstream": set(),
                                      "folded": True})
        drawn["upstream"] |= {node_of[u] for u in task["upstream"]} - {node}
        drawn["downstream"] |= {node_of[d] for d in task["downstream"]} - {node}
    if not members:
        return tasks, members
    return topological([_refer_to(t, node_of) for t in out.values()]), members


def _refer_to(task: dict[str, Any], node_of: dict[str, str]) -> dict[str, Any]:
    """`task` with its neighbours named by the nodes they are drawn in."""
    return {**task, "upstream": sorted({node_of.get(u, u) for u in task["upstream"]} - {task["task_id"]}),
            "downstream": sorted({node_of.get(d, d) for d in task["downstream"]} - {task["task_id"]})}


def topological(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` (dicts with task_id and upstream) with each after its upstream; in their
    own order if they hold a cycle (A feeds B feeds A: datasets can)."""
    from miniflow.dag import topological_order

    by_name = {i["task_id"]: i for i in items}
    downstream: dict[str, list[str]] = {name: [] for name in by_name}
    for item in items:
        for up in item["upstream"]:
            if up in downstream:
                downstream[up].append(item["task_id"])
    order = topological_order(by_name, downstream.__getitem__)
    return [by_name[name] for name in order] if order is not None else items
