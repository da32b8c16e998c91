"""``miniflow db ...``: create, upgrade, reset and check the metadata DB."""

from __future__ import annotations

import click

__all__ = ["db", "migrate"]


def _engine():
    from miniflow.config import get_config
    from miniflow.db.engine import make_engine

    config = get_config()
    return make_engine(config.get("database", "sql_alchemy_conn"), config.get("database", "sqlite_busy_timeout"))


@click.group()
def db() -> None:
    """Create, upgrade, reset and check the metadata DB."""


@db.command("migrate")
def migrate() -> None:
    """Create the metadata DB, or upgrade it to this version's schema."""
    from miniflow.db.migrate import HEAD_REVISION
    from miniflow.db.migrate import migrate as run_migrations

    engine = _engine()
    run_migrations(engine)
    click.echo(f"Database {engine.url.render_as_string(hide_password=True)} is at revision {HEAD_REVISION}.")


db.add_command(migrate, "init")


@db.command("reset")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool) -> None:
    """Drop everything in the metadata DB and create it anew."""
    from miniflow.db.migrate import reset as reset_db

    engine = _engine()
    url = engine.url.render_as_string(hide_password=True)
    if not yes:
        click.confirm(f"This drops all data in {url}. Continue?", abort=True)
    reset_db(engine)
    click.echo(f"Database {url} was reset.")


@db.command("check")
def check() -> None:
    """Exit 0 if the metadata DB is reachable and migrated, else say why and exit 1."""
    from miniflow.db.migrate import check_ready

    engine = _engine()
    check_ready(engine)
    click.echo(f"Database {engine.url.render_as_string(hide_password=True)} is ready.")
