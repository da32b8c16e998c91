"""Connecting to the metadata DB; every SQLite/PostgreSQL difference lives here, but for
the two places SQLAlchemy hands the dialect to our code: the UTC column type
(`miniflow.db.models.UtcDateTime`) and one migration that rebuilds a table on SQLite.

SQLite (the embedded default) runs in WAL mode with a busy timeout, so readers never
block the writer. pysqlite's own transaction handling is turned off and miniflow
issues ``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that reads
and then writes can fail at once with "database is locked" when another writer got in
between, and no busy timeout helps with that. PostgreSQL gets a connection pool with
pre-ping, and row locks with ``FOR UPDATE SKIP LOCKED`` where several schedulers race.

The statements a task's try and a scheduler pass run many times a second go through
`run_built`: on SQLite, SQLAlchemy's work around each execution (an execution context,
events, a result object) costs several times what SQLite takes for a keyed read or
write, so a statement built once is compiled once and run on the driver's cursor.

The scheduler reads only the task instances changed since its last read (their
``updated_at``, stamped as each write runs). SQLite serializes writers and a write
transaction stamps its rows after taking the lock, so stamps follow commit order and
"changed at or after the latest stamp I saw" misses nothing. PostgreSQL writers
overlap, so a stamp can commit after a later one; there each read reaches back
`change_margin` further, longer than any of miniflow's write transactions.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Executable, Select, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import TupleType

__all__ = ["make_engine", "database_file_missing", "is_sqlite", "one_scheduler_only", "keeps_connections",
           "supports_skip_locked",
           "skip_locked", "serialize_transactions", "change_margin", "run_built", "Rows", "WRITE"]

WRITE = "miniflow_write"  # execution option: this transaction will write


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def one_scheduler_only(engine: Engine) -> bool:
    """SQLite has one writer at a time and no row locks: a second scheduler would only
    wait on the first, so it is refused."""
    return is_sqlite(engine)


def keeps_connections(engine: Engine) -> bool:
    """Whether each thread keeps one connection between its transactions (see
    `miniflow.db.store.Store`). On SQLite a pool checkout costs about as much as a short
    transaction, and a file has no server whose restart a kept connection would miss;
    PostgreSQL's connections are checked out per transaction, so that the pool's
    pre-ping notices a restart before the transaction starts."""
    return is_sqlite(engine)


def supports_skip_locked(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def skip_locked(query: Select[Any], supported: bool, of: Any = None) -> Select[Any]:
    """`query` locking the rows it reads and passing over rows another transaction holds
    (``FOR UPDATE SKIP LOCKED``), where `supported`; SQLite runs one scheduler."""
    return query.with_for_update(skip_locked=True, of=of) if supported else query


def serialize_transactions(conn: Connection, key: int) -> None:
    """Let one transaction at a time past this point (a PostgreSQL advisory lock, which
    its commit releases); SQLite serializes every write transaction already."""
    if not is_sqlite(conn.engine):
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def change_margin(engine: Engine) -> dt.timedelta:
    """How far before the latest change seen the next read of changes starts (see above)."""
    return dt.timedelta(0) if is_sqlite(engine) else dt.timedelta(seconds=5)


def _private_file(path: Path) -> None:
    """The SQLite file (and a folder made for it) readable by its owner only: it holds
    the users' password hashes and the connections (0600 in a 0700 folder)."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def database_file_missing(url: str) -> bool:
    """A SQLite URL whose file is not there yet (opening it would create it)."""
    parsed = make_url(url)
    path = parsed.database or ""
    return (parsed.get_backend_name() == "sqlite" and path not in ("", ":memory:") and not path.startswith("file:")
            and not Path(path).expanduser().exists())


