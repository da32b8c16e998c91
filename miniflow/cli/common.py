"""Pieces the CLI commands share: the DAG folder option, DAG lookup, date parsing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.dagbag import DagBag

__all__ = ["subdir_option", "load_dagbag", "load_dag", "parse_datetime"]


def subdir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-S", "--subdir", type=click.Path(exists=True), default=None,
        help="DAG folder or file to load instead of core.dags_folder.",
    )(func)


def load_dagbag(subdir: str | None = None) -> DagBag:
    from miniflow.dagbag import DagBag

    return DagBag(subdir)


def load_dag(dag_id: str, subdir: str | None = None) -> DAG:
    return load_dagbag(subdir).get_dag(dag_id)


def parse_datetime(value: str, name: str = "date") -> dt.datetime:
    """An ISO 8601 date or datetime; naive values are UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date (e.g. 2024-03-05 or 2024-03-05T02:00:00+00:00)",
                                 param_hint=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)
