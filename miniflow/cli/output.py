"""Printing results: tables for people, JSON for scripts (``--output json``)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

__all__ = ["output_option", "emit", "iso"]


def output_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-o", "--output", type=click.Choice(["table", "json", "plain"]), default="table",
        show_default=True, help="Output format.",
    )(func)


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with an explicit offset, as every JSON output uses."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return iso(value) or ""
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):  # a run's conf: JSON, as the user would write it
        return json.dumps(value, default=_json_default)
    return str(value)


def emit(rows: Sequence[dict[str, Any]], output: str, columns: Sequence[str] | None = None,
         title: str | None = None) -> None:
    """Print `rows` as a table, JSON, or tab-separated plain text."""
    columns = list(columns or (rows[0].keys() if rows else []))
    if output == "json":
        click.echo(json.dumps([{c: r.get(c) for c in columns} for r in rows], default=_json_default, indent=2))
        return
    if output == "plain" or not rows:
        if not rows:
            click.echo("No data found" if output != "plain" else "", err=output != "plain")
            return
        for r in rows:
            click.echo("\t".join(_cell(r.get(c)) for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*(_cell(r.get(c)) for c in columns))
    # Piped output keeps whole lines: scripts and tests read it back.
    Console(width=None if sys.stdout.isatty() else 250).print(table)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, (dt.date, dt.timedelta)):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)
