"""The grid's rows (web/grid.py) and the graph's folded groups (web/graph.py), on
serialized DAGs built by hand and by hypothesis."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from miniflow.web.graph import fold_groups, layout
from miniflow.web.grid import EMPTY, grid_rows

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def task(task_id: str, group: str | None = None, upstream: tuple[str, ...] = (), mapped: bool = False,
         ) -> dict[str, Any]:
    return {"task_id": task_id, "task_group": group, "upstream": list(upstream), "downstream": [],
            "is_mapped": mapped, "operator": "EmptyOperator"}


def wire(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill each task's downstream from the others' upstream."""
    for t in tasks:
        for other in tasks:
            if t["task_id"] in other["upstream"]:
                t["downstream"].append(other["task_id"])
    return tasks


def ti(task_id: str, run_id: str, state: str | None, seconds: float | None = None, map_index: int = -1) -> Any:
    end = T0 + dt.timedelta(seconds=seconds) if seconds is not None else None
    return SimpleNamespace(task_id=task_id, run_id=run_id, map_index=map_index, state=state,
                           start_date=T0 if end else None, end_date=end, duration=seconds)


GROUPS = [{"group_id": "load", "parent": None}, {"group_id": "load.parts", "parent": "load"}]


def test_groups_come_where_their_first_task_is_and_hold_their_members_in_order() -> None:
    tasks = wire([task("start"), task("load.a", "load", ("start",)), task("other", None, ("start",)),
                  task("load.parts.p", "load.parts", ("load.a",)), task("load.b", "load", ("load.parts.p",)),
                  task("end", None, ("load.b", "other"))])
    rows = grid_rows(tasks, GROUPS, ["r1"], [])
    assert [(r.row_id, r.kind, r.groups, r.label) for r in rows] == [
        ("start", "task", [], "start"),
        ("load", "group", [], "load"),
        ("load.a", "task", ["load"], "a"),
        ("load.parts", "group", ["load"], "parts"),
        ("load.parts.p", "task", ["load", "load.parts"], "p"),
        ("load.b", "task", ["load"], "b"),
        ("other", "task", [], "other"),
        ("end", "task", [], "end"),
    ]
    assert all(r.cells == [EMPTY] for r in rows)


def test_a_group_cell_sums_up_its_tasks_and_a_mapped_cell_its_instances() -> None:
    tasks = wire([task("load.a", "load"), task("load.parts.p", "load.parts", mapped=True)])
    tis = [ti("load.a", "r1", "success", 2), *(ti("load.parts.p", "r1", s, 5, i) for i, s in
                                                enumerate(["success", "failed", "success"])),
           ti("load.a", "r2", "running")]
    rows = {r.row_id: r for r in grid_rows(tasks, GROUPS, ["r1", "r2", "r3"], tis)}
    assert rows["load.a"].cells[0] == ("success", 2, None, "")
    mapped = rows["load.parts.p"].cells[0]
    assert (mapped.state, mapped.instances, mapped.states, mapped.seconds) == ("failed", 3, "1 failed, 2 success", 5)
    outer = rows["load"].cells
    assert (outer[0].state, outer[0].instances, outer[0].seconds) == ("failed", 4, 5)
    assert outer[1].state == "running" and outer[1].seconds is None  # a task is still running
    assert outer[2] == EMPTY and rows["load.parts"].cells[1] == EMPTY


def test_a_mapped_task_not_yet_expanded_is_one_plain_cell() -> None:
    rows = grid_rows([task("m", mapped=True)], [], ["r"], [ti("m", "r", "scheduled")])
    assert rows[0].kind == "mapped" and rows[0].cells == [("scheduled", None, None, "")]


