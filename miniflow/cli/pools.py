"""``miniflow pools ...``: named sets of slots that limit how many tasks run at once."""

from __future__ import annotations

import click

from miniflow.cli.common import get_store, key_argument
from miniflow.cli.output import emit, output_option

__all__ = ["pools"]


@click.group()
def pools() -> None:
    """Manage pools (slots shared by tasks that name the pool)."""


@pools.command("set")
@click.argument("name", callback=key_argument("pool name"))
@click.argument("slots", type=click.IntRange(min=0))
@click.argument("description", required=False)
def set_pool(name: str, slots: int, description: str | None) -> None:
    """Create or resize a pool."""
    get_store().set_pool(name, slots, description)
    click.echo(f"Pool {name}: {slots} slots")


@pools.command("list")
@output_option
def list_pools(output: str) -> None:
    """List the pools (default_pool has core.default_pool_slots unless set here)."""
    from miniflow.config import get_config

    found = {name: {"pool": name, "slots": r.slots, "description": r.description}
             for name, r in get_store().pools().items()}
    found.setdefault("default_pool", {"pool": "default_pool", "description": "Default pool",
                                      "slots": get_config().get("core", "default_pool_slots")})
    emit(sorted(found.values(), key=lambda r: r["pool"]), output, ["pool", "slots", "description"])


@pools.command("delete")
@click.argument("name")
def delete_pool(name: str) -> None:
    """Delete a pool; its tasks wait until it exists again."""
    if not get_store().delete_pool(name):
        raise click.ClickException(f"no pool named {name!r}")
    click.echo(f"Pool {name} deleted")
