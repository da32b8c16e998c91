"""``miniflow connections ...``: connections in the metadata DB, in Airflow 2's CLI shape
(see `miniflow.connections`); passwords are shown as ``***``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from miniflow.cli.common import get_store
from miniflow.cli.output import emit, output_option

__all__ = ["connections"]

_FIELDS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")


@click.group()
def connections() -> None:
    """Manage connections (where external systems are and how to log in)."""


def _shown(conn: Any) -> dict[str, Any]:
    data = conn.to_dict()
    if data["password"]:
        data["password"] = "***"
    return data


@connections.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", default=None, help="The whole connection as a URI (postgresql://user:pw@host/db).")
@click.option("--conn-json", default=None, help="The whole connection as a JSON object.")
@click.option("--conn-type", default=None)
@click.option("--conn-description", default=None)
@click.option("--conn-host", default=None)
@click.option("--conn-login", default=None)
@click.option("--conn-password", default=None)
@click.option("--conn-schema", default=None)
@click.option("--conn-port", type=int, default=None)
@click.option("--conn-extra", default=None, help="A JSON object of extra settings.")
def add(conn_id: str, conn_uri: str | None, conn_json: str | None, **fields: Any) -> None:
    """Add a connection (its password and extra are stored encrypted)."""
    from miniflow.connections import Connection

    given = {k.removeprefix("conn_"): v for k, v in fields.items() if v is not None}
    if sum(x is not None for x in (conn_uri, conn_json)) + bool(given) > 1 and (conn_uri or conn_json):
        raise click.UsageError("give --conn-uri, --conn-json or the --conn-* fields, not several")
    try:
        if conn_uri:
            conn = Connection(conn_id=conn_id, uri=conn_uri, description=given.get("description"))
        elif conn_json:
            conn = Connection.from_json(conn_id, conn_json)
        else:
            if not given.get("type"):
                raise click.UsageError("give --conn-type (or --conn-uri / --conn-json)")
            if "extra" in given:
                json.loads(given["extra"])
            conn = Connection(conn_id=conn_id, conn_type=given.pop("type"), **given)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="the connection") from None
    if not get_store().set_connection(conn):
        raise click.ClickException(f"A connection with conn_id `{conn_id}` already exists")
    get_store().log_event("connection.add", owner="cli", extra=conn_id)
    click.echo(f"Successfully added `conn_id`={conn_id} : {conn.conn_type}://{conn.host or ''}")


@connections.command("get")
@click.argument("conn_id")
@output_option
def get(conn_id: str, output: str) -> None:
    """Show one connection (the password as ***)."""
    conn = get_store().get_connection(conn_id)
    if conn is None:
        raise click.ClickException(f"Connection not found: {conn_id!r}")
    emit([_shown(conn)], output, ["conn_id", *_FIELDS])


@connections.command("list")
@output_option
def list_connections(output: str) -> None:
    """Every stored connection (passwords as ***)."""
    emit([_shown(c) for c in get_store().connections()], output, ["conn_id", "conn_type", "host", "port", "schema",
                                                                   "login", "password"])


@connections.command("delete")
@click.argument("conn_id")
def delete(conn_id: str) -> None:
    if not get_store().delete_connection(conn_id):
        raise click.ClickException(f"Did not find a connection with `conn_id`={conn_id}")
    get_store().log_event("connection.delete", owner="cli", extra=conn_id)
    click.echo(f"Successfully deleted connection with `conn_id`={conn_id}")


@connections.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export(file: Path) -> None:
    """Write every connection, secrets included, to a JSON file (mode 0600)."""
    data = {c.conn_id: {k: v for k, v in c.to_dict().items() if k != "conn_id"} for c in get_store().connections()}
    file.touch(mode=0o600, exist_ok=True)
    file.write_text(json.dumps(data, indent=2))
    click.echo(f"Connections successfully exported to {file}.")


@connections.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace connections that exist.")
def import_(file: Path, overwrite: bool) -> None:
    """Add the connections of a JSON file written by export (or in that shape)."""
    from miniflow.connections import Connection

    try:
        data = json.loads(file.read_text())
        if not isinstance(data, dict):
            raise ValueError("the file must hold a JSON object of connections by id")
        conns = [Connection.from_json(conn_id, json.dumps(fields)) for conn_id, fields in data.items()]
    except (ValueError, TypeError) as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    for conn in conns:
        if get_store().set_connection(conn, overwrite=overwrite):
            click.echo(f"Imported connection {conn.conn_id}")
        else:
            click.echo(f"Could not import connection {conn.conn_id}: connection already exists.")


@connections.command("test")
@click.argument("conn_id")
def test(conn_id: str) -> None:
    """Try the connection: a SQL database runs SELECT 1, an HTTP service gets its base URL."""
    from miniflow.connections import test_connection

    ok, message = test_connection(conn_id)
    click.echo(f"Connection {'success' if ok else 'failed'}! {message}")
    if not ok:
        raise SystemExit(1)


@connections.command("rotate-fernet-key")
def rotate_fernet_key() -> None:
    """Re-encrypt every stored secret with the first key of core.fernet_key."""
    count = get_store().rotate_connection_secrets()
    click.echo(f"Re-encrypted the secrets of {count} connection(s)")
