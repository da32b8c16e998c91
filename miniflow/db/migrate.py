"""Schema migrations (Alembic, shipped in the package) and the readiness check.

Commands other than ``db migrate`` call `check_ready`, a single cheap query of
``alembic_version``, and stop with one line telling the fix when the DB is behind.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from miniflow.exceptions import DatabaseNotReadyError

__all__ = ["HEAD_REVISION", "migrate", "current_revision", "check_ready", "reset"]

MIGRATIONS = Path(__file__).parent / "migrations"
# Revision ids are the four digits that start each file name in versions/, so the head
# is known without loading Alembic (commands check it on every start).
HEAD_REVISION = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _alembic_config(connection: object) -> object:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision`; safe to run again, and beside running daemons."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)  # type: ignore[arg-type]
    _add_default_connections(engine)


def _add_default_connections(engine: Engine) -> None:
    from miniflow.config import get_config
    from miniflow.connections import default_connections
    from miniflow.db.store import Store

    config = get_config()
    if not config.get("database", "load_default_connections"):
        return
    store = Store(engine)
    for connection in default_connections(config.home):
        store.set_connection(connection, overwrite=False)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_ready(engine: Engine) -> None:
    revision = current_revision(engine)
    if revision == HEAD_REVISION:
        return
    url = engine.url.render_as_string(hide_password=True)
    if revision is None:
        raise DatabaseNotReadyError(
            f"the metadata DB at {url} is not initialised; run 'miniflow db migrate'"
        )
    raise DatabaseNotReadyError(
        f"the metadata DB at {url} is at schema revision {revision}, this miniflow needs "
        f"{HEAD_REVISION}; run 'miniflow db migrate'"
    )


def reset(engine: Engine) -> None:
    """Drop every miniflow table, then migrate from scratch."""
    from miniflow.db.models import metadata

    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    migrate(engine)
