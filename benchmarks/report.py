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
    load_before: tuple[float, ...] = ()  # the machine's load averages (1, 5, 15 min) around it
    load_after: tuple[float, ...] = ()
    seconds: float = 0.0  # how long the workload took in all


def status(m: Measurement, full_size: bool) -> str:
    """PASS or MISS against the target; targets hold only at the workload's full sizes."""
    if m.passed is None:
        return "-"
    if not full_size:
        return "n/a (size)"
    return "PASS" if m.passed else "MISS"


def number(value: float, unit: str = "") -> str:
    """Three significant digits or so, without an exponent; counts as integers."""
    magnitude = abs(value)
    if unit == "count":
        return f"{value:.0f}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def target_text(m: Measurement) -> str:
    if m.target is None:
        return ""
    return f"{'>' if m.higher_is_better else '<'} {m.target:g}"


def advantage(ours: Measurement, peer: Measurement) -> float | None:
    """How many times better miniflow's median is than the peer's (> 1: miniflow is better)."""
    if ours.median == 0 or peer.median == 0:
        return None
    return ours.median / peer.median if ours.higher_is_better else peer.median / ours.median


def print_table(results: Sequence[Result], console: Console) -> None:
    """One row per figure: median, min and max over the repetitions, and the verdict.

    With a peer system, one row per figure still, with the peer's median beside ours
    and the ratio: how many times better miniflow's figure is (for times and memory,
    the peer's over ours; for rates, ours over the peer's).
    """
    systems = list(dict.fromkeys(m.system for r in results for m in r.measurements))
    peers = systems[1:]
    table = Table(title="miniflow benchmarks", header_style="bold")
    table.add_column("workload")
    table.add_column("figure")
    table.add_column("unit")
    for column in ("median", "min", "max", "reps", *(f"{p} median" for p in peers),
                   *(f"vs {p}" for p in peers), "target"):
        table.add_column(column, justify="right")
    table.add_column("result")
    colours = {"PASS": "green", "MISS": "bold red"}
    for r in results:
        if r.error:
            first_line = r.error.splitlines()[0]
            table.add_row(r.workload, first_line, *[""] * (len(table.columns) - 3), "[bold red]ERROR[/]")
        by_figure: dict[str, dict[str, Measurement]] = {}
        for m in r.measurements:
            by_figure.setdefault(m.name, {})[m.system] = m
        for name, by_system in by_figure.items():
            m = by_system.get(systems[0])
            if m is None:
                continue
            verdict = status(m, r.full_size)
            others = [by_system.get(p) for p in peers]
            ratios = [advantage(m, o) if o is not None else None for o in others]
            table.add_row(
                r.workload, name, m.unit,
                number(m.median, m.unit), number(m.min, m.unit), number(m.max, m.unit), str(len(m.samples)),
                *(number(o.median, o.unit) if o is not None else "" for o in others),
                *(f"{x:.1f}x" if x is not None else "" for x in ratios),
                target_text(m),
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
        "memory_gb": _memory_gb(),
    }


def _memory_gb() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            return round(int(fh.readline().split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        return None


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
                "load_average_before": list(r.load_before),
                "load_average_after": list(r.load_after),
                "seconds": round(r.seconds, 1),
                "measurements": [
                    {
                        "name": m.name, "system": m.system, "unit": m.unit,
                        "higher_is_better": m.higher_is_better,
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


def markdown_table(document: dict[str, Any]) -> str:
    """The table of a JSON results file as Markdown, for ``docs/benchmarks.md``."""
    measurements = [(r, m) for r in document["results"] for m in r["measurements"]]
    systems = list(dict.fromkeys(m["system"] for _, m in measurements))
    peers = systems[1:]
    header = ["workload", "figure", "unit", f"{systems[0]} median (min-max)" if systems else "median",
              *(f"{p} median (min-max)" for p in peers), *(f"vs {p}" for p in peers), "target", "result"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in document["results"]:
        if r["error"]:
            lines.append(f"| {r['workload']} | error: {r['error'].splitlines()[0]} |" + " |" * (len(header) - 2))
        by_figure: dict[str, dict[str, Any]] = {}
        for m in r["measurements"]:
            by_figure.setdefault(m["name"], {})[m["system"]] = m
        for name, by_system in by_figure.items():
            ours = by_system.get(systems[0])
            if ours is None:
                continue
            unit = ours["unit"]

            def cell(m: dict[str, Any] | None, unit: str = unit) -> str:
                if m is None:
                    return "-"
                return f"{number(m['median'], unit)} ({number(m['min'], unit)}-{number(m['max'], unit)})"

            ratios = []
            for p in peers:
                theirs = by_system.get(p)
                if theirs is None or not ours["median"] or not theirs["median"]:
                    ratios.append("-")
                    continue
                x = ours["median"] / theirs["median"] if ours["higher_is_better"] else theirs["median"] / ours["median"]
                ratios.append(f"{x:.1f}x")
            target = "" if ours["target"] is None else f"{'>' if ours['higher_is_better'] else '<'} {ours['target']:g}"
            lines.append("| " + " | ".join([r["workload"], name, unit, cell(ours), *(cell(by_system.get(p)) for p in peers),
                                             *ratios, target, ours["status"]]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # python -m benchmarks.report RESULTS.json: the table as Markdown
    print(markdown_table(json.loads(Path(sys.argv[1]).read_text())), end="")
