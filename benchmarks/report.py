"""Showing and keeping results: a table for people, a JSON file for comparing runs."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.harness import Measurement, Params

__all__ = ["Result", "print_table", "write_json"]


@dataclass
class Result:
    """What one workload produced: its figures, or the error that stopped it."""

    workload: str
    description: str
    params: Params
    full_size: bool
    measurements: list[Measurement] = field(default_factory=list)
    error: str | None = None


def status(m: Measurement, full_size: bool) -> str:
    """PASS or MISS against the target; targets hold only at the workload's full sizes."""
    if m.passed is None:
        return "-"
    if not full_size:
        return "n/a (quick)"
    return "PASS" if m.passed else "MISS"


def print_table(results: Sequence[Result], console: Console) -> None:
    """One row per figure: median, min and max seconds over the repetitions, and the verdict."""
    several = len({m.system for r in results for m in r.measurements}) > 1
    table = Table(title="miniflow benchmarks (seconds)", header_style="bold")
    table.add_column("workload")
    table.add_column("figure")
    if several:
        table.add_column("system")
    for column in ("median", "min", "max", "reps", "target"):
        table.add_column(column, justify="right")
    table.add_column("result")
    colours = {"PASS": "green", "MISS": "bold red"}
    for r in results:
        if r.error:
            first_line = r.error.splitlines()[0]
            table.add_row(r.workload, first_line, *[""] * (5 + several), "[bold red]ERROR[/]")
        for m in r.measurements:
            verdict = status(m, r.full_size)
            table.add_row(
                r.workload, m.name, *([m.system] if several else []),
                f"{m.median:.3f}", f"{m.min:.3f}", f"{m.max:.3f}", str(len(m.samples)),
                "" if m.target is None else f"< {m.target:g}",
                f"[{colours[verdict]}]{verdict}[/]" if verdict in colours else verdict,
            )
    console.print(table)


def _git_commit() -> str | None:
    """HEAD of the checkout, with "+dirty" when it has uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "miniflow", "web"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    """Enough about the machine and the code to tell whether two runs are comparable."""
    from miniflow.version import __version__

    return {
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "miniflow_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def write_json(results: Sequence[Result], path: Path, run: dict[str, Any]) -> None:
    """Every sample, not only the summaries, so later runs can be compared properly."""
    document = {
        "environment": environment(),
        "run": run,
        "results": [
            {
                "workload": r.workload,
                "description": r.description,
                "params": dict(r.params),
                "full_size": r.full_size,
                "error": r.error,
                "measurements": [
                    {
                        "name": m.name, "system": m.system, "unit": "s",
                        "median": m.median, "min": m.min, "max": m.max, "samples": m.samples,
                        "target": m.target, "status": status(m, r.full_size),
                    }
                    for m in r.measurements
                ],
            }
            for r in results
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
