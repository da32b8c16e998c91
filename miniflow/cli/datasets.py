"""``miniflow datasets ...``: the datasets DAGs produce and consume, their events, and
recording an update from outside (see `miniflow.datasets`)."""

from __future__ import annotations

import json

import click

from miniflow.cli.common import get_store
from miniflow.cli.output import emit, output_option

__all__ = ["datasets"]


@click.group()
def datasets() -> None:
    """List datasets and their events; record an update."""


@datasets.command("list")
@output_option
def list_datasets(output: str) -> None:
    """Every dataset with the DAGs that produce and consume it."""
    rows = [{"uri": d["uri"], "producers": ", ".join(d["producers"]), "consumers": ", ".join(d["consumers"]),
             "last_update": d["last_update"]} for d in get_store().datasets(limit=10_000)]
    emit(rows, output, ["uri", "producers", "consumers", "last_update"])


@datasets.command("events")
@click.option("--uri", default=None, help="Only this dataset's events.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@output_option
def list_events(uri: str | None, limit: int, output: str) -> None:
    """Recorded updates, oldest first."""
    rows = [{"id": e.id, "uri": e.uri, "extra": json.dumps(e.extra or {}), "timestamp": e.timestamp,
             "source": f"{e.source_dag_id}.{e.source_task_id} {e.source_run_id}" if e.source_dag_id else "external"}
            for e in get_store().dataset_events(uri=uri, limit=limit)]
    emit(rows, output, ["id", "uri", "extra", "timestamp", "source"])


@datasets.command("event")
@click.argument("uri")
@click.option("--extra", default="{}", help="A JSON object stored with the event.")
def record_event(uri: str, extra: str) -> None:
    """Record an update of URI, as if a task had made it: its consumers run."""
    from miniflow.datasets import Dataset
    from miniflow.exceptions import DagDefinitionError

    try:
        value = json.loads(extra)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--extra") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--extra")
    try:
        uri = Dataset(uri).uri
    except DagDefinitionError as exc:
        raise click.BadParameter(str(exc), param_hint="URI") from None
    store = get_store()
    event_id = store.record_external_dataset_event(uri, value)
    store.log_event("dataset_event", owner="cli", extra=uri)
    click.echo(f"Recorded event {event_id} for {uri}")