def test_folding_a_group_draws_it_as_one_node_with_the_edges_crossing_its_border() -> None:
    tasks = wire([task("start"), task("load.a", "load", ("start",)), task("load.parts.p", "load.parts", ("load.a",)),
                  task("load.b", "load", ("load.parts.p",)), task("end", None, ("load.b", "start"))])
    drawn, members = fold_groups(tasks, GROUPS, {"load"})
    assert members == {"load": ["load.a", "load.parts.p", "load.b"]}
    by_id = {t["task_id"]: t for t in drawn}
    assert list(by_id) == ["start", "load", "end"]
    assert by_id["load"]["upstream"] == ["start"] and by_id["load"]["downstream"] == ["end"]
    assert by_id["end"]["upstream"] == ["load", "start"] and by_id["start"]["downstream"] == ["end", "load"]
    assert by_id["load"]["operator"] == "group of 3"

    inner, members = fold_groups(tasks, GROUPS, {"load.parts"})
    assert members == {"load.parts": ["load.parts.p"]}
    assert [t["task_id"] for t in inner] == ["start", "load.a", "load.parts", "load.b", "end"]
    assert fold_groups(tasks, GROUPS, {"load", "load.parts"})[1] == {"load": ["load.a", "load.parts.p", "load.b"]}
    assert fold_groups(tasks, GROUPS, set()) == (tasks, {})


@st.composite
def dags(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A random DAG whose tasks sit in random nested groups, in topological order."""
    group_count = draw(st.integers(0, 4))
    groups: list[dict[str, Any]] = []
    for g in range(group_count):
        parent = draw(st.sampled_from([None, *[x["group_id"] for x in groups]]))
        groups.append({"group_id": f"{parent}.g{g}" if parent else f"g{g}", "parent": parent})
    tasks: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 12))):
        group = draw(st.sampled_from([None, *[x["group_id"] for x in groups]]))
        ups = draw(st.sets(st.sampled_from([t["task_id"] for t in tasks]), max_size=3)) if tasks else set()
        tasks.append(task(f"{group}.t{i}" if group else f"t{i}", group, tuple(sorted(ups))))
    return wire(tasks), groups


@settings(max_examples=150, deadline=None)
@given(dags(), st.sets(st.integers(0, 3)))
def test_every_task_is_one_row_after_its_groups_and_folding_keeps_every_edge_between_nodes(
        dag: tuple[list[dict[str, Any]], list[dict[str, Any]]], fold_picks: set[int]) -> None:
    tasks, groups = dag
    tis = [ti(t["task_id"], "r", "success", 1.0, i) for n, t in enumerate(tasks) for i in range(n % 3)]
    rows = grid_rows(tasks, groups, ["r"], tis)
    held = {g["group_id"]: [t["task_id"] for t in tasks if t["task_group"] and
                            (t["task_group"] == g["group_id"] or t["task_group"].startswith(g["group_id"] + "."))]
            for g in groups}
    for row in rows:  # a group's cell sums up exactly the instances of the tasks it holds
        if row.kind == "group":
            count = sum(1 for x in tis if x.task_id in held[row.row_id])
            assert (row.cells[0].instances or 0) == count and (row.cells[0] == EMPTY) == (count == 0)
    task_rows = [r for r in rows if r.kind != "group"]
    assert sorted(r.row_id for r in task_rows) == sorted(t["task_id"] for t in tasks)
    position = {r.row_id: i for i, r in enumerate(rows)}
    for i, row in enumerate(rows):
        for group_id in row.groups:  # each enclosing group's row comes before, and nothing outside between
            assert position[group_id] < i
            assert all(group_id in between.groups or between.row_id == group_id
                       for between in rows[position[group_id]:i + 1])

    folded = {groups[i]["group_id"] for i in fold_picks if i < len(groups)}
    drawn, members = fold_groups(tasks, groups, folded)
    node_of = {t: node for node, held in members.items() for t in held}
    ids = [t["task_id"] for t in drawn]
    assert len(ids) == len(set(ids)) and sum(map(len, members.values())) + len(ids) - len(members) == len(tasks)
    expected = {(node_of.get(u, u), node_of.get(t["task_id"], t["task_id"])) for t in tasks for u in t["upstream"]}
    assert {(u, t["task_id"]) for t in drawn for u in t["upstream"]} == {(a, b) for a, b in expected if a != b}
    nodes, edges, _, _ = layout(drawn)
    assert len(nodes) == len(drawn) and len(edges) == len({(a, b) for a, b in expected if a != b})
