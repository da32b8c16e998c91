"""Pieces the CLI commands share: the DAG folder option, DAG lookup, date parsing."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from miniflow.dag import DAG
    from miniflow.dagbag import DagBag

__all__ = ["subdir_option", "load_dagbag", "load_dag", "freeze_loaded", "parse_datetime", "get_store", "find_run",
           "parse_conf", "key_argument"]


def subdir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "-S", "--subdir", type=click.Path(exists=True), default=None,
        help="DAG folder or file to load instead of core.dags_folder.",
    )(func)


def load_dagbag(subdir: str | None = None, summaries_only: bool = False) -> DagBag:
    """The DAG folder (or `subdir`), with a dag_id defined twice kept by the file the
    metadata DB has it from, as the scheduler does (see `DagBag`)."""
    from sqlalchemy.exc import SQLAlchemyError

    from miniflow.config import get_config
    from miniflow.dagbag import DagBag
    from miniflow.db.engine import database_file_missing
    from miniflow.db.store import get_store as store
    from miniflow.exceptions import DatabaseNotReadyError

    registered: dict[str, str] = {}
    if not database_file_missing(get_config().get("database", "sql_alchemy_conn")):
        with contextlib.suppress(DatabaseNotReadyError, SQLAlchemyError):  # no DB yet: nothing registered
            registered = store().dag_files()
    return DagBag(subdir, registered=registered, summaries_only=summaries_only)


def load_dag(dag_id: str, subdir: str | None = None) -> DAG:
    return load_dagbag(subdir).get_dag(dag_id)


def freeze_loaded() -> None:
    """For a command about to run a DAG in its process (``dags test``, ``backfill``):
    what the process has loaded so far (modules, the DAG folder's DAGs) lives until the
    command ends, so it is moved out of the garbage collector's sight (`gc.freeze`), and
    each collection while the run goes on walks only what the run made (5-8% of a
    200-task ``dags test``). Only in a process of its own (`miniflow.cli.main`), not
    when a test invokes the command in the test's process."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("own_process"):
        gc.freeze()


def parse_datetime(value: str, name: str = "date") -> dt.datetime:
    """An ISO 8601 date or datetime; naive values are UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date (e.g. 2024-03-05 or 2024-03-05T02:00:00+00:00)",
                                 param_hint=name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def get_store():
    """The metadata store, checked to be migrated (else a one-line error with the fix)."""
    from miniflow.db.store import get_store as store

    return store()


def find_run(store, dag_id: str, run_id_or_date: str):
    """A run by its id, or by its logical date (Airflow 1.x commands take dates)."""
    run = store.get_run(dag_id, run_id_or_date)
    if run is None:
        try:
            when = parse_datetime(run_id_or_date)
        except click.BadParameter:
            when = None
        if when is not None:
            run = store.find_run(dag_id, when)
    if run is None:
        raise click.ClickException(f"DAG {dag_id!r} has no run {run_id_or_date!r}; see 'miniflow dags list-runs {dag_id}'")
    return run


def key_argument(kind: str) -> Callable[[click.Context, click.Parameter, str], str]:
    """A click callback checking an id as dag_ids are checked (`validate_key`)."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        from miniflow.dag import validate_key
        from miniflow.exceptions import InvalidIdError

        try:
            return validate_key(kind, value)
        except InvalidIdError as exc:
            raise click.BadParameter(str(exc)) from None

    return check


def parse_conf(conf: str | None) -> dict[str, Any]:
    """Run configuration from --conf: a JSON object."""
    import json

    if not conf:
        return {}
    try:
        value = json.loads(conf)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--conf") from None
    except RecursionError:
        raise click.BadParameter("nested too deeply", param_hint="--conf") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, like '{\"key\": 1}'", param_hint="--conf")
    return value
