"""``miniflow tasks ...``: list a DAG's tasks."""

from __future__ import annotations

import click

from miniflow.cli.common import load_dag, subdir_option
from miniflow.cli.output import emit, output_option

__all__ = ["tasks", "list_tasks"]


@click.group()
def tasks() -> None:
    """Inspect, test, run and clear task instances."""


@tasks.command("list")
@click.argument("dag_id")
@click.option("-t", "--tree", is_flag=True, help="Show the tasks as a dependency tree.")
@subdir_option
@output_option
def list_tasks(dag_id: str, tree: bool, subdir: str | None, output: str) -> None:
    """List a DAG's tasks, in dependency order."""
    dag = load_dag(dag_id, subdir)
    if tree and output != "json":
        from miniflow.cli.render import tree_lines

        click.echo("\n".join(tree_lines(dag)))
        return
    rows = [
        {
            "task_id": t.task_id,
            "operator": type(t).__name__,
            "trigger_rule": str(t.trigger_rule),
            "upstream": sorted(t.upstream_task_ids),
            "downstream": sorted(t.downstream_task_ids),
        }
        for t in dag.topological_sort()
    ]
    if output == "plain":
        for r in rows:
            click.echo(r["task_id"])
        return
    emit(rows, output)
