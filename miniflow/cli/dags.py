"""``miniflow dags ...``: list, inspect and schedule-check DAGs."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from miniflow.cli.common import load_dag, load_dagbag, parse_datetime, subdir_option
from miniflow.cli.output import emit, iso, output_option

if TYPE_CHECKING:
    from miniflow.timetables import DagRunInfo

__all__ = ["dags", "list_dags", "show"]


@click.group()
def dags() -> None:
    """Inspect, test, trigger and pause DAGs."""


@dags.command("list")
@subdir_option
@output_option
def list_dags(subdir: str | None, output: str) -> None:
    """List the DAGs of the DAG folder."""
    bag = load_dagbag(subdir)
    rows = [
        {
            "dag_id": dag.dag_id,
            "fileloc": dag.fileloc,
            "owners": dag.owner,
            "schedule": dag.timetable.summary,
            "tags": dag.tags,
        }
        for dag in (bag.dags[d] for d in bag.dag_ids)
    ]
    emit(rows, output, ["dag_id", "fileloc", "owners", "schedule", "tags"])
    if bag.import_errors and output == "table":
        click.echo(
            f"{len(bag.import_errors)} file(s) failed to load; "
            "see 'miniflow dags list-import-errors'", err=True,
        )


@dags.command("list-import-errors")
@subdir_option
@output_option
def list_import_errors(subdir: str | None, output: str) -> None:
    """List the DAG files that failed to load, with the line and the error."""
    bag = load_dagbag(subdir)
    rows = [{"filepath": e.filepath, "lineno": e.lineno, "error": e.message}
            for e in sorted(bag.import_errors.values(), key=lambda e: e.filepath)]
    emit(rows, output, ["filepath", "lineno", "error"])


@dags.command("show")
@click.argument("dag_id")
@click.option("--dot", "as_dot", is_flag=True, help="Print Graphviz DOT instead of a text tree.")
@subdir_option
def show(dag_id: str, as_dot: bool, subdir: str | None) -> None:
    """Show a DAG's tasks and dependencies."""
    from miniflow.cli.render import dot, tree_lines

    dag = load_dag(dag_id, subdir)
    click.echo(dot(dag) if as_dot else "\n".join(tree_lines(dag)))


@dags.command("next-execution")
@click.argument("dag_id")
@click.option("-n", "--num-executions", default=1, show_default=True, type=click.IntRange(min=1),
              help="How many logical dates to show.")
@subdir_option
@output_option
def next_execution(dag_id: str, num_executions: int, subdir: str | None, output: str) -> None:
    """Show the logical dates of the next scheduled runs."""
    from miniflow.timetables import upcoming_runs

    dag = load_dag(dag_id, subdir)
    now = dt.datetime.now(dt.timezone.utc)
    runs = upcoming_runs(dag.timetable, dag.time_restriction, now, num_executions)
    if not runs:
        click.echo("None" if output != "json" else "[]")
        return
    if output == "json":
        emit([_run_row(r) for r in runs], output)
    else:
        for run in runs:
            click.echo(iso(run.logical_date))


@dags.command("due")
@click.argument("dag_id")
@click.option("--at", "at", required=True, help="The instant to evaluate, ISO 8601 (naive = UTC).")
@subdir_option
@output_option
def due(dag_id: str, at: str, subdir: str | None, output: str) -> None:
    """List the runs a scheduler with no history would create at --at."""
    from miniflow.timetables import due_runs

    dag = load_dag(dag_id, subdir)
    runs = due_runs(dag.timetable, dag.time_restriction, parse_datetime(at, "--at"))
    emit([_run_row(r) for r in runs], output, ["logical_date", "data_interval_start", "data_interval_end"])


def _run_row(run: DagRunInfo) -> dict[str, str | None]:
    return {
        "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval.start),
        "data_interval_end": iso(run.data_interval.end),
    }
