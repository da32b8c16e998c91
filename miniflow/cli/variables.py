"""``miniflow variables ...``: key/value settings that DAGs read with Variable.get."""

from __future__ import annotations

import click

from miniflow.cli.common import get_store, key_argument
from miniflow.cli.output import emit, output_option

__all__ = ["variables"]


@click.group()
def variables() -> None:
    """Manage variables."""


@variables.command("set")
@click.argument("key", callback=key_argument("variable key"))
@click.argument("value")
@click.option("--description", default=None)
def set_variable(key: str, value: str, description: str | None) -> None:
    get_store().set_variable(key, value, description)
    click.echo(f"Variable {key} set")


@variables.command("get")
@click.argument("key")
def get_variable(key: str) -> None:
    value = get_store().get_variable(key)
    if value is None:
        raise click.ClickException(f"no variable named {key!r}")
    click.echo(value)


@variables.command("list")
@output_option
def list_variables(output: str) -> None:
    emit([{"key": r.key, "description": r.description} for r in get_store().variables()], output,
         ["key", "description"])


@variables.command("delete")
@click.argument("key")
def delete_variable(key: str) -> None:
    if not get_store().delete_variable(key):
        raise click.ClickException(f"no variable named {key!r}")
    click.echo(f"Variable {key} deleted")
