"""The grid: a row per task, and per task group summing up its tasks, a column per run.

A row knows the groups it sits in (outermost first), so the page can fold a group's
rows away; a group's own row shows, per run, the state that sums up its tasks, as a
mapped task's row sums up its instances. Cells are plain `Cell` tuples: the page
draws each as one small element and app.js adds links, tooltips and keys, so a grid
of 25 runs x 200 tasks stays near 200 KB.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from miniflow.web.humanize import format_duration

__all__ = ["BAR_HEIGHT", "Cell", "GridRow", "RunBar", "SUMMARY_ORDER", "grid_rows", "run_bars", "summarize"]

# The state that sums up several task instances (a mapped task's or a group's): the
# first of these that any instance is in, work still going on first, then what went wrong.
SUMMARY_ORDER = ("running", "queued", "scheduled", "up_for_retry", "up_for_reschedule", "failed",
                 "upstream_failed", None, "skipped", "removed", "success")


class Cell(NamedTuple):
    state: str  # "none" for an instance without state or a task without instance
    seconds: float | None  # how long it took; for several instances, first start to last end
    instances: int | None = None  # how many task instances it sums up; None for one task instance
    states: str = ""  # for several instances: "1 failed, 2 success"


EMPTY = Cell("none", None)


def summarize(tis: list[Any]) -> Cell:
    """One cell for several task instances (rows with state, start_date, end_date)."""
    present = {t.state for t in tis}
    summary = next((s for s in SUMMARY_ORDER if s in present), None)
    starts = [t.start_date for t in tis if t.start_date]
    ends = [t.end_date for t in tis if t.end_date]
    span = (max(ends) - min(starts)).total_seconds() if starts and len(ends) == len(tis) else None
    counts = sorted(Counter(str(t.state) if t.state else "none" for t in tis).items())
    return Cell(summary or "none", span, len(tis), ", ".join(f"{n} {s}" for s, n in counts))


@dataclass
class GridRow:
    row_id: str  # task id or group id
    label: str  # the id without its group's prefix, as Airflow shows it
    kind: str  # "task", "mapped" or "group"
    groups: list[str]  # the groups it is in, outermost first
    cells: list[Cell] = field(default_factory=list)


def grid_rows(tasks: list[dict[str, Any]], groups: list[dict[str, Any]], run_ids: list[str],
              tis: Iterable[Any]) -> list[GridRow]:
    """The grid's rows for serialized `tasks` and `groups`, one cell per run of `run_ids`.

    A group's rows follow its own, its members in the tasks' topological order (a
    group comes where its first task would)."""
    parent = {g["group_id"]: g.get("parent") for g in groups}
    instances: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for ti in tis:
        instances[ti.task_id, ti.run_id].append(ti)

    def chain(group_id: str | None) -> list[str]:
        out: list[str] = []
        while group_id:
            out.insert(0, group_id)
            group_id = parent.get(group_id)
        return out

    children: dict[str | None, list[tuple[str, Any]]] = defaultdict(list)  # group -> ("group", id) / ("task", t)
    seen: set[str] = set()
    for task in tasks:
        outer: str | None = None
        for group_id in chain(task.get("task_group")):
            if group_id not in seen:
                seen.add(group_id)
                children[outer].append(("group", group_id))
            outer = group_id
        children[outer].append(("task", task))

    rows: list[GridRow] = []

    def emit(group_id: str | None, path: list[str]) -> list[str]:
        """Append the rows under `group_id`; return the task ids it holds."""
        members: list[str] = []
        for kind, item in children[group_id]:
            if kind == "group":
                row = GridRow(item, _label(item, group_id), "group", path)
                rows.append(row)
                held = emit(item, [*path, item])
                row.cells = [summarize([ti for t in held for ti in instances[t, r]]) if any(
                    instances[t, r] for t in held) else EMPTY for r in run_ids]
                members += held
            else:
                task_id = item["task_id"]
                members.append(task_id)
                rows.append(GridRow(task_id, _label(task_id, group_id), "mapped" if item.get("is_mapped") else "task",
                                    path, [_cell(instances[task_id, r]) for r in run_ids]))
        return members

    emit(None, [])
    return rows


def _cell(tis: list[Any]) -> Cell:
    if not tis:
        return EMPTY
    if len(tis) > 1 or tis[0].map_index >= 0:  # a mapped task's instances (not yet expanded: one, at -1)
        return summarize(tis)
    ti = tis[0]
    return Cell(ti.state or "none", ti.duration)


def _label(name: str, group_id: str | None) -> str:
    return name[len(group_id) + 1:] if group_id and name.startswith(group_id + ".") else name


BAR_HEIGHT = 40  # pixels of the tallest run bar above the grid


class RunBar(NamedTuple):
    height: int
    text: str


def run_bars(runs: list[Any], now: dt.datetime) -> dict[str, RunBar]:
    """Per run, a bar height proportional to its duration (a running one's: so far) and
    the duration in words, for the bars above the grid's columns."""
    took = {r.run_id: ((r.end_date or now) - r.start_date).total_seconds() if r.start_date else None for r in runs}
    longest = max((s for s in took.values() if s), default=0.0)
    return {run_id: RunBar(max(2, round(BAR_HEIGHT * seconds / longest)) if seconds and longest else 2,
                           "not started" if seconds is None else format_duration(seconds))
            for run_id, seconds in took.items()}
