"""``miniflow celery worker``: run tries sent by a scheduler using the Celery executor."""

from __future__ import annotations

import click

__all__ = ["celery"]


@click.group()
def celery() -> None:
    """Run Celery workers (install with the `celery` extra)."""


@celery.command("worker")
@click.option("-q", "--queues", default=None, help="Comma-separated queues to consume (default: celery.default_queue).")
@click.option("-c", "--concurrency", default=None, type=click.IntRange(min=1),
              help="Task processes (default: celery.worker_concurrency).")
@click.option("-n", "--hostname", default=None, help="Node name (default: miniflow-<pid>@<host>).")
def worker(queues: str | None, concurrency: int | None, hostname: str | None) -> None:
    """Start a Celery worker."""
    try:
        import celery as _celery  # noqa: F401
    except ImportError:
        raise click.ClickException("Celery is not installed; pip install 'miniflow[celery]'") from None
    from miniflow.cli.common import get_store
    from miniflow.db.store import reset_store
    from miniflow.executors.celery import run_worker

    get_store()  # fail early, in one line, if the metadata DB is not ready
    reset_store()  # and open no connection that the pool processes would inherit
    run_worker(queues, concurrency, hostname)
