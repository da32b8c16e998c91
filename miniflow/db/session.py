"""SQLAlchemy ORM sessions on the metadata DB, for task code written for Airflow
(``airflow.settings.Session``, ``airflow.utils.session.provide_session``).

miniflow itself never uses them: its store speaks SQLAlchemy Core. A session reaches
miniflow's tables with ``session.execute(text(...))``; miniflow's ``TaskInstance``,
``DagRun`` and ``Connection`` are not ORM classes, so ``session.query(TaskInstance)``
fails when the task runs, with an error that says so (docs/airflow-comparison.md).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import inspect as inspect_model
from sqlalchemy import orm

from miniflow.db.engine import WRITE

__all__ = ["Session", "create_session", "provide_session", "NEW_SESSION"]

F = TypeVar("F", bound=Callable[..., Any])


class _MetadataSession(orm.Session):
    """A session on the configured store's database, looked up at each transaction: a
    session kept across a change of configuration (tests) follows it."""

    def get_bind(self, *args: Any, **kwargs: Any) -> Any:
        from miniflow.db.store import get_store

        # BEGIN IMMEDIATE on SQLite: task code that opens a session usually writes.
        return get_store().engine.execution_options(**{WRITE: True})

    def query(self, *entities: Any, **kwargs: Any) -> Any:
        for entity in entities:
            if isinstance(entity, type) and inspect_model(entity, raiseerr=False) is None:
                raise TypeError(f"session.query({entity.__name__}): {entity.__module__}.{entity.__name__} is not "
                                "an ORM model (miniflow has none of Airflow's); read the metadata DB's tables "
                                "with session.execute(text(...))")
        return super().query(*entities, **kwargs)


# One session per thread, as Airflow's ``settings.Session`` is.
Session = orm.scoped_session(orm.sessionmaker(class_=_MetadataSession))

# The default of a ``session`` parameter that `provide_session` fills in.
NEW_SESSION: orm.Session = cast(orm.Session, None)


@contextmanager
def create_session() -> Iterator[orm.Session]:
    """A session committed when the block ends, rolled back if it raises, then closed."""
    session = Session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def provide_session(func: F) -> F:
    """Call `func` with a fresh `create_session` session unless the caller passed one."""
    parameters = list(inspect.signature(func).parameters)
    if "session" not in parameters:
        raise TypeError(f"@provide_session: {func.__qualname__} has no 'session' parameter to fill in")
    position = parameters.index("session")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "session" in kwargs or len(args) > position:
            return func(*args, **kwargs)
        with create_session() as session:
            return func(*args, session=session, **kwargs)

    return cast(F, wrapper)
