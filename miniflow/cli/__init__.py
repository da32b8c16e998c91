"""The ``miniflow`` command line, in Airflow 2's shape (``dags``, ``tasks``, ``db``...).

Subcommands are imported only when run, so ``miniflow --help`` stays fast. Errors are
one line on stderr (the traceback only with ``--verbose``) and a non-zero exit code:
1 for an error or a failed run, 2 for a usage error.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import os
import sys
import threading
from typing import Any, NoReturn

import click

__all__ = ["main", "script", "cli"]

# name -> (module:attribute, one-line help). Airflow 1.x names are aliases at the end.
COMMANDS: dict[str, tuple[str, str]] = {
    "dags": ("miniflow.cli.dags:dags", "Inspect, test, trigger and pause DAGs."),
    "tasks": ("miniflow.cli.tasks:tasks", "Inspect, test, run and clear task instances."),
    "db": ("miniflow.cli.db:db", "Create, upgrade, reset and check the metadata DB."),
    "config": ("miniflow.cli.config:config", "Show configuration values and their sources."),
    "pools": ("miniflow.cli.pools:pools", "Manage pools (slots shared by tasks)."),
    "variables": ("miniflow.cli.variables:variables", "Manage variables."),
    "users": ("miniflow.cli.users:users", "Manage web users."),
    "connections": ("miniflow.cli.connections:connections", "Manage connections to external systems."),
    "datasets": ("miniflow.cli.datasets:datasets", "List datasets and their events; record an update."),
    "scheduler": ("miniflow.cli.daemons:scheduler", "Run the scheduler."),
    "webserver": ("miniflow.cli.daemons:webserver", "Run the web UI and REST API."),
    "standalone": ("miniflow.cli.daemons:standalone", "Run everything for local use."),
    "celery": ("miniflow.cli.celery:celery", "Run Celery workers."),
    "trigger": ("miniflow.cli.dags:trigger", "Trigger a DAG run."),
    "backfill": ("miniflow.cli.dags:backfill", "Run a DAG over a range of dates."),
    "version": ("miniflow.cli:version", "Show the version."),
    # Airflow 1.x names
    "initdb": ("miniflow.cli.db:migrate", "Alias of 'db migrate'."),
    "list_dags": ("miniflow.cli.dags:list_dags", "Alias of 'dags list'."),
    "trigger_dag": ("miniflow.cli.dags:trigger", "Alias of 'trigger'."),
    "list_tasks": ("miniflow.cli.tasks:list_tasks", "Alias of 'tasks list'."),
    "show_dag": ("miniflow.cli.dags:show", "Alias of 'dags show'."),
    "pause": ("miniflow.cli.dags:pause", "Alias of 'dags pause'."),
    "unpause": ("miniflow.cli.dags:unpause", "Alias of 'dags unpause'."),
    "test": ("miniflow.cli.tasks:test", "Alias of 'tasks test'."),
    "run": ("miniflow.cli.tasks:run", "Alias of 'tasks run'."),
    "clear": ("miniflow.cli.tasks:clear", "Alias of 'tasks clear'."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.lazy:
            return None
        module, attr = self.lazy[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in self.lazy.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks and debug logs.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """miniflow: a small, fast, Airflow-compatible workflow scheduler."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


@click.command()
def version() -> None:
    """Show the version."""
    from miniflow.version import __version__

    click.echo(__version__)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``miniflow`` script."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "-v" in args or "--verbose" in args
    try:
        cli.main(args=args, prog_name="miniflow", standalone_mode=False, obj={"own_process": True})
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        if verbose:
            raise
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if verbose:
            raise
        message = str(exc) or type(exc).__name__
        click.echo(f"Error: {message}", err=True)
        sys.exit(1)


def script() -> NoReturn:
    """The ``miniflow`` command: `main`, then `leave`."""
    try:
        main()
    except SystemExit as exc:
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        leave(exc.code or 0)
    leave(0)


def leave(code: int) -> NoReturn:
    """End the process without tearing the interpreter down: once SQLAlchemy is loaded,
    freeing every module's objects one by one takes about 50 ms, a sixth of a short
    command. What an exit must do is still done: the database connections are closed
    rather than dropped, the atexit handlers run (logging flushes its files there,
    multiprocessing stops its children), and the standard streams are flushed. While
    a thread that is not a daemon runs, the normal exit is taken, which waits for it."""
    if any(not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    store = sys.modules.get("miniflow.db.store")  # loaded only by a command that used the database
    if store is not None:
        store.close_store()
    atexit._run_exitfuncs()
    with contextlib.suppress(OSError):  # a closed pipe (``| head``): the output has nowhere to go
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