def make_engine(url: str, sqlite_busy_timeout: float = 30.0) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10, future=True)
    if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
        _private_file(Path(parsed.database).expanduser())
    engine = create_engine(
        url,
        connect_args={"timeout": sqlite_busy_timeout, "check_same_thread": False},
        # One connection per checkout: cheap for SQLite, and safe across fork().
        poolclass=NullPool if os.environ.get("MINIFLOW_SQLITE_NULLPOOL") else None,
    )
    busy_ms = int(sqlite_busy_timeout * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        statement = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN"
        # On the driver's connection: SQLAlchemy's statement machinery (events, a result
        # object) costs more than the statement itself, and every transaction pays it.
        try:
            conn.connection.driver_connection.execute(statement)
        except sqlite3.Error as exc:  # raised as SQLAlchemy raises the driver's errors
            raise DBAPIError.instance(statement, (), exc, sqlite3.Error, dialect=conn.dialect) from exc

    return engine


class Rows(Protocol):
    """What `run_built` returns: the part of SQLAlchemy's result its callers use."""

    @property
    def rowcount(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...
    def first(self) -> Any: ...
    def all(self) -> Sequence[Any]: ...
    def scalar(self) -> Any: ...


class _Fetched:
    """The rows of a statement run on SQLite's cursor, all fetched, each a tuple."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.rows)

    def first(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def all(self) -> list[tuple[Any, ...]]:
        return self.rows

    def scalar(self) -> Any:
        return self.rows[0][0] if self.rows else None


class _Unsupported(Exception):
    """A statement `run_built` leaves to SQLAlchemy: one with a value SQLAlchemy itself
    makes at each execution (rendered into the SQL, or computed)."""


_REQUIRED = object()  # a parameter the caller must give
_EXPANDED_KEPT = 64  # SQL texts kept per statement, one per set of list lengths


class _Compiled:
    """A statement compiled for SQLite once: where each parameter comes from (the
    caller, the statement, or a column default run at execution, ``updated_at``) and how
    its value is converted; an expanding list (``IN``) as one value per element, the SQL
    text for each set of list lengths from SQLAlchemy; how each result column is read."""

    __slots__ = ("sql", "compiled", "defaults", "binds", "expanded", "results")

    def __init__(self, statement: Executable, dialect: Any) -> None:
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler) and compiled.positional
        if compiled.literal_execute_params:
            raise _Unsupported("a value rendered into the SQL")
        self.sql = compiled.string
        self.compiled = compiled
        self.defaults = [(column.key, default) for column in compiled.update_prefetch
                         if isinstance(default := column.onupdate, ColumnDefault)] + \
            [(column.key, default) for column in compiled.insert_prefetch
             if isinstance(default := column.default, ColumnDefault)]
        self.binds: list[tuple[str, Any, Any, bool]] = []  # name, default, converter(s), whether a list
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.callable is not None:
                raise _Unsupported("a value computed at execution")
            expanding = bind in compiled.post_compile_params
            if expanding and isinstance(bind.type, TupleType):  # IN of tuples: a converter per position
                convert: Any = [t.dialect_impl(dialect).bind_processor(dialect) for t in bind.type.types]
            else:
                convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            self.binds.append((name, _REQUIRED if bind.required else bind.value, convert, expanding))
        self.expanded: dict[tuple[int, ...], str] | None = {} if compiled.post_compile_params else None
        columns = getattr(statement, "exported_columns", ())  # what a SELECT or a RETURNING gives
        self.results = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns]

    def run(self, driver: sqlite3.Connection, dialect: Any, params: Mapping[str, Any]) -> _Fetched:
        if self.defaults:
            params = {**{key: default.arg(None) if default.is_callable else default.arg
                         for key, default in self.defaults}, **params}
        try:
            args, lengths = self._args(params)
            sql = self.sql if self.expanded is None else self._expanded_sql(params, lengths, len(args))
        except Exception as exc:  # a bad value: raised as SQLAlchemy raises it
            raise StatementError(str(exc), self.sql, params, exc) from exc
        try:
            cursor = driver.execute(sql, args)
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, args, exc, sqlite3.Error, dialect=dialect) from exc
        results = self.results
        if rows and any(results):
            rows = [tuple(value if process is None else process(value) for process, value in zip(results, row))
                    for row in rows]
        return _Fetched(rows, cursor.rowcount)

    def _args(self, params: Mapping[str, Any]) -> tuple[list[Any], list[int]]:
        """The values in the order of the SQL's placeholders, converted; and the length
        of each list, in the same order."""
        args: list[Any] = []
        lengths: list[int] = []
        for name, default, convert, expanding in self.binds:
            value = params[name] if name in params else default
            if value is _REQUIRED:
                raise KeyError(f"a value is required for the parameter {name!r}")
            if not expanding:
                args.append(value if convert is None else convert(value))
                continue
            lengths.append(len(value))
            if isinstance(convert, list):
                args += [v if c is None else c(v) for row in value for c, v in zip(convert, row, strict=True)]
            else:
                args += value if convert is None else map(convert, value)
        return args, lengths

    def _expanded_sql(self, params: Mapping[str, Any], lengths: list[int], count: int) -> str:
        assert self.expanded is not None
        key = tuple(lengths)
        sql = self.expanded.get(key)
        if sql is None:  # SQLAlchemy renders the lists' placeholders (an empty one as an empty set)
            state = self.compiled.construct_expanded_state(dict(params))
            assert len(state.positiontup or ()) == count, "the values are in the order of the placeholders"
            sql = state.statement
            if len(self.expanded) < _EXPANDED_KEPT:
                self.expanded[key] = sql
        return sql


_COMPILED: dict[int, tuple[Executable, _Compiled | None]] = {}  # None: left to SQLAlchemy
_KEPT_AT_MOST = 1000  # statements: past this, a caller builds them anew each time, and they are not kept


def run_built(conn: Connection, statement: Executable, params: Mapping[str, Any] | None = None) -> Rows:
    """`conn.execute(statement, params)`, for a `statement` built once (a module's
    constant, or one ``functools.cache`` keeps). On SQLite it is compiled the first
    time, for every SQLite engine alike (`make_engine` sets them up the same), kept with
    the statement for the life of the process, and run on the driver's cursor within
    `conn`'s transaction, all its rows fetched as tuples. Compiled once, an INSERT or
    UPDATE must name its values: it does not take its columns from each call's
    parameters, as `conn.execute` does."""
    if not is_sqlite(conn.engine):
        return conn.execute(statement, params)
    kept = _COMPILED.get(id(statement))  # an id is never reused while its statement is kept here
    if kept is None:
        if len(_COMPILED) >= _KEPT_AT_MOST:
            return conn.execute(statement, params)
        try:
            compiled: _Compiled | None = _Compiled(statement, conn.dialect)
        except _Unsupported:
            compiled = None
        kept = _COMPILED[id(statement)] = (statement, compiled)
    if kept[1] is None:
        return conn.execute(statement, params)
    driver = conn.connection.driver_connection
    assert driver is not None, "a connection in a transaction has its driver's"
    return kept[1].run(driver, conn.dialect, params or {})
