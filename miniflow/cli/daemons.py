"""``miniflow scheduler``, ``webserver`` and ``standalone``: the long-running processes."""

from __future__ import annotations

import logging

import click

from miniflow.cli.common import get_store, subdir_option

__all__ = ["scheduler"]


def _setup_logging() -> None:
    from miniflow.config import get_config

    logging.basicConfig(level=get_config().get("logging", "level"),
                        format="[%(asctime)s] %(levelname)s %(name)s - %(message)s")


@click.command()
@subdir_option
@click.option("-n", "--num-runs", default=-1, type=int, help="Stop after this many loop passes (-1: never).")
@click.option("-p", "--parallelism", default=None, type=click.IntRange(min=1),
              help="Most tries running at once (default: core.parallelism).")
@click.option("--executor", "executor_name", default=None,
              type=click.Choice(["sequential", "local", "celery"]), help="Default: core.executor.")
def scheduler(subdir: str | None, num_runs: int, parallelism: int | None, executor_name: str | None) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C."""
    from miniflow.config import get_config
    from miniflow.executors import get_executor
    from miniflow.scheduler import Scheduler

    _setup_logging()
    config = get_config()
    store = get_store()
    executor = get_executor(executor_name or config.get("core", "executor"),
                            parallelism or config.get("core", "parallelism"))
    Scheduler(store, executor, dag_folder=subdir, num_runs=num_runs).run()
